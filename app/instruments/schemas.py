"""Pydantic schemas of the instrument API (the document itself is `spec.InstrumentSpec`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from app.instruments.service import VersionInfo
from app.instruments.spec import InstrumentSpec
from app.surveys.models import Instrument
from app.surveys.specs import instrument_spec


class InstrumentSummary(BaseModel):
    """One stored version, as listed and as answered to an upload."""

    id: str
    version: int
    content_hash: str
    title: dict[str, str]
    languages: list[str]
    constructs: list[dict[str, Any]]
    items: int
    created_at: datetime
    source: str | None

    @classmethod
    def of(cls, row: Instrument) -> InstrumentSummary:
        spec: InstrumentSpec = instrument_spec(row)
        return cls(
            id=row.id,
            version=row.version,
            content_hash=row.content_hash,
            title=dict(spec.title),
            languages=list(spec.languages),
            constructs=[c.model_dump(mode="json") for c in spec.constructs],
            items=len(spec.items),
            created_at=row.created_at,
            source=row.source,
        )


class InstrumentStored(InstrumentSummary):
    """Answer to an upload: ``created`` is false when the content was stored already."""

    created: bool


class InstrumentVersionRead(BaseModel):
    version: int
    content_hash: str
    created_at: datetime
    source: str | None
    uploaded_by_key_id: int | None
    current: bool
    surveys: int  # surveys pinned to this version
    fielded: bool  # some of them have responses: this version is what respondents saw

    @classmethod
    def of(cls, info: VersionInfo, *, current: int) -> InstrumentVersionRead:
        row = info.row
        return cls(
            version=row.version,
            content_hash=row.content_hash,
            created_at=row.created_at,
            source=row.source,
            uploaded_by_key_id=row.uploaded_by_key_id,
            current=row.version == current,
            surveys=info.surveys,
            fielded=info.fielded,
        )
