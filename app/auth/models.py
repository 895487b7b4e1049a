"""ORM: API keys, single-use invitation tokens and dashboard sessions (secrets stored hashed)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base
from app.surveys.models import utcnow

ROLES = ("admin", "researcher", "operator")


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    # HMAC-SHA256 under the key's own random salt (hex) of sha256(key): see service.hash_key.
    key_hash: Mapped[str] = mapped_column(String(64))
    salt: Mapped[str] = mapped_column(String(32))
    role: Mapped[str] = mapped_column(String(16))
    # None = every branch; otherwise the list of branch codes this key may see.
    branches: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    label: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class InvitationToken(Base):
    __tablename__ = "invitation_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # The response submitted with the token, so it can be erased on request; never set for
    # anonymous surveys (the link would name the respondent).
    response_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("responses.id", ondelete="SET NULL"), nullable=True
    )

    def __repr__(self) -> str:  # never show the hash in logs
        return f"InvitationToken(id={self.id}, survey_id={self.survey_id}, used={self.used_at})"


class DashboardSession(Base):
    """A dashboard login: the cookie holds a random id, the table its sha256 and the key."""

    __tablename__ = "dashboard_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)

    def __repr__(self) -> str:  # never show the hash in logs
        return f"DashboardSession(key_id={self.key_id}, expires_at={self.expires_at})"
