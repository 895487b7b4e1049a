"""Response rates of invitations: per branch or per recipient attribute, how many were sent,
opened and completed, the completion rate and the median completion time.

A group with fewer invitations sent than the survey's ``min_group_size`` shows no figures
(``suppressed``); when exactly one group is suppressed, the next smallest is too, so that no
total computed elsewhere gives the small group away by difference. The median completion
time comes from the responses' ``duration_seconds`` (None for fewer than ``min_group_size``
durations). ``partial`` counts partial responses (pages saved, not submitted:
:func:`app.surveys.partials.partial_counts`) per branch; by an attribute it is None (a partial
response is not linked to its recipient's attributes).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import InvitationToken
from app.errors import InvalidInput, field_error
from app.invitations.models import InvitationMessage
from app.surveys import partials
from app.surveys import service as surveys
from app.surveys.models import Branch, Response, Survey

UNSPECIFIED = "unspecified"  # recipients without a value of the attribute


@dataclass(frozen=True)
class RateRow:
    group: str
    sent: int | None
    opened: int | None
    completed: int | None
    rate: float | None  # completed / sent
    median_seconds: float | None
    partial: int | None
    suppressed: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def rate_keys(session: Session, *, survey: Survey) -> list[str]:
    """What rates can be grouped by: "branch" and every attribute given with recipients."""
    seen: set[str] = set()
    for attributes in session.scalars(
        select(InvitationMessage.attributes).where(InvitationMessage.survey_id == survey.id)
    ):
        seen.update((attributes or {}).keys())
    return ["branch", *sorted(seen)]


def _durations(
    session: Session, *, survey: Survey, by: str, scope: Sequence[str] | None
) -> dict[str, list[float]]:
    column = Response.duration_seconds
    query = (
        select(Branch.code, Response.attributes, column)
        .join(Branch, Branch.id == Response.branch_id)
        .where(Response.survey_id == survey.id, column.is_not(None))
    )
    if scope is not None:
        query = query.where(Branch.code.in_(scope))
    out: dict[str, list[float]] = defaultdict(list)
    for code, attributes, seconds in session.execute(query):
        key = code if by == "branch" else str((attributes or {}).get(by, UNSPECIFIED))
        out[key].append(float(seconds))
    return out


def _partials(
    session: Session, *, survey: Survey, by: str, scope: Sequence[str] | None
) -> dict[str, int] | None:
    if by != "branch":
        return None
    counts = partials.partial_counts(session, survey)
    return {c: n for c, n in counts.items() if scope is None or c in scope}


def response_rates(
    session: Session, *, survey: Survey, by: str = "branch", scope: Sequence[str] | None = None
) -> list[RateRow]:
    """One row per group (branch code or attribute value) of the invitations of ``survey``
    in ``scope`` (branch codes; None: all). InvalidInput naming ``by`` for an unknown key."""
    if by not in rate_keys(session, survey=survey):
        spec_attrs = surveys.survey_spec(survey).attribute_codes
        if by not in spec_attrs:
            known = ", ".join(rate_keys(session, survey=survey))
            raise InvalidInput([field_error("by", msg=f"must be one of: {known}")])
    query = (
        select(
            Branch.code,
            InvitationMessage.attributes,
            InvitationMessage.sent_at,
            InvitationMessage.opened_at,
            InvitationToken.used_at,
        )
        .join(Branch, Branch.id == InvitationMessage.branch_id)
        .join(InvitationToken, InvitationToken.id == InvitationMessage.token_id)
        .where(InvitationMessage.survey_id == survey.id)
    )
    if scope is not None:
        query = query.where(Branch.code.in_(scope))
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for code, attributes, sent_at, opened_at, used_at in session.execute(query):
        key = code if by == "branch" else str((attributes or {}).get(by, UNSPECIFIED))
        if sent_at is None:
            continue  # queued or failed: never reached the recipient
        cell = counts[key]
        cell[0] += 1
        cell[1] += opened_at is not None
        cell[2] += used_at is not None
    durations = _durations(session, survey=survey, by=by, scope=scope)
    partial = _partials(session, survey=survey, by=by, scope=scope)
    k = survey.min_group_size
    small = {g for g, (sent, _, _) in counts.items() if sent < k}
    if len(small) == 1 and len(counts) > 1:  # complementary suppression
        rest = sorted((c[0], g) for g, c in counts.items() if g not in small)
        small.add(rest[0][1])
    rows = []
    for group in sorted(counts):
        sent, opened, completed = counts[group]
        if group in small:
            rows.append(RateRow(group, None, None, None, None, None, None, True))
            continue
        times = durations.get(group, [])
        rows.append(
            RateRow(
                group=group,
                sent=sent,
                opened=opened,
                completed=completed,
                rate=completed / sent if sent else None,
                median_seconds=statistics.median(times) if len(times) >= k else None,
                partial=partial.get(group, 0) if partial is not None else None,
                suppressed=False,
            )
        )
    return rows
