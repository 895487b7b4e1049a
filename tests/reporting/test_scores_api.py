"""Scores API on both backends: every index, CI, p and suppression against an independent
computation of the protected values (tests/reporting/reference.py: cells, pooling and rounding
from the respondents in ``responses``, statistics with scipy.stats.ttest_ind_from_stats and Holm
written out). Tolerance 1e-6 absolute on indices/CIs, 1e-6 relative on p-values (sums are
formed in another order than the service's)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from app.instruments.registry import get_instrument
from tests.reporting import reference as ref

CONSTRUCTS = get_instrument("telecom-pv", version=1).construct_items
SCALES = {c: (1.0, 7.0) for c in CONSTRUCTS}
TOL = 1e-6


def expected(session, survey_id: int, by: str, k: int) -> tuple[dict, dict]:
    """Per shown group (and "*overall*": every cell of the table's dimension): construct ->
    expected numbers; and exact n per group."""
    people = ref.people_frame(session, survey_id, CONSTRUCTS)
    key = ref.survey_key(session, survey_id)
    dim = "all" if by == "branch" else by
    moments, counts = ref.protected(
        people, dim=dim, k=k, key=key, scores=list(CONSTRUCTS), scales=SCALES
    )
    names = ref.branch_codes(session)
    column = "branch" if by == "branch" else "group"
    for frame in (moments, counts):
        frame["branch"] = frame["branch_id"].map(names)
        frame["group"] = frame["group"].replace({"": "unspecified"})
    n = counts.groupby(column)["n"].sum().to_dict()
    out = ref.table(moments, column, list(CONSTRUCTS))
    out["*overall*"] = ref.table(moments.assign(all="*"), "all", list(CONSTRUCTS))["*"]
    return out, {str(g): int(v) for g, v in n.items()}


@pytest.mark.parametrize("by", ["branch", "customer_type", "tenure"])
def test_scores_match_independent_computation(
    client, telecom_survey, operator_headers, session, by
):
    r = client.get(f"/api/v1/surveys/telecom/scores?by={by}", headers=operator_headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["scale"] == "0-100"
    exp, counts = expected(session, telecom_survey.id, by, 5)
    got = {g["group"]: g for g in body["groups"]}
    assert sorted(got) == sorted(counts)
    overall = exp.pop("*overall*")
    assert sorted(g for g in got if not got[g]["suppressed"]) == sorted(exp)
    for g, per in exp.items():
        assert got[g]["suppressed"] is False
        assert got[g]["n"] == counts[g]
        for c, e in per.items():
            cs = got[g]["constructs"][c]
            assert cs["n"] == e["n"]
            assert cs["index"] == pytest.approx(e["index"], abs=TOL)
            assert cs["ci"] == pytest.approx(e["ci"], abs=TOL)
            assert cs["vs_rest"]["diff"] == pytest.approx(e["diff"], abs=TOL)
            assert cs["vs_rest"]["p"] == pytest.approx(e["p"], rel=TOL, abs=1e-12)
            assert cs["vs_rest"]["p_unadjusted"] == pytest.approx(
                e["p_unadjusted"], rel=TOL, abs=1e-12
            )
    # the overall row stands on the same protected cells (those of the table's dimension)
    for c in ("NQ", "LOY"):
        assert body["overall"]["constructs"][c]["index"] == pytest.approx(
            overall[c]["index"], abs=TOL
        )
        assert body["overall"]["constructs"][c]["n"] == overall[c]["n"]


def test_suppression_below_min_group_size(client, telecom_survey, operator_headers, session):
    people = ref.people_frame(session, telecom_survey.id, CONSTRUCTS)
    sizes = people["branch_id"].map(ref.branch_codes(session)).value_counts()
    threshold = int(sizes.min()) + 1
    smallest = str(sizes.sort_values(kind="mergesort").index[0])
    telecom_survey.min_group_size = threshold
    session.merge(telecom_survey)
    session.commit()
    r = client.get("/api/v1/surveys/telecom/scores?by=branch", headers=operator_headers)
    body = r.json()
    small = [g for g in body["groups"] if g["suppressed"]]
    # only the small branch itself: its cells are left out of every table, so no other
    # branch has to be hidden to protect it
    assert small == [
        {
            "group": smallest,
            "n": int(sizes[smallest]),
            "n_published": 0,
            "suppressed": True,
            "suppressed_reason": "fewer than min_group_size responses",
        }
    ]
    exp, _ = expected(session, telecom_survey.id, "branch", threshold)
    exp.pop("*overall*")
    shown = {g["group"]: g for g in body["groups"] if not g["suppressed"]}
    assert sorted(shown) == sorted(exp)
    for g in shown:
        assert shown[g]["constructs"]["REL"]["vs_rest"]["p"] == pytest.approx(
            exp[g]["REL"]["p"], rel=TOL
        )
    # the overall row leaves the small branch out too
    assert body["overall"]["n"] == len(people)
    assert body["overall"]["n_published"] == len(people) - int(sizes[smallest])
    csv = client.get(
        "/api/v1/surveys/telecom/scores?by=branch&format=csv", headers=operator_headers
    )
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    table = pd.read_csv(io.StringIO(csv.text), keep_default_na=False, dtype=str)
    rows = table[table["group"] == smallest]
    assert len(rows) == 1 and rows.iloc[0]["suppressed"] == "true"
    assert rows.iloc[0]["index"] == ""
    assert rows.iloc[0]["suppressed_reason"] == "fewer than min_group_size responses"


def test_branch_scoped_key_sees_its_branch_and_the_benchmark(
    client, telecom_survey, operator_headers, operator_br01_headers
):
    full = client.get("/api/v1/surveys/telecom/scores", headers=operator_headers).json()
    mine = client.get("/api/v1/surveys/telecom/scores", headers=operator_br01_headers).json()
    assert [g["group"] for g in mine["groups"]] == ["BR01"]
    assert mine["groups"][0] == next(g for g in full["groups"] if g["group"] == "BR01")
    assert mine["overall"] == full["overall"]
    r = client.get("/api/v1/surveys/telecom/scores?branch=BR02", headers=operator_br01_headers)
    assert r.status_code == 403
    by_type = client.get(
        "/api/v1/surveys/telecom/scores?by=customer_type", headers=operator_br01_headers
    ).json()
    assert sum(g["n"] for g in by_type["groups"]) == 197  # BR01's responses only
    assert client.get("/api/v1/surveys/telecom/scores").status_code == 401


def test_submissions_update_the_aggregates_in_the_same_transaction(
    client, factory, survey, operator_headers
):
    for i, v in enumerate([2, 4, 6, 7, 7]):
        answers = factory.answers(v, NQ1=None, NQ2=None, NQ3=None, NQ4=None)
        r = factory.submit("telecom", {"branch": "BR03", "answers": answers}, key=f"k{i}")
        assert r.status_code == 201, r.text
    body = client.get("/api/v1/surveys/telecom/scores", headers=operator_headers).json()
    br03 = body["groups"][0]
    assert br03["group"] == "BR03" and br03["n"] == 5
    x = np.array([2, 4, 6, 7, 7], dtype=float)
    y = (x - 1) / 6
    with factory._session() as db:
        key = ref.survey_key(db, survey.id)
        branch_id = next(i for i, c in ref.branch_codes(db).items() if c == "BR03")
    month = pd.Timestamp.now(tz="UTC").strftime("%Y-%m")
    off = ref.offset(key, [branch_id, month, "*", "", "REL", 5, "sum"])
    protected_sum = ref.rounded(float(y.sum()), off)
    assert abs(protected_sum - y.sum()) <= 0.25
    got = br03["constructs"]["REL"]["index"]
    assert got == pytest.approx(protected_sum / 5 * 100, abs=TOL)
    assert abs(got - y.mean() * 100) <= 5.0  # 0.25 of one respondent's range, over 5
    assert "NQ" not in br03["constructs"]  # nobody answered a network item
    # replaying an idempotent submission does not count twice
    factory.submit(
        "telecom",
        {"branch": "BR03", "answers": factory.answers(2, NQ1=None, NQ2=None, NQ3=None, NQ4=None)},
        key="k0",
    )
    again = client.get("/api/v1/surveys/telecom/scores", headers=operator_headers).json()
    assert again["groups"][0]["n"] == 5
