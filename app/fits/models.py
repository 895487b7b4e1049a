"""ORM: one row per fit job. The row is the whole state of a job, so any process can pick it up.

``cache_key`` is sha256(data fingerprint + canonical spec [+ key scope]): a repeated identical
request on unchanged data finds the stored job. ``owner_key_id`` is the API key that created the
job (None: the system, e.g. the dashboard's invariance check) and ``scope`` the branch scope of
that key (None: unscoped); a scoped key's job only ever uses rows of its branches, and only keys
whose scope covers the job's data may read it (``app.fits.access``). ``name`` is the
researcher's own name for the fit (not part of the spec: it does not change the cache key).

``runner`` and ``heartbeat_at`` say which process works on a job and when it last showed signs
of life; that is how a job left behind by a crashed process is told apart from one that is
merely slow (see ``service.recover_jobs``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base
from app.surveys.models import utcnow

STATUSES = ("queued", "running", "done", "failed", "cancelled")
ACTIVE = ("queued", "running")
TERMINAL = ("done", "failed", "cancelled")


class FitJob(Base):
    __tablename__ = "fit_jobs"
    __table_args__ = (
        Index("ix_fit_jobs_cache_key", "cache_key"),
        Index("ix_fit_jobs_status", "status"),
        Index("ix_fit_jobs_owner_key_id", "owner_key_id"),
        Index("ix_fit_jobs_survey_created", "survey_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"))
    cache_key: Mapped[str] = mapped_column(String(64))
    data_fingerprint: Mapped[str] = mapped_column(String(64))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    runner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    owner_key_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="SET NULL"), nullable=True
    )
    scope: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
