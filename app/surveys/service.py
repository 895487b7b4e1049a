"""Survey service: branches, pinned instrument versions, surveys, submissions and the item frame.

Every response is written by :func:`insert_responses` (single submissions, imports, the demo), so
work that must follow each insert (e.g. aggregate tables) has exactly one place to hook in.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, time
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.audit.service import SYSTEM, Actor
from app.auth.service import claim_token, link_token
from app.db import begin_write
from app.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound, field_error
from app.instruments.service import (
    ensure_instrument,
    get_instrument_definition,
    instrument_for_survey,
    sync_instruments,
)
from app.reporting.aggregates import apply_responses
from app.surveys import partials, quality
from app.surveys.frames import (
    META_COLUMNS,
    as_utc,
    frame_columns,
    load_item_frame,
    load_stored_frame,
)
from app.surveys.lifecycle import audit_privacy_change, privacy_settings
from app.surveys.models import Branch, Response, Survey, utcnow
from app.surveys.schemas import (
    BranchCreate,
    BranchUpdate,
    ClientInfo,
    ResponseCreate,
    SurveyCreate,
    SurveyUpdate,
)
from app.surveys.specs import instrument_spec, survey_spec
from app.surveys.validation import check_answers, check_attributes, check_lang

logger = logging.getLogger(__name__)

# Re-exported: the item frame, the pinned specs and the instrument versions (whose home is
# app.instruments.service) are part of this module's interface.
__all__ = [
    "META_COLUMNS",
    "as_utc",
    "ensure_instrument",
    "frame_columns",
    "get_instrument_definition",
    "instrument_spec",
    "load_item_frame",
    "load_stored_frame",
    "survey_spec",
    "sync_instruments",
]


# ---- branches ------------------------------------------------------------------------------
def _commit_new(session: Session, row: Branch | Survey, *, taken: str) -> None:
    """Stores a row whose unique key was checked free; one stored meanwhile is a Conflict too."""
    session.add(row)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict(taken) from None


def create_branch(session: Session, *, data: BranchCreate) -> Branch:
    begin_write(session)
    taken = f"branch {data.code} already exists"
    if session.scalar(select(Branch.id).where(Branch.code == data.code)) is not None:
        raise Conflict(taken)
    branch = Branch(code=data.code, name=data.name, region=data.region, names=data.names)
    _commit_new(session, branch, taken=taken)
    return branch


def get_branch(session: Session, *, code: str) -> Branch:
    branch = session.scalar(select(Branch).where(Branch.code == code))
    if branch is None:
        raise NotFound(f"branch {code} not found")
    return branch


def update_branch(session: Session, *, code: str, data: BranchUpdate) -> Branch:
    """Change a branch's name, region or names per language (merged; null removes one)."""
    begin_write(session)
    branch = get_branch(session, code=code)
    if data.name is not None:
        branch.name = data.name
    if "region" in data.model_fields_set:
        branch.region = data.region
    if data.names is not None:
        names = dict(branch.names or {})
        for lang, text in data.names.items():
            if text is None:
                names.pop(lang, None)
            else:
                names[lang] = text
        branch.names = names or None  # a new dict: the JSON column sees the change
    session.commit()
    return branch


def branch_display_names(
    session: Session, *, lang: str, codes: Sequence[str] | None = None
) -> dict[str, str]:
    """{code: name in ``lang``} of the branches (``codes``, else all)."""
    return {b.code: b.name_in(lang) for b in list_branches(session, codes=codes)}


def list_branches(session: Session, *, codes: Sequence[str] | None = None) -> list[Branch]:
    query = select(Branch).order_by(Branch.code)
    if codes is not None:
        query = query.where(Branch.code.in_(codes))
    return list(session.scalars(query))


def branch_ids(session: Session, *, codes: Sequence[str] | None = None) -> dict[str, int]:
    query = select(Branch.code, Branch.id).order_by(Branch.code)
    if codes is not None:
        query = query.where(Branch.code.in_(codes))
    return {code: id_ for code, id_ in session.execute(query)}


# ---- surveys -------------------------------------------------------------------------------
def create_survey(session: Session, *, data: SurveyCreate) -> Survey:
    begin_write(session)
    taken = f"survey {data.slug} already exists"
    if session.scalar(select(Survey.id).where(Survey.slug == data.slug)) is not None:
        raise Conflict(taken)
    instrument = instrument_for_survey(
        session, instrument_id=data.instrument, version=data.instrument_version
    )
    survey = Survey(
        slug=data.slug,
        instrument_id=instrument.id,
        instrument_version=instrument.version,
        title=data.title or dict(instrument.definition.get("title", {})),
        min_group_size=data.min_group_size,
        requires_token=data.requires_token,
        anonymous=data.anonymous,
        status="open",
        speeder_seconds_per_item=data.speeder_seconds_per_item,
        straightline_items=data.straightline_items,
    )
    survey.instrument = instrument  # loaded now, so a detached survey still knows its items
    _commit_new(session, survey, taken=taken)
    return survey


def list_surveys(session: Session) -> list[Survey]:
    return list(session.scalars(select(Survey).order_by(Survey.created_at, Survey.id)))


def get_survey(session: Session, *, slug: str) -> Survey:
    survey = session.scalar(select(Survey).where(Survey.slug == slug))
    if survey is None:
        raise NotFound(f"survey {slug} not found")
    return survey


def weakened_privacy(survey: Survey, data: SurveyUpdate) -> list[str]:
    """The fields of ``data`` that would weaken the survey's protection of respondents."""
    weaker = []
    if data.min_group_size is not None and data.min_group_size < survey.min_group_size:
        weaker.append("min_group_size")
    if data.requires_token is False and survey.requires_token:
        weaker.append("requires_token")
    if data.anonymous is False and survey.anonymous:
        weaker.append("anonymous")
    return weaker


def update_survey(
    session: Session,
    *,
    survey: Survey,
    data: SurveyUpdate,
    may_weaken_privacy: bool = False,
    actor: Actor = SYSTEM,
) -> Survey:
    """Apply ``data``. Raises Forbidden naming the fields that weaken privacy unless
    ``may_weaken_privacy`` (admin keys), and Conflict when anonymity is switched on after
    responses were stored (those keep their exact times and client data)."""
    weaker = weakened_privacy(survey, data)
    if weaker and not may_weaken_privacy:
        raise Forbidden(
            [
                field_error(name, msg="weakens respondents' privacy: needs an admin key")
                for name in weaker
            ]
        )
    begin_write(session)
    if data.anonymous and not survey.anonymous and count_responses(session, survey=survey):
        raise Conflict(
            [
                field_error(
                    "anonymous",
                    msg="can only be switched on before the first response is stored",
                )
            ]
        )
    before = privacy_settings(survey)
    for name, value in data.model_dump(exclude_unset=True, exclude_none=True).items():
        setattr(survey, name, value)
    if data.quota is not None and data.quota.branches:
        known = branch_ids(session, codes=list(data.quota.branches))
        unknown = [code for code in data.quota.branches if code not in known]
        if unknown:
            session.rollback()
            raise InvalidInput(
                [field_error("quota", "branches", unknown[0], msg=f"unknown branch {unknown[0]}")]
            )
    # null clears a date, the quota, or a quality threshold (back to its default)
    nullable = ("opens_at", "closes_at", "quota", "speeder_seconds_per_item", "straightline_items")
    for name in nullable:
        if name in data.model_fields_set and getattr(data, name) is None:
            setattr(survey, name, None)
    if (
        survey.opens_at is not None
        and survey.closes_at is not None
        and as_utc(survey.closes_at) <= as_utc(survey.opens_at)
    ):
        session.rollback()
        raise InvalidInput([field_error("closes_at", msg="must be after opens_at")])
    audit_privacy_change(session, survey=survey, before=before, actor=actor)
    session.commit()
    return survey


def count_responses(
    session: Session, *, survey: Survey, branches: Sequence[str] | None = None
) -> int:
    query = select(func.count()).select_from(Response).where(Response.survey_id == survey.id)
    if branches is not None:
        query = query.join(Branch).where(Branch.code.in_(branches))
    return int(session.scalar(query) or 0)


def branch_full_reason(
    session: Session, *, survey: Survey, branch: str, lock: bool = False
) -> str | None:
    """Why ``branch`` takes no more responses (its quota is reached in mode "stop"), or None:
    :meth:`Survey.quota_reason` applied to the branch's stored responses. ``lock`` (in a
    write transaction): hold the survey's row, so concurrent submissions to a quota are
    counted one after another on PostgreSQL (SQLite writers are serialised anyway)."""
    if not survey.quota_stops(branch):  # no count needed
        return None
    if lock:
        session.execute(select(Survey.id).where(Survey.id == survey.id).with_for_update())
    collected = count_responses(session, survey=survey, branches=[branch])
    return survey.quota_reason(branch, collected)


# ---- responses -----------------------------------------------------------------------------
def insert_responses(session: Session, *, survey: Survey, rows: Sequence[dict[str, Any]]) -> None:
    """The single write path for responses (bulk ``INSERT``; the caller commits).

    ``rows`` hold Response column values; ``answers`` in the survey's ``answer_codes`` order
    (see :mod:`app.surveys.validation` for the stored values), open text in ``texts``.
    """
    if not rows:
        return
    session.execute(insert(Response), [{**r, "survey_id": survey.id} for r in rows])
    apply_responses(session, survey=survey, rows=rows)  # maintained score aggregates (H5)


def request_hash(payload: ResponseCreate, *, anonymous: bool = False) -> str:
    """Digest of the body. Anonymous surveys leave the invitation token out, so the stored
    digest cannot be matched against the list of issued tokens."""
    data = payload.model_dump(mode="json", exclude={"token"} if anonymous else None)
    if not data["attributes"]:  # bodies without it hash as they did before it existed
        del data["attributes"]
    body = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def _replay(session: Session, *, survey: Survey, key: str, digest: str) -> Response | None:
    """The response stored under ``key``, read outside any write lock (F7: replays and
    conflicts must not queue behind writers); the read transaction ends before returning."""
    existing = session.scalar(
        select(Response).where(Response.survey_id == survey.id, Response.idempotency_key == key)
    )
    session.commit()  # ends the read at once; commit (not rollback) keeps objects loaded
    if existing is None:
        return None
    if existing.request_hash != digest:
        raise Conflict("Idempotency-Key was already used with a different request body")
    return existing


def day_start(moment: datetime) -> datetime:
    return datetime.combine(moment.date(), time.min, tzinfo=moment.tzinfo)


def submit_response(
    session: Session,
    *,
    survey: Survey,
    payload: ResponseCreate,
    idempotency_key: str | None,
    client: ClientInfo | None,
    channel: str = "api",
    started: float | None = None,
    device: str | None = None,
) -> tuple[Response, bool]:
    """Validate and store one response; returns ``(response, created)``.

    ``started``: when the questionnaire was first loaded (unix time; the web form carries it
    signed), from which the completion time is measured; ``device``: the browser's device
    cookie. Both feed the quality flags (:mod:`app.surveys.quality`); a response stored from
    an invitation token drops that token's saved partial response (:mod:`app.surveys.partials`).

    A repeated ``idempotency_key`` with the same body returns the stored response
    (``created=False``); with another body it raises Conflict. Raises InvalidInput listing every
    problem, Conflict for a closed survey or used token, Forbidden for a missing/unknown token.
    """
    digest = request_hash(payload, anonymous=survey.anonymous)
    if idempotency_key is not None:
        if len(idempotency_key) > 200:
            raise InvalidInput([field_error("Idempotency-Key", msg="at most 200 characters")])
        if survey.anonymous:  # the client chose the key: it could name the respondent
            idempotency_key = "sha256:" + hashlib.sha256(idempotency_key.encode()).hexdigest()
        replayed = _replay(session, survey=survey, key=idempotency_key, digest=digest)
        if replayed is not None:
            return replayed, False
    closed = survey.closed_reason()
    if closed is not None:
        raise Conflict(closed)
    spec = survey_spec(survey)
    errors: list[dict[str, Any]] = []
    branch_id = session.scalar(select(Branch.id).where(Branch.code == payload.branch))
    if branch_id is None:
        errors.append(field_error("branch", msg=f"unknown branch {payload.branch!r}"))
    answers, texts, answer_errors = check_answers(spec, payload.answers)
    given, at = payload.all_attributes()
    attributes, attribute_errors = check_attributes(spec, given, at=at)
    lang, lang_errors = check_lang(spec, payload.lang)
    errors += answer_errors + attribute_errors + lang_errors
    if errors:
        raise InvalidInput(errors)
    assert branch_id is not None
    begin_write(session)  # everything above only read; the write lock is held from here
    full = branch_full_reason(session, survey=survey, branch=payload.branch, lock=True)
    if full is not None:
        session.rollback()
        raise Conflict(full)
    token_id = None
    if survey.requires_token:
        try:
            token_id = claim_token(session, survey=survey, raw=payload.token, branch_id=branch_id)
        except DomainError:
            session.rollback()  # a refused token (403/409) releases the write lock at once
            raise
    now = utcnow()
    response_id = uuid.uuid4()
    keep_client = client is not None and not survey.anonymous
    duration = None if started is None else max(now.timestamp() - started, 0.0)
    device_key = quality.digest(device) if device else None
    # anonymous surveys never keep anything derived from the invitation token
    token_key = quality.digest(payload.token) if payload.token and not survey.anonymous else None
    seconds_per_item, run = quality.thresholds(survey)
    flags = quality.response_flags(
        spec,
        answers=answers,
        texts=texts,
        duration_seconds=duration,
        seconds_per_item=seconds_per_item,
        straightline_items=run,
        duplicate=quality.is_duplicate(
            session, survey=survey, device_key=device_key, token_key=token_key
        ),
    )
    row = {
        "id": response_id,
        "branch_id": branch_id,
        "submitted_at": day_start(now) if survey.anonymous else now,
        "attributes": attributes,
        "lang": lang,
        "channel": channel,
        "idempotency_key": idempotency_key,
        "request_hash": digest,
        "client_ip": (client.ip or "")[:64] or None if keep_client and client else None,
        "user_agent": (client.user_agent or "")[:400] or None if keep_client and client else None,
        "answers": answers,
        "texts": texts or None,
        "duration_seconds": quality.stored_duration(duration, anonymous=survey.anonymous),
        "flags": flags or None,
        "flagged": bool(flags),
        "device_key": device_key,
        "token_key": token_key,
    }
    try:
        insert_responses(session, survey=survey, rows=[row])
        if payload.token:
            partials.drop_partial(session, survey=survey, raw_token=payload.token)
        if token_id is not None and not survey.anonymous:  # so it can be erased by token
            link_token(session, token_id=token_id, response_id=response_id)
        session.commit()
    except IntegrityError:
        # A concurrent request with the same Idempotency-Key won the race.
        session.rollback()
        if idempotency_key is None:
            raise
        replayed = _replay(session, survey=survey, key=idempotency_key, digest=digest)
        if replayed is None:
            raise
        return replayed, False
    stored = session.get(Response, row["id"])
    assert stored is not None
    return stored, True
