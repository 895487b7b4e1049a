"""ORM: one row per audited action (append-only; nothing in the app updates or deletes rows)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base
from app.surveys.models import utcnow


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # The API key that acted; None for the command line and the maintenance job (see ``via``).
    key_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="SET NULL"), nullable=True
    )
    via: Mapped[str] = mapped_column(String(16))  # api | dashboard | cli | system
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str] = mapped_column(String(200))
    # What changed; never respondent data or secrets (ids, counts, old/new settings).
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
