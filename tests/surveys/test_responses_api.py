"""POST /api/v1/surveys/{slug}/responses: storing, idempotency, and every bad input of issue 2
(each answered with a clear error naming the field, and nothing stored)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from app.instruments.registry import get_instrument
from app.surveys.models import Response

URL = "/api/v1/surveys/telecom/responses"
ITEMS = get_instrument("telecom-pv", version=1).answer_codes


def body(factory, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "branch": "BR01",
        "answers": factory.answers(5),
        "customer_type": "consumer",
        "tenure": "long_term",
        "lang": "zh",
    }
    data.update(overrides)
    return data


def fields(response) -> set[str]:
    return {e["field"] for e in response.json()["detail"]}


def test_created_with_attributes(factory, survey, session) -> None:
    r = factory.submit("telecom", body(factory), headers={"User-Agent": "pytest-agent"})
    assert r.status_code == 201, r.text
    stored = session.scalar(select(Response))
    assert str(stored.id) == r.json()["id"]
    assert stored.channel == "api"
    assert (stored.attributes, stored.lang) == (
        {"customer_type": "consumer", "tenure": "long_term"},
        "zh",
    )
    assert stored.user_agent == "pytest-agent"
    assert stored.client_ip is not None
    assert stored.answers[0] == 5 and len(stored.answers) == 37


def test_na_items_may_be_na_null_or_left_out(factory, survey, session) -> None:
    answers = factory.answers(3, NQ1="na", NQ3=None)
    del answers["NQ2"]
    r = factory.submit("telecom", body(factory, answers=answers))
    assert r.status_code == 201, r.text
    row = session.get(Response, uuid.UUID(r.json()["id"]))
    nq = [row.answers[ITEMS.index(c)] for c in ("NQ1", "NQ2", "NQ3", "NQ4")]
    assert nq == ["na", None, None, 3]  # not applicable apart from not answered


def test_idempotent_replay_returns_same_id_and_stores_once(factory, survey) -> None:
    first = factory.submit("telecom", body(factory), key="k-123")
    again = factory.submit("telecom", body(factory), key="k-123")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert factory.count() == 1


def test_idempotency_key_with_other_body_is_409(factory, survey) -> None:
    assert factory.submit("telecom", body(factory), key="k-1").status_code == 201
    r = factory.submit("telecom", body(factory, branch="BR02"), key="k-1")
    assert r.status_code == 409
    assert "Idempotency-Key" in r.json()["detail"]
    assert factory.count() == 1


def test_without_key_each_post_is_new(factory, survey) -> None:
    factory.submit("telecom", body(factory))
    factory.submit("telecom", body(factory))
    assert factory.count() == 2


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"TAN1": 8}, "answers.TAN1", "between 1 and 7"),
        ({"TAN1": 0}, "answers.TAN1", "between 1 and 7"),
        ({"REL3": 4.5}, "answers.REL3", "integer"),
        ({"REL3": "abc"}, "answers.REL3", "integer"),
        ({"REL3": True}, "answers.REL3", "integer"),
        ({"BOGUS9": 4}, "answers.BOGUS9", "unknown item"),
        ({"TAN2": None}, "answers.TAN2", "required"),
    ],
)
def test_bad_answer_is_422_naming_the_item(factory, survey, change, field, words) -> None:
    r = factory.submit("telecom", body(factory, answers=factory.answers(4, **change)))
    assert r.status_code == 422, r.text
    errors = {e["field"]: e["msg"] for e in r.json()["detail"]}
    assert field in errors and words in errors[field]
    assert factory.count() == 0


def test_missing_required_item(factory, survey) -> None:
    answers = factory.answers(4)
    del answers["LOY4"]
    r = factory.submit("telecom", body(factory, answers=answers))
    assert r.status_code == 422
    assert fields(r) == {"answers.LOY4"}
    assert factory.count() == 0


def test_all_problems_reported_at_once(factory, survey) -> None:
    answers = factory.answers(4, TAN1=9, NQ1="x", XX=1)
    del answers["SAT1"]
    r = factory.submit("telecom", body(factory, answers=answers, branch="NOPE", tenure="eternal"))
    assert r.status_code == 422
    assert fields(r) == {
        "answers.TAN1",
        "answers.NQ1",
        "answers.XX",
        "answers.SAT1",
        "branch",
        "tenure",
    }
    assert factory.count() == 0


def test_unknown_branch(factory, survey) -> None:
    r = factory.submit("telecom", body(factory, branch="BR99"))
    assert r.status_code == 422
    assert fields(r) == {"branch"}
    assert "BR99" in r.json()["detail"][0]["msg"]
    assert factory.count() == 0


@pytest.mark.parametrize(
    ("name", "value"), [("customer_type", "vip"), ("tenure", "forever"), ("lang", "fr")]
)
def test_unknown_attribute_code(factory, survey, name, value) -> None:
    r = factory.submit("telecom", body(factory, **{name: value}))
    assert r.status_code == 422
    assert fields(r) == {name}
    assert factory.count() == 0


def test_pydantic_errors_name_the_field(factory, survey) -> None:
    r = factory.submit("telecom", {"branch": "BR01"})
    assert r.status_code == 422
    assert "answers" in fields(r)
    r = factory.submit("telecom", {**body(factory), "unexpected": 1})
    assert r.status_code == 422 and "unexpected" in fields(r)
    assert factory.count() == 0


def test_malformed_json_is_422(factory, survey) -> None:
    r = factory.client.post(URL, content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    assert factory.count() == 0


def test_unknown_survey_is_404(factory, survey) -> None:
    r = factory.submit("nosuch", body(factory))
    assert r.status_code == 404
    assert "nosuch" in r.json()["detail"]
    assert factory.count() == 0


def test_closed_survey_is_409(factory, survey, researcher_headers) -> None:
    r = factory.client.patch(
        "/api/v1/surveys/telecom", json={"status": "closed"}, headers=researcher_headers
    )
    assert r.status_code == 200 and r.json()["status"] == "closed"
    r = factory.submit("telecom", body(factory))
    assert r.status_code == 409
    assert "closed" in r.json()["detail"]
    assert factory.count() == 0


def test_replay_after_close_still_returns_stored_id(factory, survey, researcher_headers) -> None:
    first = factory.submit("telecom", body(factory), key="late")
    factory.client.patch(
        "/api/v1/surveys/telecom", json={"status": "closed"}, headers=researcher_headers
    )
    again = factory.submit("telecom", body(factory), key="late")
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]


def test_body_over_limit_is_413(factory, survey) -> None:
    big = body(factory, answers={**factory.answers(4), "pad": "x" * 2_000_000})
    r = factory.submit("telecom", big)
    assert r.status_code == 413
    assert factory.count() == 0


def test_streamed_body_over_limit_is_413(factory, survey) -> None:
    def chunks():
        yield b'{"branch": "BR01", "answers": {"pad": "'
        for _ in range(300):
            yield b"x" * 10_000
        yield b'"}}'

    r = factory.client.post(URL, content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert factory.count() == 0


def test_anonymous_survey_keeps_no_client_and_coarse_time(factory, survey, session) -> None:
    factory.survey("anon", anonymous=True)
    r = factory.client.post(
        "/api/v1/surveys/anon/responses", json=body(factory), headers={"User-Agent": "secret-ua"}
    )
    assert r.status_code == 201
    stored = session.scalar(select(Response))
    assert stored.client_ip is None and stored.user_agent is None
    assert (stored.submitted_at.hour, stored.submitted_at.minute) == (0, 0)
