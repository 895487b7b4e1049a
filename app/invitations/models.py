"""ORM: invitation batches and their messages (one per recipient).

Contact details (email, phone) and the invitation link live here, apart from responses: never
exported with them, and cleared when the survey closes (``service.purge_closed_contacts``). A
message points at its single-use invitation token; whether the recipient completed is the
token's ``used_at``, so no message is ever linked to a response (anonymous surveys keep no link
from a token to its response either, see ``app.auth.models.InvitationToken``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base
from app.surveys.models import utcnow

STATES = ("queued", "sent", "failed")
CHANNELS = ("email", "sms")


class InvitationBatch(Base):
    __tablename__ = "invitation_batches"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by_key_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Reminders to recipients who have not completed: at most max_reminders, the first
    # remind_after_days after the invitation was sent, each next one as long after the last.
    max_reminders: Mapped[int] = mapped_column(Integer, default=0)
    remind_after_days: Mapped[int] = mapped_column(Integer, default=3)


class InvitationMessage(Base):
    __tablename__ = "invitation_messages"
    __table_args__ = (Index("ix_invitation_messages_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[str] = mapped_column(
        ForeignKey("invitation_batches.id", ondelete="CASCADE"), index=True
    )
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"))
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"))
    token_id: Mapped[int] = mapped_column(
        ForeignKey("invitation_tokens.id", ondelete="CASCADE"), unique=True
    )
    channel: Mapped[str] = mapped_column(String(8))
    # Contact details and the link (it holds the token): cleared when the survey closes.
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    phone: Mapped[str | None] = mapped_column(String(32), nullable=True)
    link: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    contacts_deleted_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    # Recipient attributes given with the batch (rates by attribute), and the message language.
    attributes: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    lang: Mapped[str] = mapped_column(String(16))
    # queued (also: a reminder waiting), sent, failed (error says why; retries exhausted).
    state: Mapped[str] = mapped_column(String(8), default="queued")
    kind: Mapped[str] = mapped_column(String(8), default="invite")  # what is queued: invite|remind
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0)
    # First time the questionnaire was loaded with the token.
    opened_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    def __repr__(self) -> str:  # never show contact details or the link in logs
        return f"InvitationMessage(id={self.id}, batch={self.batch_id}, state={self.state})"
