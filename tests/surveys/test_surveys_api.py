"""Branches, instruments, surveys and invitation tokens over the API."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.auth.models import InvitationToken
from app.instruments.registry import list_instruments


def test_branches_create_list_and_duplicate(factory, admin_headers, operator_headers) -> None:
    c = factory.client
    r = c.post(
        "/api/v1/branches",
        json={"code": "BR01", "name": "One", "region": "N"},
        headers=admin_headers,
    )
    assert r.status_code == 201
    assert r.json() == {"code": "BR01", "name": "One", "region": "N", "names": {}}
    r = c.post("/api/v1/branches", json={"code": "BR01", "name": "Again"}, headers=admin_headers)
    assert r.status_code == 409
    r = c.post("/api/v1/branches", json={"code": "bad code!", "name": "x"}, headers=admin_headers)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "code"
    assert [b["code"] for b in c.get("/api/v1/branches", headers=operator_headers).json()] == [
        "BR01"
    ]


def test_branch_list_respects_scope(factory, survey) -> None:
    headers = factory.key("operator", branches=["BR02", "BR05"])
    codes = [b["code"] for b in factory.client.get("/api/v1/branches", headers=headers).json()]
    assert codes == ["BR02", "BR05"]


def test_instruments(factory, operator_headers) -> None:
    listed = factory.client.get("/api/v1/instruments", headers=operator_headers).json()
    # every instrument in instruments/ (the library, see tests/instruments/test_library.py)
    ids = [i["id"] for i in listed]
    assert sorted(ids) == sorted(s.id for s in list_instruments())
    telecom = next(i for i in listed if i["id"] == "telecom-pv")
    assert telecom["version"] == 2  # the current version; 1 stays readable
    assert {"zh", "en"} <= set(telecom["title"])
    assert [c["code"] for c in telecom["constructs"]][:2] == ["TAN", "REL"]
    full = factory.client.get("/api/v1/instruments/telecom-pv", headers=operator_headers).json()
    assert len(full["items"]) == 43
    assert {i["code"] for i in full["items"] if i["allow_na"]} == {f"NQ{k}" for k in range(2, 7)}
    url = "/api/v1/instruments/telecom-pv?version=1"
    v1 = factory.client.get(url, headers=operator_headers).json()
    assert len(v1["items"]) == 37
    assert {i["code"] for i in v1["items"] if i["allow_na"]} == {"NQ1", "NQ2", "NQ3", "NQ4"}
    assert "PV  ~" in full["default_model"] or "PV ~" in full["default_model"]
    assert len(full["content_hash"]) == 64
    r = factory.client.get("/api/v1/instruments/nope", headers=operator_headers)
    assert r.status_code == 404


def test_survey_create_read_list(factory, survey, researcher_headers, operator_headers) -> None:
    c = factory.client
    r = c.post(
        "/api/v1/surveys",
        json={
            "slug": "2026q4",
            "instrument": "telecom-pv",
            "title": {"en": "Q4"},
            "min_group_size": 8,
        },
        headers=researcher_headers,
    )
    assert r.status_code == 201, r.text
    body = r.json()
    # a new survey gets the current version (2); the fixture's survey stays on version 1
    assert (body["slug"], body["instrument_id"], body["instrument_version"]) == (
        "2026q4",
        "telecom-pv",
        2,
    )
    assert (
        c.get("/api/v1/surveys/telecom", headers=operator_headers).json()["instrument_version"] == 1
    )
    r = c.post(
        "/api/v1/surveys",
        json={"slug": "old", "instrument": "telecom-pv", "instrument_version": 1},
        headers=researcher_headers,
    )
    assert r.status_code == 201 and r.json()["instrument_version"] == 1
    assert body["min_group_size"] == 8 and body["status"] == "open"
    assert c.get("/api/v1/surveys/2026q4", headers=operator_headers).json()["title"] == {"en": "Q4"}
    slugs = [s["slug"] for s in c.get("/api/v1/surveys", headers=operator_headers).json()]
    assert slugs == ["telecom", "2026q4", "old"]
    assert (
        c.post("/api/v1/surveys", json={"slug": "2026q4"}, headers=researcher_headers).status_code
        == 409
    )
    r = c.post(
        "/api/v1/surveys", json={"slug": "x", "instrument": "nope"}, headers=researcher_headers
    )
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "instrument"
    assert c.get("/api/v1/surveys/none", headers=operator_headers).status_code == 404


@pytest.fixture
def token_survey(factory, survey):
    return factory.survey("invite", requires_token=True)


def tokens(factory, admin_headers, branch="BR01", count=2) -> list[str]:
    r = factory.client.post(
        "/api/v1/surveys/invite/tokens",
        json={"count": count, "branch": branch},
        headers=admin_headers,
    )
    assert r.status_code == 201, r.text
    assert r.json()["branch"] == branch and len(r.json()["tokens"]) == count
    return r.json()["tokens"]


def test_tokens_are_stored_hashed(factory, token_survey, admin_headers, session) -> None:
    raw = tokens(factory, admin_headers)
    stored = session.scalars(select(InvitationToken.token_hash)).all()
    assert len(stored) == 2 and not set(raw) & set(stored)


def test_token_single_use_and_branch_bound(factory, token_survey, admin_headers) -> None:
    raw = tokens(factory, admin_headers)
    answers = factory.answers(4)
    ok = {"branch": "BR01", "answers": answers, "token": raw[0]}
    assert factory.submit("invite", ok).status_code == 201
    reused = factory.submit("invite", ok)
    assert reused.status_code == 409 and "already been used" in reused.json()["detail"]
    other_branch = factory.submit("invite", {**ok, "branch": "BR02", "token": raw[1]})
    assert other_branch.status_code == 403
    assert factory.count("invite") == 1


@pytest.mark.parametrize("token", [None, "", "not-a-token"])
def test_missing_or_unknown_token_is_403(factory, token_survey, admin_headers, token) -> None:
    tokens(factory, admin_headers)
    r = factory.submit("invite", {"branch": "BR01", "answers": factory.answers(4), "token": token})
    assert r.status_code == 403
    assert "token" in r.json()["detail"]
    assert factory.count("invite") == 0


def test_invalid_answers_do_not_use_up_the_token(factory, token_survey, admin_headers) -> None:
    raw = tokens(factory, admin_headers, count=1)
    bad = {"branch": "BR01", "answers": factory.answers(9), "token": raw[0]}
    assert factory.submit("invite", bad).status_code == 422
    good = {**bad, "answers": factory.answers(4)}
    assert factory.submit("invite", good).status_code == 201


def test_token_of_another_survey_is_refused(factory, token_survey, admin_headers) -> None:
    raw = tokens(factory, admin_headers, count=1)
    factory.survey("invite2", requires_token=True)
    r = factory.submit(
        "invite2", {"branch": "BR01", "answers": factory.answers(4), "token": raw[0]}
    )
    assert r.status_code == 403


def test_tokens_need_admin_and_known_branch(
    factory, token_survey, researcher_headers, admin_headers
) -> None:
    url = "/api/v1/surveys/invite/tokens"
    assert (
        factory.client.post(
            url, json={"count": 1, "branch": "BR01"}, headers=researcher_headers
        ).status_code
        == 403
    )
    r = factory.client.post(url, json={"count": 1, "branch": "BR77"}, headers=admin_headers)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "branch"
    r = factory.client.post(url, json={"count": 0, "branch": "BR01"}, headers=admin_headers)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "count"
