"""Recording and reading the audit log.

:func:`record` adds an event to the caller's transaction, so an audited change and its event
are stored together or not at all; the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit.models import AuditEvent

Via = Literal["api", "dashboard", "cli", "system"]

# One name per kind of event (``pvm audit list --action`` and the API filter on them).
Action = Literal[
    "key.create",  # target: key id; detail: role, branches, label, prefix
    "key.revoke",  # target: key id
    "export",  # target: survey slug; detail: format, filters, rows
    "response.delete",  # target: survey slug; detail: response id
    "response.erase_by_token",  # target: survey slug; detail: response id, token id
    "survey.privacy",  # target: survey slug; detail: {setting: [old, new]}
    "retention.purge",  # target: "responses"; detail: rows cleared, days kept
    "invitations.create",  # target: survey slug; detail: batch id, recipients
    "invitations.contacts_deleted",  # target: survey slug; detail: messages cleared
]
ACTIONS: tuple[str, ...] = get_args(Action)


@dataclass(frozen=True)
class Actor:
    """Who acts: an API key (``key_id``) through ``via``, or a key-less channel."""

    key_id: int | None
    via: Via

    def __str__(self) -> str:
        return f"key {self.key_id}" if self.key_id is not None else self.via


CLI = Actor(None, "cli")
SYSTEM = Actor(None, "system")


def record(
    session: Session,
    *,
    actor: Actor,
    action: Action,
    target: str,
    detail: dict[str, Any] | None = None,
) -> None:
    """Add one event to the caller's transaction (the caller commits)."""
    session.add(
        AuditEvent(
            key_id=actor.key_id, via=actor.via, action=action, target=target[:200], detail=detail
        )
    )


def list_events(
    session: Session,
    *,
    limit: int = 100,
    before: int | None = None,
    action: Action | None = None,
    key_id: int | None = None,
) -> list[AuditEvent]:
    """Newest first; ``before`` (an event id) pages back through older events."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if before is not None:
        query = query.where(AuditEvent.id < before)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    if key_id is not None:
        query = query.where(AuditEvent.key_id == key_id)
    return list(session.scalars(query))
