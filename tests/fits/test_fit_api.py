"""Fit jobs through the HTTP API: 202 + polling, cache, 422s, 404, 401/403, diagram."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.instruments.registry import get_instrument
from app.surveys.models import Survey

HS_LIKE = (
    "TAN =~ TAN1 + TAN2 + TAN3\nREL =~ REL1 + REL2 + REL3 + REL4\nPV =~ PV1 + PV2\nPV ~ TAN + REL"
)


def post_fit(client: TestClient, headers: dict[str, str], **body: Any) -> Any:
    return client.post("/api/v1/surveys/telecom/fits", json=body, headers=headers)


def post_rejected(client: TestClient, headers: dict[str, str], **body: Any) -> str:
    """Posts a fit that must be refused with a 422; the response text, which says why."""
    r = post_fit(client, headers, **body)
    assert r.status_code == 422, r.text
    return r.text


def wait_done(client: TestClient, headers: dict[str, str], fit_id: str) -> dict[str, Any]:
    for _ in range(20):
        r = client.get(f"/api/v1/fits/{fit_id}", params={"wait": 30}, headers=headers)
        assert r.status_code == 200, r.text
        if r.json()["status"] in ("done", "failed"):
            return r.json()
    raise AssertionError("fit did not finish")


def test_post_returns_202_then_polling_reaches_done(
    client: TestClient, researcher_headers: dict[str, str], telecom_survey: Survey
) -> None:
    r = post_fit(client, researcher_headers, model=HS_LIKE, missing="listwise")
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["status"] in ("queued", "running")
    assert r.headers["location"] == f"/api/v1/fits/{body['id']}"
    done = wait_done(client, researcher_headers, body["id"])
    assert done["status"] == "done", done["error"]
    assert done["progress"] == 1.0
    result = done["result"]
    assert result["converged"] is True
    assert result["missing"] == "listwise"
    assert result["fit"]["df"] == 24  # 9 indicators: 45 moments - 21 free parameters
    assert len(result["data_fingerprint"]) == 64
    assert {"lhs", "op", "rhs", "est", "se", "std.all"} <= set(result["estimates"][0])


def test_default_model_with_fiml_is_the_instrument_model(
    client: TestClient, researcher_headers: dict[str, str], telecom_survey: Survey
) -> None:
    r = post_fit(client, researcher_headers)
    assert r.status_code == 202, r.text
    assert r.json()["spec"]["missing"] == "fiml"
    default = get_instrument("telecom-pv", version=1).default_model
    assert "".join(r.json()["spec"]["model"].split()) == "".join(default.split())
    done = wait_done(client, researcher_headers, r.json()["id"])
    assert done["status"] == "done", done["error"]
    assert done["result"]["nobs"] == 1500
    assert done["result"]["fit"]["df"] == 603  # lavaan's df for this model (telecom_sem_fiml.json)


def test_identical_request_on_unchanged_data_returns_the_stored_job(
    client: TestClient, researcher_headers: dict[str, str], telecom_survey: Survey, factory: Any
) -> None:
    first = post_fit(client, researcher_headers, model=HS_LIKE, missing="listwise")
    fit_id = first.json()["id"]
    wait_done(client, researcher_headers, fit_id)
    # Same spec written differently (spacing, blank lines): same canonical spec.
    again = post_fit(
        client,
        researcher_headers,
        model="\n" + HS_LIKE.replace(" + ", "+") + "\n\n",
        missing="listwise",
    )
    assert again.status_code == 200
    assert again.json()["id"] == fit_id
    assert again.json()["result"] is not None
    other = post_fit(
        client,
        researcher_headers,
        model=HS_LIKE,
        missing="listwise",
        filters={"branch": ["BR01", "BR02"]},
    )
    assert other.status_code == 202 and other.json()["id"] != fit_id
    # New data: a new fingerprint, so a new job.
    assert (
        factory.submit("telecom", {"branch": "BR01", "answers": factory.answers(5)}).status_code
        == 201
    )
    changed = post_fit(client, researcher_headers, model=HS_LIKE, missing="listwise")
    assert changed.status_code == 202
    assert changed.json()["id"] not in (fit_id, other.json()["id"])
    result = wait_done(client, researcher_headers, changed.json()["id"])["result"]
    assert result["nobs"] == wait_done(client, researcher_headers, fit_id)["result"]["nobs"] + 1


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"model": "TAN =~ TAN1 + + TAN2"}, "model"),
        ({"model": "TAN =~ TAN1 + TAN2 + NOPE9"}, "NOPE9"),
        ({"model": "F =~ TAN1 + TAN2 + TAN3", "filters": {"branch": ["XX99"]}}, "too few rows"),
        ({"estimator": "WLS"}, "estimator"),
        ({"missing": "pairwise"}, "missing"),
        ({"bootstrap": 10}, "bootstrap"),
        ({"group_equal": ["loadings"]}, "group"),
        ({"group": "favourite_colour"}, "group"),
    ],
)
def test_unfittable_requests_are_422_with_the_reason(
    client: TestClient,
    researcher_headers: dict[str, str],
    telecom_survey: Survey,
    body: dict[str, Any],
    needle: str,
) -> None:
    assert needle in post_rejected(client, researcher_headers, **body)
    assert client.get("/api/v1/fits/none", headers=researcher_headers).status_code == 404


def test_unknown_fit_and_unknown_survey_are_404(
    client: TestClient, researcher_headers: dict[str, str], survey: Survey
) -> None:
    assert (
        client.get("/api/v1/fits/0123456789abcdef", headers=researcher_headers).status_code == 404
    )
    r = client.get("/api/v1/fits/0123456789abcdef/diagram.svg", headers=researcher_headers)
    assert r.status_code == 404
    assert (
        client.post("/api/v1/surveys/nope/fits", json={}, headers=researcher_headers).status_code
        == 404
    )


def test_fits_need_a_researcher_key(
    client: TestClient,
    researcher_headers: dict[str, str],
    operator_headers: dict[str, str],
    admin_headers: dict[str, str],
    telecom_survey: Survey,
) -> None:
    assert post_fit(client, {}).status_code == 401
    assert post_fit(client, {"Authorization": "Bearer pvm_wrong"}).status_code == 401
    assert post_fit(client, operator_headers, model=HS_LIKE).status_code == 403
    fit_id = post_fit(client, admin_headers, model=HS_LIKE, missing="listwise").json()["id"]
    for path in (f"/api/v1/fits/{fit_id}", f"/api/v1/fits/{fit_id}/diagram.svg"):
        assert client.get(path).status_code == 401
        assert client.get(path, headers=operator_headers).status_code == 403
    assert wait_done(client, researcher_headers, fit_id)["status"] == "done"


def test_diagram_is_valid_svg_with_every_latent(
    client: TestClient, researcher_headers: dict[str, str], telecom_survey: Survey
) -> None:
    fit_id = post_fit(client, researcher_headers, missing="listwise").json()["id"]
    before = client.get(f"/api/v1/fits/{fit_id}/diagram.svg", headers=researcher_headers)
    assert before.status_code in (200, 409)  # 409 while the fit runs
    assert wait_done(client, researcher_headers, fit_id)["status"] == "done"
    r = client.get(f"/api/v1/fits/{fit_id}/diagram.svg", headers=researcher_headers)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("image/svg+xml")
    root = ET.fromstring(r.content)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = {t.text for t in root.iter("{http://www.w3.org/2000/svg}text")}
    for latent in ("TAN", "REL", "RES", "ASS", "EMP", "NQ", "PV", "SAT", "CCI", "LOY"):
        assert latent in texts
    assert "LOY4" in texts
    assert any(t and t.startswith("R² = ") for t in texts)
