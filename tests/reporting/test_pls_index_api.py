"""``scores?index=pls``: ACSI-style PLS-weighted indices on both backends, against an
independent computation: the weights from seminr's standardized outer weights of the telecom
default model (tests/data/pls_extra_seminr.json, "index") divided by the items' sds and
normalized by hand, each respondent's weighted score over the answered items straight from
``responses``, and the protected cells, pooling, rounding and statistics of
tests/reporting/reference.py. Tolerance 1e-6 on indices and CIs (the weights agree with
seminr's to 1e-12; the rounding grid amplifies nothing), relative 1e-6 on p-values."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from app.surveys import service as surveys
from app.surveys.models import Response, Survey
from tests.conftest import DATA_DIR
from tests.reporting import reference as ref

SEMINR = json.loads((DATA_DIR / "pls_extra_seminr.json").read_text())["index"][0]
TOL = 1e-6


def hand_weights() -> dict[str, dict[str, float]]:
    out = {}
    for c, row in SEMINR["weights"].items():
        raw = {i: w / SEMINR["sd"][i] for i, w in row.items()}
        total = sum(raw.values())
        out[c] = {i: v / total for i, v in raw.items()}
    return out


def people(session: Any, survey_id: int, weights: dict[str, dict[str, float]]) -> pd.DataFrame:
    survey = session.get(Survey, survey_id)
    codes = surveys.survey_spec(survey).answer_codes
    recs = []
    for r in session.scalars(select(Response).where(Response.survey_id == survey_id)).all():
        t = pd.Timestamp(r.submitted_at)
        t = t.tz_convert("UTC") if t.tzinfo is not None else t
        rec: dict[str, Any] = {"branch_id": r.branch_id, "month": f"{t.year:04d}-{t.month:02d}"}
        rec.update(r.attributes or {})
        answers = dict(zip(codes, r.answers, strict=True))
        for c, row in weights.items():
            num = den = 0.0
            for i, w in row.items():
                v = answers[i]
                if v is not None and v != "na":
                    num += w * (v - 1) / 6 * 100
                    den += w
            rec[c] = num / den if den > 0 else np.nan
        recs.append(rec)
    return pd.DataFrame(recs)


@pytest.mark.parametrize("by", ["branch", "customer_type"])
def test_pls_index_matches_independent_computation(
    client, telecom_survey, operator_headers, session, by
):
    r = client.get(f"/api/v1/surveys/telecom/scores?by={by}&index=pls", headers=operator_headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["index"] == "pls" and body["pls"]["nobs"] == 1500
    weights = hand_weights()
    for c, row in weights.items():
        for i, w in row.items():
            assert body["pls"]["weights"][c][i] == pytest.approx(w, abs=1e-10), (c, i)
        assert sum(body["pls"]["weights"][c].values()) == pytest.approx(1.0, abs=1e-12)
    frame = people(session, telecom_survey.id, weights)
    constructs = list(weights)
    dim = "all" if by == "branch" else by
    moments, counts = ref.protected(
        frame,
        dim=dim,
        k=5,
        key=ref.survey_key(session, telecom_survey.id),
        scores=constructs,
        scales={c: (0.0, 100.0) for c in constructs},
    )
    names = ref.branch_codes(session)
    column = "branch" if by == "branch" else "group"
    for f in (moments, counts):
        f["branch"] = f["branch_id"].map(names)
        f["group"] = f["group"].replace({"": "unspecified"})
    exp = ref.table(moments, column, constructs)
    got = {g["group"]: g for g in body["groups"]}
    shown = sorted(g for g in got if not got[g]["suppressed"])
    assert shown == sorted(exp)
    for g, per in exp.items():
        for c, e in per.items():
            cs = got[g]["constructs"][c]
            assert cs["n"] == e["n"]
            assert cs["index"] == pytest.approx(e["index"], abs=TOL)
            assert cs["ci"] == pytest.approx(e["ci"], abs=TOL)
            assert cs["vs_rest"]["p"] == pytest.approx(e["p"], rel=TOL, abs=1e-12)


def test_pls_index_is_the_weighted_item_mean_for_complete_answers(
    client, telecom_survey, operator_headers, session
):
    """ACSI's formula recomputed from the reported weights: with every item of PV answered,
    a respondent's score is sum w_i (x_i - 1) / 6 * 100, so the overall index of PV differs
    from sum w_i (mean_i - 1) / 6 * 100 only through respondents with a missing PV item."""
    body = client.get("/api/v1/surveys/telecom/scores?index=pls", headers=operator_headers).json()
    w = body["pls"]["weights"]["PV"]
    frame = people(session, telecom_survey.id, {"PV": w})
    assert body["overall"]["constructs"]["PV"]["index"] == pytest.approx(
        frame["PV"].mean(), abs=0.05
    )  # rounding grid of the protected cells, at most 0.05 index points here
    assert body["pls"]["scale"]["PV1"] == [1, 7]


def test_pls_index_csv_and_bad_values(client, telecom_survey, operator_headers):
    r = client.get("/api/v1/surveys/telecom/scores?index=pls&format=csv", headers=operator_headers)
    assert r.status_code == 200 and "pls-scores-by-branch" in r.headers["content-disposition"]
    r = client.get("/api/v1/surveys/telecom/scores?index=acsi", headers=operator_headers)
    assert r.status_code == 422 and "index" in r.text


def test_pls_ipma_for_the_outcome(client, telecom_survey, operator_headers, session):
    r = client.get("/api/v1/surveys/telecom/ipma", headers=operator_headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["target"] == "PV" and body["nobs"] == 1500  # the instrument's outcome
    # performance by hand: seminr's weights over the item means (mean replacement keeps them)
    frame = people(session, telecom_survey.id, {})
    survey = session.get(Survey, telecom_survey.id)
    codes = surveys.survey_spec(survey).answer_codes
    rows = session.scalars(select(Response).where(Response.survey_id == survey.id)).all()
    answers = pd.DataFrame(
        [[np.nan if v in (None, "na") else v for v in r.answers] for r in rows], columns=codes
    ).astype(float)
    assert len(frame) == len(answers)
    perf = {row["construct"]: row for row in body["constructs"]}
    for c, w in hand_weights().items():
        expected = sum(wi * (answers[i].mean() - 1) / 6 * 100 for i, wi in w.items())
        assert perf[c]["performance"] == pytest.approx(expected, abs=1e-8), c
    assert perf["PV"]["importance"] is None and perf["LOY"]["importance"] is None
    assert perf["REL"]["importance"] is not None
    bad = client.get("/api/v1/surveys/telecom/ipma?outcome=NOPE", headers=operator_headers)
    assert bad.status_code == 422 and "outcome" in bad.text
