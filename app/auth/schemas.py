"""Pydantic: API keys as the API shows them (never the hash or the salt)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def _utc(moment: datetime) -> datetime:
    # SQLite returns naive datetimes (stored as UTC): every time in the API carries its zone.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["admin", "researcher", "operator"]
    # None or omitted: every branch
    branches: list[str] | None = Field(default=None, min_length=1, max_length=1000)
    label: str | None = Field(default=None, max_length=200)


class KeyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    prefix: str
    role: str
    branches: list[str] | None
    label: str | None
    created_at: UtcDatetime
    revoked_at: UtcDatetime | None


class KeyCreated(KeyRead):
    key: str = Field(description="the key itself: shown this once, stored only hashed")
