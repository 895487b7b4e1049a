"""The operators' response models (app/reporting/schemas.py) are in /openapi.json and describe
the JSON the routes send, key for key: a suppressed group, NPS items and gap scores (the
gapshop instrument of test_any_instrument.py), trends and drivers."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from app.reporting.schemas import DriversOut, ScoresOut
from tests.reporting.test_any_instrument import API, gaps, instruments_dir  # noqa: F401


def same_json(model: type[BaseModel], body: dict[str, Any]) -> None:
    """`body` is valid for `model`, and dumping it back gives the same keys and values."""
    parsed = model.model_validate(body)
    assert parsed.model_dump(mode="json", exclude_unset=True, by_alias=True) == body


def test_openapi_documents_the_operator_routes(client) -> None:
    doc = client.get("/openapi.json").json()
    paths = doc["paths"]
    for route, model in (
        ("scores", "ScoresOut"),
        ("trends", "ScoresOut"),
        ("drivers", "DriversOut"),
    ):
        ok = paths[f"/api/v1/surveys/{{slug}}/{route}"]["get"]["responses"]["200"]["content"]
        assert ok["application/json"]["schema"] == {"$ref": f"#/components/schemas/{model}"}
    assert (
        "text/csv" in paths["/api/v1/surveys/{slug}/scores"]["get"]["responses"]["200"]["content"]
    )
    schemas = doc["components"]["schemas"]
    assert {"ScoresOut", "GroupOut", "ConstructScoreOut", "DriversOut"} <= set(schemas)


@pytest.mark.parametrize("params", [{"by": "region"}, {"by": "branch"}, {"by": "segment"}])
def test_scores_json_is_scores_out(client, gaps, operator_headers, params) -> None:  # noqa: F811
    r = client.get(f"{API}/scores", params=params, headers=operator_headers)
    assert r.status_code == 200, r.text
    body = r.json()
    same_json(ScoresOut, body)
    assert body["nps_items"] and body["gaps"] and body["overall"]["gaps"]
    assert all("n_published" in g and "vs_rest" in g["constructs"]["PER"] for g in body["groups"])


def test_suppressed_groups_are_scores_out(client, factory, survey, operator_headers) -> None:
    for value in (3, 5, 6):  # three answers in BR01: below min_group_size 5
        body = {"branch": "BR01", "answers": factory.answers(value)}
        assert factory.submit("telecom", body).status_code == 201
    for route in ("scores", "trends"):
        r = client.get(f"/api/v1/surveys/telecom/{route}", headers=operator_headers)
        assert r.status_code == 200, r.text
        same_json(ScoresOut, r.json())
        (group,) = r.json()["groups"]
        assert group["suppressed"] and "suppressed_reason" in group and "constructs" not in group


def test_trends_and_drivers_json(client, gaps, operator_headers) -> None:  # noqa: F811
    trend = client.get(f"{API}/trends", headers=operator_headers)
    assert trend.status_code == 200, trend.text
    same_json(ScoresOut, trend.json())
    assert "test" not in trend.json()
    drivers = client.get(f"{API}/drivers", headers=operator_headers)
    assert drivers.status_code == 200, drivers.text
    same_json(DriversOut, drivers.json())
    assert drivers.json()["drivers"]
