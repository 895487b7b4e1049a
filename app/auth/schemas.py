"""Pydantic: API keys as the API shows them (never the hash or the salt)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


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
    created_at: datetime
    revoked_at: datetime | None


class KeyCreated(KeyRead):
    key: str = Field(description="the key itself: shown this once, stored only hashed")
