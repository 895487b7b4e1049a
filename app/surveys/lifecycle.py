"""Respondent data lifecycle: deleting a response, erasing one by invitation token, and the
retention of client data (IP address, user agent).

:func:`delete_responses` is the single delete path, the mirror of
``app.surveys.service.insert_responses``: the maintained score aggregates follow every deletion
in the same transaction. Every deletion and purge is written to the audit log.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from app.audit.service import SYSTEM, Actor, record
from app.auth.models import InvitationToken
from app.auth.service import hash_secret
from app.db import begin_write
from app.errors import Conflict, Forbidden, NotFound
from app.reporting.aggregates import remove_responses
from app.surveys.models import Branch, Response, Survey, utcnow

logger = logging.getLogger(__name__)

PURGE_BATCH = 1000  # rows per write transaction, so submissions are never held up for long


def delete_responses(session: Session, *, survey: Survey, ids: Sequence[uuid.UUID]) -> int:
    """Delete responses of ``survey`` and subtract them from the aggregates (the caller
    commits); returns how many existed."""
    if not ids:
        return 0
    found = session.execute(
        select(
            Response.id,
            Response.branch_id,
            Response.attributes,
            Response.submitted_at,
            Response.answers,
        )
        .where(Response.survey_id == survey.id, Response.id.in_(list(ids)))
        # PostgreSQL: a concurrent deletion of the same rows waits, then finds them gone,
        # instead of subtracting their moments twice (SQLite writers are serialised anyway)
        .with_for_update()
    ).all()
    if not found:
        return 0
    remove_responses(session, survey=survey, rows=[r._asdict() for r in found])
    session.execute(
        delete(Response)
        .where(Response.id.in_([r.id for r in found]))
        .execution_options(synchronize_session=False)
    )
    return len(found)


def _check_scope(
    session: Session, *, survey: Survey, response_id: uuid.UUID, scope: Sequence[str] | None
) -> None:
    if scope is None:
        return
    code = session.scalar(
        select(Branch.code)
        .join(Response, Response.branch_id == Branch.id)
        .where(Response.id == response_id, Response.survey_id == survey.id)
    )
    if code is not None and code not in scope:
        session.rollback()
        raise Forbidden(f"this key may not see branch {code}")


def delete_response(
    session: Session,
    *,
    survey: Survey,
    response_id: uuid.UUID,
    actor: Actor,
    scope: Sequence[str] | None = None,
) -> None:
    """Delete one response (NotFound if ``survey`` has none with this id; Forbidden if its
    branch is outside ``scope``, the acting key's branches)."""
    begin_write(session)
    _check_scope(session, survey=survey, response_id=response_id, scope=scope)
    if not delete_responses(session, survey=survey, ids=[response_id]):
        session.rollback()
        raise NotFound(f"survey {survey.slug} has no response {response_id}")
    detail = {"response": str(response_id)}
    record(session, actor=actor, action="response.delete", target=survey.slug, detail=detail)
    session.commit()
    logger.info("response %s of %s deleted by %s", response_id, survey.slug, actor)


def erase_by_token(
    session: Session,
    *,
    survey: Survey,
    token: str,
    actor: Actor,
    scope: Sequence[str] | None = None,
) -> uuid.UUID:
    """Delete the response submitted with invitation ``token``; returns its id (Forbidden if
    its branch is outside ``scope``).

    Anonymous surveys keep no link from a token to its response: Conflict. An unknown token,
    one not used, or one whose response is already deleted: NotFound.
    """
    if survey.anonymous:
        raise Conflict(
            f"survey {survey.slug} is anonymous: its responses are not linked to invitation "
            "tokens, so none can be found by token (delete by response id instead)"
        )
    begin_write(session)
    row = session.scalar(
        select(InvitationToken).where(
            InvitationToken.token_hash == hash_secret(token),
            InvitationToken.survey_id == survey.id,
        )
    )
    if row is None:
        session.rollback()
        hint = "" if survey.requires_token else " (the survey takes no invitation tokens)"
        raise NotFound(f"no invitation token of survey {survey.slug} matches{hint}")
    if row.response_id is None:
        session.rollback()
        raise NotFound(
            "no stored response was submitted with this token (unused, already deleted, or "
            "submitted before responses were linked to their tokens)"
        )
    response_id = row.response_id
    _check_scope(session, survey=survey, response_id=response_id, scope=scope)
    delete_responses(session, survey=survey, ids=[response_id])
    detail = {"response": str(response_id), "token_id": row.id}
    record(
        session, actor=actor, action="response.erase_by_token", target=survey.slug, detail=detail
    )
    session.commit()
    logger.info("response %s of %s erased by token, by %s", response_id, survey.slug, actor)
    return response_id


PRIVACY_SETTINGS = ("min_group_size", "anonymous", "requires_token")


def privacy_settings(survey: Survey) -> dict[str, Any]:
    return {name: getattr(survey, name) for name in PRIVACY_SETTINGS}


def audit_privacy_change(
    session: Session, *, survey: Survey, before: dict[str, Any], actor: Actor
) -> None:
    """After an edit of ``survey`` (caller's transaction): audit the privacy settings that
    changed from ``before``. (Anonymity can only be switched on before the first response,
    so no token was ever linked to a response of an anonymous survey.)"""
    after = privacy_settings(survey)
    changed = {name: [old, after[name]] for name, old in before.items() if after[name] != old}
    if changed:
        record(session, actor=actor, action="survey.privacy", target=survey.slug, detail=changed)


def audit_export(session: Session, *, survey: Survey, actor: Actor, detail: dict[str, Any]) -> None:
    """Record a download of row data (its own short write transaction)."""
    begin_write(session)
    record(session, actor=actor, action="export", target=survey.slug, detail=detail)
    session.commit()


def purge_client_data(
    session: Session, *, days: int, now: datetime | None = None, actor: Actor = SYSTEM
) -> int:
    """Clear IP address and user agent of responses submitted more than ``days`` ago.

    Candidates are found in a read, then cleared in batches of :data:`PURGE_BATCH` rows, each
    its own short write transaction. Returns how many responses were cleared.
    """
    cutoff = (now or utcnow()) - timedelta(days=days)
    stale = select(Response.id).where(
        Response.submitted_at < cutoff,
        or_(Response.client_ip.is_not(None), Response.user_agent.is_not(None)),
    )
    total = 0
    while True:
        session.rollback()  # a fresh snapshot (SQLite) before each read
        ids = list(session.scalars(stale.limit(PURGE_BATCH)))
        if not ids:
            break
        begin_write(session)
        session.execute(
            update(Response)
            .where(Response.id.in_(ids))
            .values(client_ip=None, user_agent=None)
            .execution_options(synchronize_session=False)
        )
        session.commit()
        total += len(ids)
    if total:
        begin_write(session)
        detail = {"responses": total, "days": days, "cutoff": cutoff.isoformat()}
        record(session, actor=actor, action="retention.purge", target="responses", detail=detail)
        session.commit()
        logger.info("cleared IP and user agent of %d responses older than %d days", total, days)
    return total
