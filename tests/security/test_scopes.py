"""Branch scopes beyond reads (issue 11, F6): imports, survey settings, invitation tokens.

A researcher key limited to BR01 used to import rows into BR05 (201) and PATCH
``min_group_size: 1`` (200), switching suppression off for everyone. Now a scoped key imports
only its branches' rows, may not edit surveys, and settings that weaken respondents' privacy
need an admin key.
"""

from __future__ import annotations

import uuid
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth.models import InvitationToken
from app.surveys.models import Survey
from tests.conftest import TELECOM_CSV


def csv_rows(branches: list[str]) -> bytes:
    frame = pd.read_csv(TELECOM_CSV, nrows=len(branches), dtype=str, keep_default_na=False)
    frame["branch"] = branches
    frame.insert(0, "id", [str(uuid.uuid4()) for _ in branches])
    return frame.to_csv(index=False).encode()


def test_scoped_key_imports_only_rows_of_its_branches(factory: Any, survey: Survey) -> None:
    br01 = factory.key("researcher", branches=["BR01"])
    r = factory.import_csv("telecom", csv_rows(["BR01", "BR05", "BR01", "BR05"]), br01)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert [e["row"] for e in detail] == [3, 5]  # the header is row 1
    assert all(
        e["errors"][0]["field"] == "branch" and "BR05" in e["errors"][0]["msg"] for e in detail
    )
    assert factory.count() == 0  # nothing imported
    assert factory.import_csv("telecom", csv_rows(["BR01", "BR01"]), br01).status_code == 201
    assert factory.count() == 2
    unscoped = factory.key("researcher")
    assert factory.import_csv("telecom", csv_rows(["BR05"]), unscoped).status_code == 201


def patch(factory: Any, headers: dict[str, str], **body: Any) -> Any:
    return factory.client.patch("/api/v1/surveys/telecom", json=body, headers=headers)


def test_scoped_keys_may_not_edit_surveys(factory: Any, survey: Survey) -> None:
    for role in ("researcher", "admin"):
        scoped = factory.key(role, branches=["BR01"])
        for body in ({"min_group_size": 1}, {"title": {"en": "x"}}, {"status": "closed"}):
            r = patch(factory, scoped, **body)
            assert r.status_code == 403, (role, body, r.text)
    state = factory.client.get("/api/v1/surveys/telecom", headers=factory.key("operator")).json()
    assert state["min_group_size"] == 5 and state["status"] == "open"


def test_weakening_privacy_is_for_admins_only(
    factory: Any, survey: Survey, session: Session, researcher_headers: dict[str, str]
) -> None:
    admin = factory.key("admin")
    assert patch(factory, admin, requires_token=True, anonymous=True).status_code == 200
    for field, value in (("min_group_size", 1), ("requires_token", False), ("anonymous", False)):
        r = patch(factory, researcher_headers, **{field: value})
        assert r.status_code == 403, r.text
        assert [e["field"] for e in r.json()["detail"]] == [field]
    r = patch(factory, researcher_headers, min_group_size=4, anonymous=False, title={"en": "t"})
    assert r.status_code == 403
    assert {e["field"] for e in r.json()["detail"]} == {"min_group_size", "anonymous"}
    session.expire_all()
    stored = session.scalar(select(Survey).where(Survey.slug == "telecom"))
    assert stored is not None
    assert (stored.min_group_size, stored.requires_token, stored.anonymous) == (5, True, True)
    assert stored.title != {"en": "t"}  # nothing of a refused request is stored
    # strengthening is a researcher's right; weakening an admin's
    assert patch(factory, researcher_headers, min_group_size=8).json()["min_group_size"] == 8
    r = patch(factory, admin, min_group_size=3, requires_token=False, anonymous=False)
    assert r.status_code == 200, r.text
    assert (r.json()["min_group_size"], r.json()["requires_token"], r.json()["anonymous"]) == (
        3,
        False,
        False,
    )


def test_anonymity_cannot_be_switched_on_after_responses(
    factory: Any, survey: Survey, researcher_headers: dict[str, str]
) -> None:
    assert factory.submit("telecom", {"branch": "BR01", "answers": factory.answers()}).is_success
    r = patch(factory, researcher_headers, anonymous=True)
    assert r.status_code == 409 and r.json()["detail"][0]["field"] == "anonymous"


def test_tokens_only_for_branches_in_the_keys_scope(
    factory: Any, survey: Survey, session: Session
) -> None:
    scoped_admin = factory.key("admin", branches=["BR01"])
    url = "/api/v1/surveys/telecom/tokens"
    r = factory.client.post(url, json={"count": 3, "branch": "BR02"}, headers=scoped_admin)
    assert r.status_code == 403 and "BR02" in r.json()["detail"]
    assert session.scalar(select(func.count()).select_from(InvitationToken)) == 0
    r = factory.client.post(url, json={"count": 3, "branch": "BR01"}, headers=scoped_admin)
    assert r.status_code == 201 and len(r.json()["tokens"]) == 3
