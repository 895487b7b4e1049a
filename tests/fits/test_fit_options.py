"""Fit API options of issue 15: estimator MLM, std_lv, warnings; their 422s.

The numbers are checked against lavaan in tests/stats/sem/test_options.py; here the API passes
the options through and refuses the combinations the engine cannot honour.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from app.surveys.models import Survey

from .test_fit_api import post_fit, post_rejected, wait_done

MODEL = (
    "TAN =~ TAN1 + TAN2 + TAN3\nREL =~ REL1 + REL2 + REL3 + REL4\nPV =~ PV1 + PV2\nPV ~ TAN + REL"
)


def test_mlm_with_std_lv(
    client: TestClient, researcher_headers: dict[str, str], telecom_survey: Survey
) -> None:
    r = post_fit(
        client, researcher_headers, model=MODEL, estimator="MLM", missing="listwise", std_lv=True
    )
    assert r.status_code == 202, r.text
    assert r.json()["spec"]["std_lv"] is True
    done = wait_done(client, researcher_headers, r.json()["id"])
    assert done["status"] == "done", done["error"]
    res = done["result"]
    assert res["estimator"] == "MLM" and res["converged"] is True
    assert res["warnings"] == []
    for key in ("chisq.scaled", "chisq.scaling.factor", "cfi.scaled", "rmsea.scaled", "cfi.robust"):
        assert isinstance(res["fit"][key], float), key
    lv_var = {e["lhs"]: e for e in res["estimates"] if e["op"] == "~~" and e["lhs"] == e["rhs"]}
    assert lv_var["TAN"]["est"] == 1.0 and lv_var["TAN"]["se"] == 0  # std.lv: fixed to 1
    first = next(e for e in res["estimates"] if e["op"] == "=~" and e["rhs"] == "TAN1")
    assert first["se"] > 0  # the first loading is free


def test_pairwise(
    client: TestClient, researcher_headers: dict[str, str], telecom_survey: Survey
) -> None:
    r = post_fit(client, researcher_headers, model=MODEL, missing="pairwise")
    assert r.status_code == 202, r.text
    done = wait_done(client, researcher_headers, r.json()["id"])
    assert done["status"] == "done", done["error"]
    assert done["result"]["missing"] == "pairwise" and done["result"]["converged"] is True


def test_default_spec_is_unchanged_by_the_new_field(
    client: TestClient, researcher_headers: dict[str, str], telecom_survey: Survey
) -> None:
    r = post_fit(client, researcher_headers, model=MODEL, missing="listwise")
    assert r.status_code == 202, r.text
    assert "std_lv" not in r.json()["spec"]  # earlier cache keys stay valid


def test_refused_option_combinations(
    client: TestClient, researcher_headers: dict[str, str], telecom_survey: Survey
) -> None:
    assert "MLM needs complete data" in post_rejected(
        client, researcher_headers, model=MODEL, estimator="MLM"
    )
    assert "GLS needs complete data" in post_rejected(
        client, researcher_headers, model=MODEL, estimator="GLS"
    )
    assert "bootstrap is not available with estimator GLS" in post_rejected(
        client, researcher_headers, model=MODEL, estimator="GLS", missing="listwise", bootstrap=200
    )
    assert "bootstrap is not available with missing pairwise" in post_rejected(
        client, researcher_headers, model=MODEL, missing="pairwise", bootstrap=200
    )
    assert "pairwise is available with estimator ML only" in post_rejected(
        client, researcher_headers, model=MODEL, estimator="MLR", missing="pairwise"
    )
    assert "std_lv applies to method sem only" in post_rejected(
        client, researcher_headers, model="A =~ TAN1 + TAN2", method="pls", std_lv=True
    )
    assert "can not be measured by itself" in post_rejected(
        client, researcher_headers, model="TAN =~ TAN + TAN1 + TAN2 + TAN3"
    )
