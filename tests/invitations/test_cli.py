"""`pvm invitations remind|send|purge` against the configured database, SMTP server and
webhook."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app import cli
from app.config import Settings, get_settings
from tests.conftest import Factory
from tests.invitations.conftest import SmtpServer
from tests.invitations.test_invitations import wait_settled


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("database_url", "smtp_url", "smtp_from", "sms_webhook_url", "public_url"):
        monkeypatch.setenv(f"PVM_{name.upper()}", str(getattr(settings, name)))
    monkeypatch.setenv("PVM_ENVIRONMENT", "test")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_remind_send_and_purge(
    cli_env: None,
    capsys: Any,
    factory: Factory,
    client: TestClient,
    researcher_headers: dict[str, str],
    smtp_server: SmtpServer,
) -> None:
    factory.branches()
    factory.survey("field", requires_token=True)
    body = {
        "recipients": [{"email": "cli@example.com", "branch": "BR01", "lang": "en"}],
        "max_reminders": 1,
        "remind_after_days": 0,
    }
    created = client.post(
        "/api/v1/surveys/field/invitations", json=body, headers=researcher_headers
    )
    url = f"/api/v1/surveys/field/invitations/{created.json()['batch']}"
    wait_settled(client, url, researcher_headers)
    assert cli.main(["invitations", "remind", "--survey", "field", "--send"]) == 0
    out = capsys.readouterr().out
    assert "queued 1 reminders" in out and "sent 1 messages" in out
    subjects = sorted(str(m["Subject"]) for m in smtp_server.messages())
    assert len(subjects) == 2 and subjects[1].startswith("You are invited")
    assert subjects[0].startswith("Reminder")
    assert cli.main(["invitations", "remind"]) == 0  # at most one: nothing more
    assert "queued 0 reminders" in capsys.readouterr().out
    assert cli.main(["invitations", "remind", "--survey", "nope"]) == 1
    assert "not found" in capsys.readouterr().err
    client.patch("/api/v1/surveys/field", json={"status": "closed"}, headers=researcher_headers)
    assert cli.main(["invitations", "purge"]) == 0
    assert "of 1 invitations" in capsys.readouterr().out
    assert client.get(url, headers=researcher_headers).json()["messages"][0]["to"] is None
    assert cli.main(["invitations", "send"]) == 0
    assert "sent 0 messages" in capsys.readouterr().out
