"""Ordered items through the fit API (issue 15 item 1): `"ordered"` and estimators WLSMV/DWLS.

The numbers are the engine's (tests/stats/sem/test_ordinal.py checks those against lavaan
0.6.14 on the same 1500 telecom rows); here: the request reaches the engine with lavaan's
defaults for ordered data, the result has lavaan's names, and requests it cannot run are 422.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.surveys.models import Survey
from tests.fits.test_fit_api import post_fit, post_rejected, wait_done
from tests.stats.sem.golden import load_json

REF = load_json("ordinal_cfa")
MODEL = REF["models"]["telecom_small"]


def test_ordered_fit_through_the_api(
    client: TestClient, researcher_headers: dict[str, str], telecom_survey: Survey
) -> None:
    r = post_fit(client, researcher_headers, model=MODEL, ordered=True)
    assert r.status_code == 202, r.text
    done = wait_done(client, researcher_headers, r.json()["id"])
    assert done["status"] == "done", done["error"]
    result = done["result"]
    assert result["estimator"] == "WLSMV" and result["missing"] == "listwise"
    ref = REF["telecom_small"]
    assert result["nobs"] == ref["nobs"] == 1500
    rows = {(e["lhs"], e["op"], e["rhs"]): e for e in result["estimates"]}
    for row in ref["estimates"]:
        e = rows[(row["lhs"], row["op"], row["rhs"])]
        assert e["est"] == pytest.approx(row["est"], abs=5e-7)  # as test_ordinal.py
        assert e["se"] == pytest.approx(row["se"], rel=1e-6, abs=1e-12)
    for k in ("chisq.scaled", "cfi.scaled", "tli.scaled", "rmsea.scaled", "srmr"):
        assert result["fit"][k] == pytest.approx(ref["fit"][k], rel=1e-6, abs=1e-6), k
    assert result["r2"]["TAN2"] == pytest.approx(ref["r2"]["TAN2"], abs=5e-7)
    # the listed items (all of the model's) are the same job's numbers; DWLS is another job
    items = ["REL4", "REL3", "REL2", "REL1", "TAN3", "TAN2", "TAN1"]
    listed = post_fit(client, researcher_headers, model=MODEL, ordered=items)
    assert listed.status_code == 202, listed.text
    done2 = wait_done(client, researcher_headers, listed.json()["id"])
    assert done2["result"]["fit"]["chisq"] == pytest.approx(result["fit"]["chisq"], rel=1e-12)
    dwls = post_fit(client, researcher_headers, model=MODEL, ordered=True, estimator="DWLS")
    done3 = wait_done(client, researcher_headers, dwls.json()["id"])
    assert done3["status"] == "done", done3["error"]
    assert done3["result"]["estimator"] == "DWLS" and "chisq.scaled" not in done3["result"]["fit"]
    assert done3["result"]["fit"]["chisq"] == pytest.approx(result["fit"]["chisq"], rel=1e-12)


def test_ordered_groups_through_the_api(
    client: TestClient, researcher_headers: dict[str, str], telecom_survey: Survey
) -> None:
    """lavaan's group.equal = c("thresholds", "loadings") by customer_type: the API's
    `intercepts` brings the thresholds with it, as lavaan does for ordered data."""
    body = {
        "model": REF["models"]["telecom_mg"],
        "ordered": True,
        "group": "customer_type",
        "group_equal": ["loadings", "intercepts"],
    }
    r = post_fit(client, researcher_headers, **body)
    assert r.status_code == 202, r.text
    done = wait_done(client, researcher_headers, r.json()["id"])
    assert done["status"] == "done", done["error"]
    result = done["result"]
    ref = REF["groups"]["telecom"]["loadings"]
    # the survey's rows come in another order than the CSV's, so another group is the
    # reference group; the fit is the same model (estimates: test_ordinal.py)
    assert sorted(g["group"] for g in result["groups"]) == sorted(ref["group_label"])
    assert result["nobs"] == 1500 and result["estimator"] == "WLSMV"
    assert any(e["op"] == "~*~" and e["se"] for e in result["estimates"])
    for k in ("chisq", "df", "chisq.scaled", "cfi.scaled", "tli.scaled", "rmsea.scaled"):
        assert result["fit"][k] == pytest.approx(ref["fit"][k], rel=1e-6, abs=1e-6), k


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"model": MODEL, "estimator": "WLSMV"}, "needs ordered items"),
        ({"model": MODEL, "ordered": True, "estimator": "MLR"}, "WLSMV or DWLS"),
        ({"model": MODEL, "ordered": True, "missing": "fiml"}, "missing listwise or pairwise"),
        ({"model": MODEL, "missing": "pairwise"}, "pairwise is available with ordered items"),
        (
            {"model": MODEL, "ordered": True, "group": "branch", "invariance": True},
            "invariance not available with ordered",
        ),
        (
            {"model": MODEL, "ordered": ["TAN1", "NQ1"]},
            "not an observed variable of the model: NQ1",
        ),
        ({"method": "pls", "model": "REL =~ REL1 + REL2", "ordered": True}, "method sem only"),
    ],
)
def test_ordered_requests_that_cannot_run_are_422(
    client: TestClient,
    researcher_headers: dict[str, str],
    telecom_survey: Survey,
    body: dict[str, Any],
    message: str,
) -> None:
    assert message in post_rejected(client, researcher_headers, **body)
