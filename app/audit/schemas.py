"""Pydantic: the audit log as the API shows it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from app.auth.schemas import UtcDatetime


class AuditEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: UtcDatetime
    key_id: int | None
    via: str
    action: str
    target: str
    detail: dict[str, Any] | None


class AuditPage(BaseModel):
    """Newest first. ``next_before``: pass it as ``before`` for the next (older) page; null at
    the end."""

    items: list[AuditEventRead]
    next_before: int | None
