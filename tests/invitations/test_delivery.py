"""Sending, unit by unit: rate limit, retries with backoff, permanent failures, the SMTP URL,
the webhook's body template and its answers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.config import Settings
from app.invitations.models import InvitationMessage
from app.invitations.schemas import BatchCreate
from app.invitations.senders import Outgoing, SendError, SmtpConfig, WebhookSms
from app.invitations.service import Senders, create_batch, deliver_due, queue_reminders
from app.surveys.models import utcnow
from app.surveys.service import get_survey
from tests.conftest import Factory
from tests.invitations.conftest import SmsReceiver


class Flaky:
    """A sender that fails ``failures`` times (transient), then sends."""

    def __init__(self, failures: int = 0, permanent: bool = False) -> None:
        self.failures, self.permanent, self.sent = failures, permanent, []  # type: ignore[var-annotated]

    def send(self, message: Outgoing) -> None:
        if self.failures:
            self.failures -= 1
            raise SendError("try later", permanent=self.permanent)
        self.sent.append(message)


def batch(app: FastAPI, factory: Factory, n: int, **extra: Any) -> str:
    factory.branches()
    factory.survey("field", requires_token=True)
    data = BatchCreate(
        recipients=[{"email": f"u{i}@example.com", "branch": "BR01"} for i in range(n)],
        **extra,
    )
    with app.state.sessionmaker() as db:
        created, _ = create_batch(
            db, survey=get_survey(db, slug="field"), data=data, base_url="http://x"
        )
    return created.id


def states(app: FastAPI) -> list[tuple[str, int, str | None]]:
    with app.state.sessionmaker() as db:
        rows = db.scalars(select(InvitationMessage).order_by(InvitationMessage.id)).all()
        return [(m.state, m.attempts, m.error) for m in rows]


def test_the_rate_limit_spaces_the_sends(
    app: FastAPI, factory: Factory, settings: Settings
) -> None:
    batch(app, factory, 4)
    waits: list[float] = []
    now = [1000.0]  # a clock that moves only when the limiter sleeps

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    sender = Flaky()
    limited = settings.model_copy(update={"invitation_rate_per_s": 2.0})
    out = deliver_due(
        app.state.sessionmaker,
        settings=limited,
        senders=Senders(email=sender),
        sleep=sleep,
        clock=lambda: now[0],
    )
    assert out == {"sent": 4, "not_sent": 0}
    assert waits == [0.5, 0.5, 0.5]  # 2 a second
    assert [m.to for m in sender.sent] == [f"u{i}@example.com" for i in range(4)]


def test_retries_back_off_then_fail_with_the_reason(
    app: FastAPI, factory: Factory, settings: Settings
) -> None:
    batch(app, factory, 1)
    slow = settings.model_copy(update={"invitation_backoff_s": 3600, "invitation_max_attempts": 2})
    sender = Flaky(failures=5)
    deliver_due(app.state.sessionmaker, settings=slow, senders=Senders(email=sender))
    assert states(app) == [("queued", 1, "try later")]
    # not due again for an hour: another pass sends nothing
    deliver_due(app.state.sessionmaker, settings=slow, senders=Senders(email=sender))
    assert states(app) == [("queued", 1, "try later")]
    with app.state.sessionmaker() as db:
        m = db.scalars(select(InvitationMessage)).one()
        assert m.next_attempt_at is not None
        m.next_attempt_at = utcnow() - timedelta(seconds=1)
        db.commit()
    deliver_due(app.state.sessionmaker, settings=slow, senders=Senders(email=sender))
    assert states(app) == [("failed", 2, "try later")]


def test_permanent_failures_and_missing_senders_fail_at_once(
    app: FastAPI, factory: Factory, settings: Settings
) -> None:
    batch(app, factory, 1)
    deliver_due(app.state.sessionmaker, settings=settings, senders=Senders())
    [(state, attempts, error)] = states(app)
    assert (state, attempts) == ("failed", 1) and "PVM_SMTP_URL" in str(error)


def test_reminders_wait_the_days_and_stop_at_the_maximum(
    app: FastAPI, factory: Factory, settings: Settings
) -> None:
    batch(app, factory, 1, max_reminders=2, remind_after_days=3)
    sender = Flaky()
    deliver_due(app.state.sessionmaker, settings=settings, senders=Senders(email=sender))
    with app.state.sessionmaker() as db:
        assert queue_reminders(db) == 0  # sent just now
        assert queue_reminders(db, now=utcnow() + timedelta(days=3, minutes=1)) == 1
    deliver_due(app.state.sessionmaker, settings=settings, senders=Senders(email=sender))
    later = utcnow() + timedelta(days=3, minutes=1)
    with app.state.sessionmaker() as db:
        assert queue_reminders(db, now=later) == 1
    deliver_due(app.state.sessionmaker, settings=settings, senders=Senders(email=sender))
    with app.state.sessionmaker() as db:
        assert queue_reminders(db, now=later + timedelta(days=30)) == 0  # two sent: the maximum
    assert [
        m.subject.startswith("Reminder") or m.subject.startswith("提醒") for m in sender.sent
    ] == [
        False,
        True,
        True,
    ]


def test_smtp_urls() -> None:
    c = SmtpConfig.parse("smtps://mailer:p%40ss@mail.example:2465")
    assert (c.host, c.port, c.tls, c.user, c.password) == (
        "mail.example",
        2465,
        True,
        "mailer",
        "p@ss",
    )
    c = SmtpConfig.parse("smtp://mail.example")
    assert (c.port, c.tls, c.user) == (25, False, None)
    assert SmtpConfig.parse("smtps://mail.example").port == 465
    with pytest.raises(ValueError, match="PVM_SMTP_URL"):
        SmtpConfig.parse("http://mail.example")


def test_the_webhook_body_template_and_answers(sms_receiver: SmsReceiver) -> None:
    sms = WebhookSms(
        sms_receiver.url,
        body_template='{"to": "{to}", "dest": ["{to}"], "msg": "{text}", "n": 1}',
        auth_header="X-Api-Key: k1",
    )
    note = Outgoing(to="+8613700000000", subject="", text='Say "hi" {x}', lang="zh")
    sms.send(note)
    assert sms_receiver.received == [
        {"to": "+8613700000000", "dest": ["+8613700000000"], "msg": 'Say "hi" {x}', "n": 1}
    ]
    assert sms_receiver.headers[0]["X-Api-Key"] == "k1"
    sms_receiver.script = {"+8613700000000": [429, 401]}
    with pytest.raises(SendError) as transient:
        sms.send(note)
    assert not transient.value.permanent and "429" in transient.value.reason
    with pytest.raises(SendError) as refused:
        sms.send(note)
    assert refused.value.permanent and "401" in refused.value.reason


def test_settings_refuse_a_bad_smtp_url_or_sms_template() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="smtp://"):
        Settings(smtp_url="http://mail.example", _env_file=None)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="JSON template"):
        Settings(sms_webhook_body='{"to": ', _env_file=None)  # type: ignore[call-arg]
    assert Settings(smtp_url="", _env_file=None).smtp_url is None  # type: ignore[call-arg]
