"""Invitations: a batch of recipients becomes single-use tokens and queued messages; sending,
retries, reminders, "opened" and the deletion of contact details when a survey closes.

A message's state is ``queued`` (waiting to be sent, also between retries: ``error`` holds the
last failure), ``sent`` or ``failed`` (``error`` says why). ``opened`` is the first load of the
questionnaire with the token (:func:`record_open`); ``completed`` is the token's use (its
``used_at``), so a message is never linked to a response. Sending is :func:`deliver_due`,
called by the background jobs of :mod:`app.invitations.jobs`.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from app.audit.service import SYSTEM, Actor, record
from app.auth.models import InvitationToken
from app.auth.service import find_token, issue_tokens
from app.config import Settings
from app.db import begin_write
from app.errors import Conflict, InvalidInput, NotFound, field_error
from app.invitations.models import InvitationBatch, InvitationMessage
from app.invitations.schemas import (
    BatchCreate,
    BatchRead,
    MessageRead,
)
from app.invitations.senders import Outgoing, Sender, SendError
from app.surveys.models import Branch, Survey, utcnow
from app.surveys.questionnaire import fill, survey_title, ui_strings
from app.surveys.service import as_utc, branch_ids, survey_spec

logger = logging.getLogger(__name__)

CLAIM_FOR = timedelta(minutes=5)  # a sender that died mid-send frees its message after this
CONTACTS_DELETED = "contact details deleted: the survey closed"


# ---- batches ---------------------------------------------------------------------------------
def invitation_link(base_url: str, *, survey: Survey, branch: str, token: str, lang: str) -> str:
    query = urlencode({"branch": branch, "token": token, "lang": lang})
    return f"{base_url.rstrip('/')}/s/{survey.slug}?{query}"


def _check_takes_invitations(survey: Survey) -> None:
    closed = survey.closed_reason()
    if closed is not None and not survey.not_yet_open:
        raise Conflict(closed)
    if not survey.requires_token:
        raise Conflict(
            [
                field_error(
                    "requires_token",
                    msg=f"survey {survey.slug} takes no invitation tokens: set requires_token "
                    "first (PATCH /api/v1/surveys/{slug}), so completions are counted",
                )
            ]
        )


def create_batch(
    session: Session,
    *,
    survey: Survey,
    data: BatchCreate,
    base_url: str,
    actor: Actor = SYSTEM,
) -> tuple[InvitationBatch, int]:
    """Store the batch: one token and one queued message per recipient (all or nothing).
    InvalidInput names each bad recipient field; Conflict for a closed survey or one that
    takes no tokens."""
    _check_takes_invitations(survey)
    spec = survey_spec(survey)
    languages = list(spec.languages)
    codes = sorted({r.branch for r in data.recipients})
    known = branch_ids(session, codes=codes)
    errors = []
    for i, r in enumerate(data.recipients):
        if r.branch not in known:
            errors.append(field_error("recipients", i, "branch", msg=f"unknown branch {r.branch}"))
        if r.lang is not None and r.lang not in languages:
            msg = f"not a language of the instrument ({', '.join(languages)})"
            errors.append(field_error("recipients", i, "lang", msg=msg))
    if errors:
        raise InvalidInput(errors)
    begin_write(session)
    batch = InvitationBatch(
        id=uuid.uuid4().hex,
        survey_id=survey.id,
        created_by_key_id=actor.key_id,
        max_reminders=data.max_reminders,
        remind_after_days=data.remind_after_days,
    )
    session.add(batch)
    now = utcnow()
    for code in codes:
        mine = [r for r in data.recipients if r.branch == code]
        issued = issue_tokens(session, survey=survey, branch_id=known[code], count=len(mine))
        for r, (token, raw) in zip(mine, issued, strict=True):
            lang = r.lang or languages[0]
            link = invitation_link(base_url, survey=survey, branch=code, token=raw, lang=lang)
            session.add(
                InvitationMessage(
                    batch_id=batch.id,
                    survey_id=survey.id,
                    branch_id=known[code],
                    token_id=token.id,
                    channel="email" if r.email else "sms",
                    email=r.email,
                    phone=r.phone,
                    link=link,
                    attributes=dict(r.attributes),
                    lang=lang,
                    state="queued",
                    kind="invite",
                    attempts=0,
                    reminders_sent=0,
                    next_attempt_at=now,
                )
            )
    detail = {"batch": batch.id, "recipients": len(data.recipients)}
    record(session, actor=actor, action="invitations.create", target=survey.slug, detail=detail)
    session.commit()
    return batch, len(data.recipients)


def get_batch(session: Session, *, survey: Survey, batch_id: str) -> InvitationBatch:
    batch = session.get(InvitationBatch, batch_id)
    if batch is None or batch.survey_id != survey.id:
        raise NotFound(f"survey {survey.slug} has no invitation batch {batch_id}")
    return batch


def mask(contact: str | None) -> str | None:
    """A contact as the API shows it: enough to recognise, not enough to harvest."""
    if not contact:
        return None
    if "@" in contact:
        local, _, domain = contact.partition("@")
        return f"{local[:1]}***@{domain}"
    return f"***{contact[-4:]}"


def read_batch(
    session: Session, *, survey: Survey, batch_id: str, branches: Sequence[str] | None = None
) -> BatchRead:
    """The batch with every message's state (only those of ``branches`` when given)."""
    batch = get_batch(session, survey=survey, batch_id=batch_id)
    query = (
        select(InvitationMessage, Branch.code, InvitationToken.used_at)
        .join(Branch, Branch.id == InvitationMessage.branch_id)
        .join(InvitationToken, InvitationToken.id == InvitationMessage.token_id)
        .where(InvitationMessage.batch_id == batch.id)
        .order_by(InvitationMessage.id)
    )
    if branches is not None:
        query = query.where(Branch.code.in_(branches))
    messages = []
    counts = {"queued": 0, "sent": 0, "failed": 0, "opened": 0, "completed": 0}
    for m, code, used_at in session.execute(query):
        counts[m.state] += 1
        counts["opened"] += m.opened_at is not None
        counts["completed"] += used_at is not None
        messages.append(
            MessageRead(
                id=m.id,
                channel=m.channel,
                to=mask(m.email or m.phone),
                branch=code,
                lang=m.lang,
                attributes=m.attributes or {},
                state=m.state,
                error=m.error,
                attempts=m.attempts,
                sent_at=m.sent_at,
                reminders_sent=m.reminders_sent,
                opened=m.opened_at is not None,
                opened_at=m.opened_at,
                completed=used_at is not None,
            )
        )
    return BatchRead(
        batch=batch.id,
        survey=survey.slug,
        created_at=batch.created_at,
        max_reminders=batch.max_reminders,
        remind_after_days=batch.remind_after_days,
        counts=counts,
        messages=messages,
    )


# ---- opened ------------------------------------------------------------------------------------
def record_open(session: Session, *, survey: Survey, token: str) -> bool:
    """Mark the message of ``token`` opened (first time only); True when it was. Never fails
    the page: an unknown token is simply not an invitation."""
    row = find_token(session, survey=survey, raw=token)
    if row is None:
        return False
    message_id = session.scalar(
        select(InvitationMessage.id).where(
            InvitationMessage.token_id == row.id, InvitationMessage.opened_at.is_(None)
        )
    )
    if message_id is None:
        session.commit()  # end the read
        return False
    begin_write(session)
    done = session.execute(
        update(InvitationMessage)
        .where(InvitationMessage.id == message_id, InvitationMessage.opened_at.is_(None))
        .values(opened_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return bool(done.rowcount)  # type: ignore[attr-defined]


# ---- sending -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Senders:
    """The sender of each channel (None: not configured)."""

    email: Sender | None = None
    sms: Sender | None = None

    def of(self, channel: str) -> Sender | None:
        return self.email if channel == "email" else self.sms


def compose(session: Session, message: InvitationMessage) -> Outgoing:
    """The message in its language: the questionnaire catalogue's invite_* (or remind_*) texts
    with the survey's title, the branch's name and the link."""
    survey = session.get(Survey, message.survey_id)
    branch = session.get(Branch, message.branch_id)
    assert survey is not None and branch is not None
    spec = survey_spec(survey)
    t = ui_strings(message.lang, spec)
    values = {
        "title": survey_title(survey.title, spec, message.lang),
        "branch": branch.name_in(message.lang),
        "link": message.link or "",
    }
    kind = "remind" if message.kind == "remind" else "invite"
    return Outgoing(
        to=message.email or message.phone or "",
        subject=fill(t[f"{kind}_subject"], **values),
        text=fill(t[f"{kind}_body"], **values),
        lang=message.lang,
    )


def _claim(session: Session, *, now: datetime) -> InvitationMessage | None:
    """Take the next due message for this sender (a conditional UPDATE: one sender each)."""
    while True:
        session.rollback()  # a fresh snapshot (SQLite) before each read
        candidate = session.scalar(
            select(InvitationMessage.id)
            .where(
                InvitationMessage.state == "queued",
                InvitationMessage.next_attempt_at <= now,
                or_(
                    InvitationMessage.claimed_until.is_(None),
                    InvitationMessage.claimed_until < now,
                ),
            )
            .order_by(InvitationMessage.next_attempt_at, InvitationMessage.id)
            .limit(1)
        )
        if candidate is None:
            session.rollback()
            return None
        begin_write(session)
        won = session.execute(
            update(InvitationMessage)
            .where(
                InvitationMessage.id == candidate,
                InvitationMessage.state == "queued",
                or_(
                    InvitationMessage.claimed_until.is_(None),
                    InvitationMessage.claimed_until < now,
                ),
            )
            .values(claimed_until=now + CLAIM_FOR)
            .execution_options(synchronize_session=False)
        )
        session.commit()
        if won.rowcount:  # type: ignore[attr-defined]
            return session.get(InvitationMessage, candidate, populate_existing=True)


def _finish(session: Session, message_id: int, **values: Any) -> None:
    begin_write(session)
    session.execute(
        update(InvitationMessage)
        .where(InvitationMessage.id == message_id)
        .values(claimed_until=None, **values)
        .execution_options(synchronize_session=False)
    )
    session.commit()


def send_one(
    session: Session, message: InvitationMessage, *, senders: Senders, settings: Settings
) -> bool:
    """Send a claimed message and record the outcome; True when it was sent."""
    now = utcnow()
    survey = session.get(Survey, message.survey_id)
    sender = senders.of(message.channel)
    try:
        if survey is None or (survey.closed_reason() and not survey.not_yet_open):
            raise SendError("the survey closed before the message was sent", permanent=True)
        if message.contacts_deleted_at is not None or not (message.email or message.phone):
            raise SendError(CONTACTS_DELETED, permanent=True)
        if sender is None:
            setting = "PVM_SMTP_URL" if message.channel == "email" else "PVM_SMS_WEBHOOK_URL"
            raise SendError(f"no {message.channel} sender configured ({setting})", permanent=True)
        sender.send(compose(session, message))
    except SendError as exc:
        attempts = message.attempts + 1
        if exc.permanent or attempts >= settings.invitation_max_attempts:
            _finish(session, message.id, attempts=attempts, state="failed", error=exc.reason)
        else:
            delay = settings.invitation_backoff_s * 2 ** (attempts - 1)
            _finish(
                session,
                message.id,
                attempts=attempts,
                error=exc.reason,
                next_attempt_at=now + timedelta(seconds=delay),
            )
        logger.info("invitation message %s not sent: %s", message.id, exc.reason)
        return False
    values: dict[str, Any] = {"state": "sent", "error": None, "attempts": 0, "last_sent_at": now}
    if message.kind == "remind":
        values["reminders_sent"] = message.reminders_sent + 1
    else:
        values["sent_at"] = now
    _finish(session, message.id, **values)
    return True


def deliver_due(
    factory: sessionmaker[Session],
    *,
    settings: Settings,
    senders: Senders,
    limit: int = 1000,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, int]:
    """Send due messages, one at a time and at most ``settings.invitation_rate_per_s`` a
    second, until none is due (or ``limit``); returns how many were sent and not sent."""
    interval = 1.0 / settings.invitation_rate_per_s
    sent = failed = 0
    last = -interval
    with factory() as session:
        for _ in range(limit):
            message = _claim(session, now=utcnow())
            if message is None:
                break
            wait = last + interval - clock()
            if wait > 0:
                sleep(wait)
            last = clock()
            if send_one(session, message, senders=senders, settings=settings):
                sent += 1
            else:
                failed += 1
    return {"sent": sent, "not_sent": failed}


def next_due(session: Session) -> datetime | None:
    """When the next queued message is due (None: nothing queued)."""
    due = session.scalar(
        select(func.min(InvitationMessage.next_attempt_at)).where(
            InvitationMessage.state == "queued"
        )
    )
    session.rollback()
    return due


# ---- reminders ---------------------------------------------------------------------------------
def queue_reminders(
    session: Session,
    *,
    survey: Survey | None = None,
    batch_id: str | None = None,
    branches: Sequence[str] | None = None,
    now: datetime | None = None,
) -> int:
    """Queue a reminder for every sent message whose recipient has not completed, has had
    fewer than the batch's ``max_reminders`` and was last written to ``remind_after_days``
    ago or more (of one batch, one survey's batches, or all of open surveys). Returns how
    many were queued."""
    now = now or utcnow()
    query = (
        select(InvitationMessage, InvitationBatch)
        .join(InvitationBatch, InvitationBatch.id == InvitationMessage.batch_id)
        .join(InvitationToken, InvitationToken.id == InvitationMessage.token_id)
        .where(
            InvitationMessage.state == "sent",
            InvitationToken.used_at.is_(None),
            InvitationMessage.reminders_sent < InvitationBatch.max_reminders,
            InvitationMessage.contacts_deleted_at.is_(None),
        )
    )
    if batch_id is not None:
        query = query.where(InvitationBatch.id == batch_id)
    if survey is not None:
        query = query.where(InvitationBatch.survey_id == survey.id)
    if branches is not None:
        query = query.join(Branch, Branch.id == InvitationMessage.branch_id).where(
            Branch.code.in_(branches)
        )
    begin_write(session)
    open_surveys: dict[int, bool] = {}
    due = []
    for message, batch in session.execute(query):
        if message.survey_id not in open_surveys:
            owner = session.get(Survey, message.survey_id)
            open_surveys[message.survey_id] = owner is not None and owner.is_open
        last = as_utc(message.last_sent_at) if message.last_sent_at is not None else None
        ready = last is None or last + timedelta(days=batch.remind_after_days) <= now
        if open_surveys[message.survey_id] and ready:
            due.append(message.id)
    if due:
        session.execute(
            update(InvitationMessage)
            .where(InvitationMessage.id.in_(due))
            .values(
                state="queued",
                kind="remind",
                attempts=0,
                error=None,
                next_attempt_at=min(now, utcnow()),  # due at once, also for a `now` ahead
            )
            .execution_options(synchronize_session=False)
        )
    session.commit()
    return len(due)


# ---- contact details ---------------------------------------------------------------------------
def purge_closed_contacts(
    session: Session, *, settings: Settings, now: datetime | None = None, actor: Actor = SYSTEM
) -> int:
    """Delete the contact details (and links) of invitations of closed surveys: a survey
    closed or archived, or past its closing time by ``invitation_contacts_days_after_close``
    days. Queued messages of those surveys fail. Returns how many messages were cleared."""
    if settings.invitation_keep_contacts:
        return 0
    now = now or utcnow()
    grace = timedelta(days=settings.invitation_contacts_days_after_close)
    surveys = session.scalars(
        select(Survey).where(
            Survey.id.in_(
                select(InvitationMessage.survey_id).where(
                    InvitationMessage.contacts_deleted_at.is_(None)
                )
            )
        )
    ).all()
    closed = [
        s
        for s in surveys
        if s.status in ("closed", "archived")
        or (s.closes_at is not None and as_utc(s.closes_at) + grace <= now)
    ]
    total = 0
    for s in closed:
        begin_write(session)
        session.execute(
            update(InvitationMessage)
            .where(InvitationMessage.survey_id == s.id, InvitationMessage.state == "queued")
            .values(state="failed", error=CONTACTS_DELETED)
            .execution_options(synchronize_session=False)
        )
        done = session.execute(
            update(InvitationMessage)
            .where(
                InvitationMessage.survey_id == s.id,
                InvitationMessage.contacts_deleted_at.is_(None),
            )
            .values(email=None, phone=None, link=None, contacts_deleted_at=now)
            .execution_options(synchronize_session=False)
        )
        count = int(done.rowcount)  # type: ignore[attr-defined]
        record(
            session,
            actor=actor,
            action="invitations.contacts_deleted",
            target=s.slug,
            detail={"messages": count},
        )
        session.commit()
        total += count
    session.rollback()
    return total
