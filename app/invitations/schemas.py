"""Pydantic schemas of the invitation API (XCreate / XRead)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.surveys.schemas import BranchCode, LangTag

Email = Annotated[str, Field(pattern=r"^[^@\s<>,;]{1,64}@[^@\s<>,;]{1,255}$", max_length=320)]
Phone = Annotated[str, Field(pattern=r"^\+?[0-9][0-9 ()-]{4,30}$", max_length=32)]
AttrValue = Annotated[str, Field(max_length=200)]


class RecipientIn(BaseModel):
    """One recipient: an email address or a phone number (not both), the branch whose
    invitation token they get, optional attributes (for rates by attribute) and the language
    of the message (one of the instrument's; omitted: its first)."""

    model_config = ConfigDict(extra="forbid")
    email: Email | None = None
    phone: Phone | None = None
    branch: str = BranchCode
    attributes: Annotated[
        dict[Annotated[str, Field(min_length=1, max_length=64)], AttrValue], Field(max_length=50)
    ] = Field(default_factory=dict)
    lang: LangTag | None = None

    @model_validator(mode="after")
    def _one_contact(self) -> RecipientIn:
        if (self.email is None) == (self.phone is None):
            raise ValueError("give an email or a phone number (one of them)")
        return self


class BatchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    recipients: Annotated[list[RecipientIn], Field(min_length=1, max_length=10_000)]
    # Reminders to those who have not completed: at most max_reminders, each
    # remind_after_days after the previous message (sent by `pvm invitations remind` or
    # POST .../remind).
    max_reminders: int = Field(default=0, ge=0, le=10)
    remind_after_days: int = Field(default=3, ge=0, le=365)


class BatchCreated(BaseModel):
    batch: str
    survey: str
    queued: int


class MessageRead(BaseModel):
    id: int
    channel: str
    to: str | None  # masked; None once contact details are deleted
    branch: str
    lang: str
    attributes: dict[str, str]
    state: str  # queued | sent | failed
    error: str | None
    attempts: int
    sent_at: datetime | None
    reminders_sent: int
    opened: bool
    opened_at: datetime | None
    completed: bool


class BatchRead(BaseModel):
    batch: str
    survey: str
    created_at: datetime
    max_reminders: int
    remind_after_days: int
    counts: dict[str, int]  # queued, sent, failed, opened, completed
    messages: list[MessageRead]


class Reminded(BaseModel):
    batch: str
    queued: int


class RateRead(BaseModel):
    group: str  # branch code, or the attribute's value ("unspecified": none given)
    sent: int | None  # None: suppressed (fewer than min_group_size sent)
    opened: int | None
    completed: int | None
    rate: float | None  # completed / sent
    median_seconds: float | None  # of the group's responses' durations, when recorded
    partial: int | None  # partial responses, when counted
    suppressed: bool


class RatesRead(BaseModel):
    survey: str
    by: str
    min_group_size: int
    groups: list[RateRead]
