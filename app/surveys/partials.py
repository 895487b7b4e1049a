"""Partial responses: the pages of a paged questionnaire answered so far, saved against the
invitation token the link carries, so reopening the link resumes where the respondent left off.

Saved on every Next (:func:`save_partial`), read when the questionnaire is opened with the
token (:func:`load_partial`), dropped when the response is stored (``submit_response``).
Partial responses live in their own table: analyses, exports and aggregates, which read
``responses``, never see them; :func:`partial_counts` only counts them (response rates).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.auth.models import InvitationToken
from app.auth.service import hash_secret
from app.db import begin_write
from app.surveys.models import Branch, PartialResponse, Survey, utcnow

# Form fields that are never saved: they belong to one page view, not to the answers.
NOT_SAVED = frozenset(
    {"csrf_token", "submission_id", "nav", "switch", "page", "website", "started"}
)


def open_token(session: Session, *, survey: Survey, raw: str | None) -> InvitationToken | None:
    """The unused invitation token ``raw`` of ``survey``, if it is one."""
    if not raw or len(raw) > 200:
        return None
    token = session.scalar(
        select(InvitationToken).where(InvitationToken.token_hash == hash_secret(raw))
    )
    if token is None or token.survey_id != survey.id or token.used_at is not None:
        return None
    return token


def load_partial(
    session: Session, *, survey: Survey, raw_token: str | None
) -> PartialResponse | None:
    """The saved partial response of an open invitation token, if any."""
    token = open_token(session, survey=survey, raw=raw_token)
    if token is None:
        return None
    return session.scalar(
        select(PartialResponse).where(
            PartialResponse.survey_id == survey.id,
            PartialResponse.token_hash == token.token_hash,
        )
    )


def save_partial(
    session: Session,
    *,
    survey: Survey,
    raw_token: str | None,
    fields: dict[str, Any],
    next_page: int,
    started: float | None = None,
) -> bool:
    """Save the answers so far of the link's token (unless it is unknown or used) and the page
    to resume at; returns whether anything was saved. ``started`` (unix time of the first
    load) is kept from the first save on."""
    token = open_token(session, survey=survey, raw=raw_token)
    if token is None:
        return False
    begin_write(session)
    kept = {k: v for k, v in fields.items() if k not in NOT_SAVED}
    row = session.scalar(
        select(PartialResponse).where(
            PartialResponse.survey_id == survey.id,
            PartialResponse.token_hash == token.token_hash,
        )
    )
    now = utcnow()
    if row is None:
        first = now if started is None else type(now).fromtimestamp(started, tz=now.tzinfo)
        row = PartialResponse(
            survey_id=survey.id,
            token_hash=token.token_hash,
            branch_id=token.branch_id,
            started_at=first,
        )
        session.add(row)
    row.fields = kept
    row.next_page = max(next_page, 0)
    row.updated_at = now
    session.commit()
    return True


def drop_partial(session: Session, *, survey: Survey, raw_token: str) -> None:
    """Forget the token's partial response (in the caller's transaction): it was submitted."""
    session.execute(
        delete(PartialResponse).where(
            PartialResponse.survey_id == survey.id,
            PartialResponse.token_hash == hash_secret(raw_token),
        )
    )


def partial_counts(session: Session, survey: Survey) -> dict[str, int]:
    """Partial (started, not submitted) responses of ``survey`` per branch code; branches
    without any are left out."""
    query = (
        select(Branch.code, func.count())
        .select_from(PartialResponse)
        .join(Branch, Branch.id == PartialResponse.branch_id)
        .where(PartialResponse.survey_id == survey.id)
        .group_by(Branch.code)
        .order_by(Branch.code)
    )
    return {code: int(n) for code, n in session.execute(query)}
