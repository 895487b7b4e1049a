"""PLS through the fit API (issue 16 item 5, first slice): queued, run, cached like CB-SEM fits,
with the engine's numbers (compared with a direct app.stats.pls fit on the same rows)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.stats.pls import bootstrap_pls, fit_pls
from app.surveys import service
from app.surveys.models import Survey
from tests.fits.test_fit_api import post_fit, post_rejected, wait_done

MODEL = "REL =~ REL1 + REL2 + REL3 + REL4\nNQ <~ NQ2 + NQ3 + NQ4\nPV =~ PV1 + PV2\nPV ~ REL + NQ"


def test_pls_fit_through_the_api(
    client: TestClient, researcher_headers: dict[str, str], telecom_survey: Survey, session: Any
) -> None:
    r = post_fit(client, researcher_headers, method="pls", model=MODEL, bootstrap=100, seed=4)
    assert r.status_code == 202, r.text
    done = wait_done(client, researcher_headers, r.json()["id"])
    assert done["status"] == "done", done["error"]
    result = done["result"]
    assert result["method"] == "pls" and result["missing"] == "mean"
    assert result["bootstrap"]["draws"] == 100 and result["bootstrap"]["succeeded"] == 100
    frame = service.load_item_frame(session, survey=telecom_survey)
    direct = fit_pls(frame, MODEL)
    boot = bootstrap_pls(direct, draws=100, seed=4)
    assert result["nobs"] == direct.nobs == 1500
    rows = {(e["lhs"], e["op"], e["rhs"]): e for e in result["estimates"]}
    path = rows[("PV", "~", "REL")]
    assert path["est"] == pytest.approx(direct.path("REL", "PV"), abs=1e-12)
    k = boot.index("PV", "~", "REL")
    assert path["se"] == pytest.approx(boot.se[k], abs=1e-12)
    assert rows[("NQ", "<=", "NQ2")]["est"] == pytest.approx(direct.weight("NQ2", "NQ"), abs=1e-12)
    assert result["r2"]["PV"] == pytest.approx(direct.r2["PV"], abs=1e-12)
    # the same request again is the stored job
    again = post_fit(client, researcher_headers, method="pls", model=MODEL, bootstrap=100, seed=4)
    assert again.status_code == 200 and again.json()["id"] == done["id"]
    diagram = client.get(f"/api/v1/fits/{done['id']}/diagram.svg", headers=researcher_headers)
    assert diagram.status_code == 409 and "PLS" in diagram.text


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"method": "pls", "model": MODEL, "group": "branch"}, "group is not available"),
        ({"method": "pls", "model": MODEL, "missing": "fiml"}, "mean or listwise"),
        ({"method": "pls", "model": MODEL, "estimator": "MLR"}, "method sem only"),
        ({"model": MODEL, "scheme": "factorial"}, "apply to method pls"),
        ({"model": MODEL, "missing": "mean"}, "missing mean is for method pls"),
        ({"method": "pls", "model": "REL =~ REL1 + COMMENT\nPV =~ PV1\nPV ~ REL"}, "COMMENT"),
        ({"method": "pls", "model": "REL =~ REL1 + REL2\nPV =~ PV1\nPV ~ REL\nREL ~~ PV"}, "~~"),
    ],
)
def test_pls_requests_that_cannot_run_are_422(
    client: TestClient,
    researcher_headers: dict[str, str],
    telecom_survey: Survey,
    body: dict[str, Any],
    message: str,
) -> None:
    assert message in post_rejected(client, researcher_headers, **body)
