"""GET /api/v1/surveys/{slug}/reliability and /efa on the imported telecom_1500 data.

Numbers are checked against R (tests/data/*.json) through the whole pipeline (CSV import ->
database -> item frame -> stats -> JSON); tolerances as in tests/stats.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tests.conftest import DATA_DIR, TELECOM_CSV

URL = "/api/v1/surveys/telecom"


@pytest.fixture(scope="module")
def rel_ref() -> dict:
    return json.loads((DATA_DIR / "telecom_reliability.json").read_text())


@pytest.fixture(scope="module")
def efa_ref() -> dict:
    return json.loads((DATA_DIR / "telecom_efa_drivers.json").read_text())


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return pd.read_csv(TELECOM_CSV)


def test_reliability_matches_r(client, telecom_survey, researcher_headers, rel_ref):
    # alpha 1e-6 (closed form); omega, AVE, HTMT, HTMT2 2e-5 (FIML / EM: ~6e-6 measured, lavaan's
    # and pvm's EM stop at different convergence criteria; as tests/stats/test_reliability.py).
    r = client.get(f"{URL}/reliability", headers=researcher_headers)
    assert r.status_code == 200, r.text
    body = r.json()
    names = list(rel_ref["alpha"])
    assert list(body["constructs"]) == names
    for name in names:
        row = body["constructs"][name]
        assert row["alpha"] == pytest.approx(rel_ref["alpha"][name], abs=1e-6)
        assert row["omega"] == pytest.approx(rel_ref["omega"][name], abs=2e-5)
        assert row["ave"] == pytest.approx(rel_ref["ave"][name], abs=2e-5)
        assert 0 < row["cr"] < 1
        assert {"code", "mean", "sd", "item_total_r", "alpha_if_deleted"} <= set(row["items"][0])
    htmt = np.array([[body["htmt"][a][b] for b in names] for a in names])
    htmt2 = np.array([[body["htmt2"][a][b] for b in names] for a in names])
    np.testing.assert_allclose(htmt, np.array(rel_ref["htmt"]), atol=2e-5)
    np.testing.assert_allclose(htmt2, np.array(rel_ref["htmt2"]), atol=2e-5)
    assert body["constructs"]["NQ"]["n"] < 1500 == body["constructs"]["TAN"]["n"]
    assert "complete cases" in body["missing"]["alpha"]
    assert "full-information" in body["missing"]["model"]
    fl = body["fornell_larcker"]["matrix"]
    assert fl["TAN"]["TAN"] == pytest.approx(np.sqrt(rel_ref["ave"]["TAN"]), abs=2e-5)


def test_reliability_auth(client, telecom_survey, operator_headers):
    assert client.get(f"{URL}/reliability").status_code == 401
    assert client.get(f"{URL}/reliability", headers=operator_headers).status_code == 403
    bad = {"Authorization": "Bearer nope"}
    assert client.get(f"{URL}/reliability", headers=bad).status_code == 401


def test_reliability_branch_filter_and_constructs(client, telecom_survey, researcher_headers, raw):
    # alpha of one branch equals alpha computed here on that branch's complete rows (1e-9).
    r = client.get(
        f"{URL}/reliability?branch=BR01&constructs=REL,PV&missing=listwise",
        headers=researcher_headers,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert list(body["constructs"]) == ["REL", "PV"]
    sub = raw[raw["branch"] == "BR01"][["REL1", "REL2", "REL3", "REL4"]].dropna()
    k = 4
    alpha = k / (k - 1) * (1 - sub.var().sum() / sub.sum(axis=1).var())
    assert body["constructs"]["REL"]["alpha"] == pytest.approx(alpha, abs=1e-9)
    assert body["n"] == int((raw["branch"] == "BR01").sum())


def test_reliability_htmt_bootstrap(client, telecom_survey, researcher_headers):
    # the numbers are app.stats.validity.htmt_bootstrap's (tests/stats/test_htmt_bootstrap.py
    # checks them against semTools); here: the field, its table, the seed and bad counts
    url = f"{URL}/reliability?constructs=TAN,REL&missing=listwise&htmt_bootstrap=20&seed=4"
    body = client.get(url, headers=researcher_headers).json()
    boot = body["htmt_bootstrap"]
    assert (boot["draws"], boot["succeeded"], boot["interval"], boot["seed"]) == (20, 20, "perc", 4)
    (pair,) = boot["pairs"]
    assert (pair["construct1"], pair["construct2"]) == ("TAN", "REL")
    assert pair["htmt"] == pytest.approx(body["htmt"]["TAN"]["REL"], abs=1e-9)
    assert pair["ci.lower"] <= pair["htmt"] <= pair["ci.upper"] and pair["se"] > 0
    again = client.get(url, headers=researcher_headers).json()["htmt_bootstrap"]
    assert again == boot
    csv = client.get(
        url + "&format=csv&table=htmt_bootstrap.pairs", headers=researcher_headers
    ).text.splitlines()
    assert csv[0].split(",")[:4] == ["construct1", "construct2", "htmt", "se"]
    for bad in ("htmt_bootstrap=-1", "htmt_bootstrap=5001", "seed=-2"):
        r = client.get(f"{URL}/reliability?{bad}", headers=researcher_headers)
        assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == bad.split("=")[0]


def test_reliability_respects_min_group_size(
    client, telecom_survey, researcher_headers, raw, session
):
    n_br01 = int((raw["branch"] == "BR01").sum())
    telecom_survey.min_group_size = n_br01 + 1
    session.merge(telecom_survey)
    session.commit()
    r = client.get(f"{URL}/reliability?branch=BR01", headers=researcher_headers)
    assert r.status_code == 422
    msg = r.json()["detail"][0]["msg"]
    assert "min_group_size" in msg and str(n_br01) in msg
    r = client.get(f"{URL}/efa?branch=BR01&items=TAN1,TAN2,TAN3", headers=researcher_headers)
    assert r.status_code == 422
    # Two branches together are large enough.
    r = client.get(
        f"{URL}/reliability?branch=BR01,BR02&constructs=TAN&missing=listwise",
        headers=researcher_headers,
    )
    assert r.status_code == 200, r.text


def test_reliability_unknown_construct_is_422(client, telecom_survey, researcher_headers):
    r = client.get(f"{URL}/reliability?constructs=TAN,NOPE", headers=researcher_headers)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["query", "constructs"]
    assert "NOPE" in r.json()["detail"][0]["msg"]


def test_efa_matches_psych(client, telecom_survey, researcher_headers, efa_ref):
    # KMO and Bartlett 1e-9 relative (closed form, ~5e-12 measured); loadings and communalities
    # 5e-5 (psych's minres stops at its own criterion: 1.3e-5 measured; factors matched by their
    # peak item).
    items = [row["_row"] for row in efa_ref["loadings"]]
    r = client.get(
        f"{URL}/efa?items={','.join(items)}&factors=5&rotation=oblimin&method=minres",
        headers=researcher_headers,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["kmo"] == pytest.approx(efa_ref["kmo_overall"], rel=1e-9)
    assert body["bartlett"]["chisq"] == pytest.approx(efa_ref["bartlett"]["chisq"], rel=1e-9)
    assert body["bartlett"]["df"] == 190
    ours = pd.DataFrame(body["loadings"]).T.loc[items]
    theirs = pd.DataFrame(efa_ref["loadings"]).set_index("_row").loc[items]
    for col in theirs.columns:
        peak_item = theirs[col].abs().idxmax()
        mine = ours.loc[peak_item].abs().idxmax()
        sign = np.sign(ours.loc[peak_item, mine] * theirs.loc[peak_item, col])
        assert np.abs(sign * ours[mine] - theirs[col]).max() < 5e-5
    for item, h2 in efa_ref["communalities"].items():
        assert body["communalities"][item] == pytest.approx(h2, abs=5e-5)
    assert body["n"] == 1500 and "complete cases" in body["missing"]


def test_efa_factors_from_parallel_analysis(client, telecom_survey, researcher_headers, efa_ref):
    items = ",".join(row["_row"] for row in efa_ref["loadings"])
    r = client.get(f"{URL}/efa?items={items}&rotation=varimax", headers=researcher_headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["parallel_analysis_factors"] == 5
    assert body["factors"] == 5 and body["factors_source"] == "parallel_analysis"
    assert len(body["eigenvalues"]) == 20


@pytest.mark.parametrize(
    ("query", "loc", "needle"),
    [
        ("items=TAN1", "items", "at least 3 items"),
        ("items=TAN1,TAN2,TAN3,REL1&factors=3", "factors", "more than 4 items"),
        ("items=TAN1,TAN2,XYZ", "items", "XYZ"),
    ],
)
def test_efa_impossible_requests_are_422(
    client, telecom_survey, researcher_headers, query, loc, needle
):
    r = client.get(f"{URL}/efa?{query}", headers=researcher_headers)
    assert r.status_code == 422, r.text
    err = r.json()["detail"][0]
    assert err["loc"] == ["query", loc]
    assert needle in err["msg"]


def test_efa_bad_rotation_and_too_few_rows(client, factory, survey, researcher_headers):
    r = client.get(f"{URL}/efa?rotation=spin", headers=researcher_headers)
    assert r.status_code == 422
    for i in range(4):
        body = {"branch": "BR01", "answers": factory.answers(value=1 + i % 7)}
        assert factory.submit("telecom", body).status_code == 201
    r = client.get(f"{URL}/efa?items=TAN1,TAN2,TAN3&factors=1", headers=researcher_headers)
    assert r.status_code == 422
    assert "too few complete rows" in r.json()["detail"][0]["msg"]
    # Alpha is still defined on 4 rows, but the CFA is not: omega is null and the reason given.
    r = client.get(f"{URL}/reliability?constructs=TAN", headers=researcher_headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["constructs"]["TAN"]["omega"] is None
    assert "singular" in body["model"]["error"]


def test_reliability_of_an_empty_survey_is_422(client, survey, researcher_headers):
    r = client.get(f"{URL}/reliability", headers=researcher_headers)
    assert r.status_code == 422
    assert "no responses" in r.json()["detail"][0]["msg"]
    assert (
        client.get("/api/v1/surveys/nope/reliability", headers=researcher_headers).status_code
        == 404
    )


def test_efa_by_construct_reports_listwise_deletion(client, telecom_survey, researcher_headers):
    r = client.get(f"{URL}/efa?constructs=TAN,NQ&factors=2", headers=researcher_headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["items"] == ["TAN1", "TAN2", "TAN3", "NQ1", "NQ2", "NQ3", "NQ4"]
    assert body["n_rows"] == 1500 and body["n"] == body["n_complete"] < 750
    assert body["n_dropped"] == 1500 - body["n_complete"]
    assert body["missing_by_item"]["TAN1"] == 0 and body["missing_by_item"]["NQ1"] > 1000
    assert "listwise deletion kept" in body["warnings"][0]
    pairwise = client.get(
        f"{URL}/efa?constructs=TAN,NQ&factors=2&use=pairwise", headers=researcher_headers
    ).json()
    assert pairwise["use"] == "pairwise" and pairwise["warnings"] == []
    fiml = client.get(
        f"{URL}/efa?constructs=TAN,NQ&factors=2&use=fiml", headers=researcher_headers
    ).json()  # EM correlations over every row with an item
    assert (fiml["use"], fiml["n"], fiml["n_rows"]) == ("fiml", 1500, 1500)
    assert fiml["warnings"] == [] and fiml["missing"].startswith("fiml")
    csv = client.get(
        f"{URL}/efa?constructs=TAN,NQ&factors=2&use=fiml&format=csv&table=loadings",
        headers=researcher_headers,
    )
    assert csv.status_code == 200 and csv.text.splitlines()[0].startswith("item")
    for query, loc in (
        ("constructs=XX", "constructs"),
        ("constructs=TAN&items=TAN1", "items"),
        ("use=all", "use"),
    ):
        r = client.get(f"{URL}/efa?{query}", headers=researcher_headers)
        assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == loc, r.text
