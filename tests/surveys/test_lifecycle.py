"""Survey lifecycle (issue 17 item 3): status draft/open/closed/archived and opening/closing
times. A survey that takes no answers refuses API submissions with 409 and shows a friendly page
in the page's language; nothing is stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.surveys.models import Survey
from tests.conftest import Factory

PAST = (datetime.now(UTC) - timedelta(days=1)).isoformat()
FUTURE = (datetime.now(UTC) + timedelta(days=1)).isoformat()


def _patch(client: TestClient, headers: dict[str, str], **body: Any) -> Any:
    return client.patch("/api/v1/surveys/telecom", json=body, headers=headers)


def test_existing_surveys_are_open_with_no_dates(
    client: TestClient, survey: Survey, operator_headers: dict[str, str]
) -> None:
    body = client.get("/api/v1/surveys/telecom", headers=operator_headers).json()
    assert (body["status"], body["opens_at"], body["closes_at"]) == ("open", None, None)


@pytest.mark.parametrize(
    ("change", "kind", "page_status", "words"),
    [
        ({"status": "draft"}, "notyet", 409, ("is draft", "问卷尚未开放")),
        ({"status": "archived"}, "closed", 410, ("is archived", "问卷已结束")),
        ({"status": "closed"}, "closed", 410, ("is closed", "问卷已结束")),
        ({"opens_at": FUTURE}, "notyet", 409, ("opens at", "问卷尚未开放")),
        ({"closes_at": PAST}, "closed", 410, ("closed at", "问卷已结束")),
    ],
)
def test_not_open_refuses_and_stores_nothing(
    client: TestClient,
    factory: Factory,
    survey: Survey,
    researcher_headers: dict[str, str],
    change: dict[str, str],
    kind: str,
    page_status: int,
    words: tuple[str, str],
) -> None:
    assert _patch(client, researcher_headers, **change).status_code == 200
    r = factory.submit("telecom", {"branch": "BR01", "answers": factory.answers()})
    assert r.status_code == 409
    assert words[0] in r.json()["detail"]
    page = client.get("/s/telecom", params={"branch": "BR01", "lang": "zh"})
    assert page.status_code == page_status
    assert words[1] in page.text and f"message {kind}" in page.text
    assert "This survey" in client.get("/s/telecom", params={"lang": "en"}).text
    post = client.post("/s/telecom", data={"lang": "en", "branch": "BR01"})
    assert post.status_code == page_status and "This survey" in post.text
    assert factory.count() == 0


def test_within_the_dates_it_takes_answers(
    client: TestClient, factory: Factory, survey: Survey, researcher_headers: dict[str, str]
) -> None:
    r = _patch(client, researcher_headers, opens_at=PAST, closes_at=FUTURE)
    assert r.status_code == 200
    assert r.json()["opens_at"] is not None and r.json()["closes_at"] is not None
    r = factory.submit("telecom", {"branch": "BR01", "answers": factory.answers()})
    assert r.status_code == 201
    # null clears a date; reopening a closed survey takes answers again
    assert _patch(client, researcher_headers, status="closed").status_code == 200
    r = _patch(client, researcher_headers, status="open", closes_at=None)
    assert r.status_code == 200 and r.json()["closes_at"] is None
    assert r.json()["opens_at"] is not None
    r = factory.submit("telecom", {"branch": "BR01", "answers": factory.answers()})
    assert r.status_code == 201
    assert factory.count() == 2


def test_bad_dates_are_422_naming_the_field(
    client: TestClient, survey: Survey, researcher_headers: dict[str, str]
) -> None:
    r = _patch(client, researcher_headers, opens_at=FUTURE, closes_at=PAST)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "closes_at"
    r = _patch(client, researcher_headers, opens_at="2026-12-01T10:00:00")  # no time zone
    assert r.status_code == 422 and "opens_at" in r.text
    r = _patch(client, researcher_headers, status="paused")
    assert r.status_code == 422 and "status" in r.text
    body = client.get("/api/v1/surveys/telecom", headers=researcher_headers).json()
    assert (body["status"], body["opens_at"], body["closes_at"]) == ("open", None, None)
