"""ORM: branches, instrument versions, surveys and responses.

A response's answers are one JSON array per row, in the ``answer_codes`` order of the instrument
version the survey is pinned to (every item but open text; values as ``app.surveys.validation``
describes: numbers and option codes as integers, ``"na"`` = not applicable, ``null`` = not
answered); open text is a JSON object beside it. Reading 100,000 arrays into a DataFrame is then
one text scan (see ``frames.load_item_frame``), several times faster than a key/value table or
a JSON object per row.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base

CHANNELS = ("api", "web", "import")


def _aware(moment: datetime | None) -> datetime | None:
    """A stored time as aware UTC: SQLite gives back the naive UTC wall-clock fields."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Branch(Base):
    __tablename__ = "branches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    region: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # The name per language ({"zh": "北京朝阳", "en": "Beijing Chaoyang"}); `name` is the fallback.
    names: Mapped[dict[str, str] | None] = mapped_column(JSON, nullable=True)

    def name_in(self, lang: str) -> str:
        """The branch as a reader of ``lang`` sees it (:func:`branch_display_name`)."""
        return branch_display_name(self.code, self.name, self.names, lang)


def branch_display_name(
    code: str, name: str | None, names: dict[str, str] | None, lang: str
) -> str:
    """The one rule for a branch's name in a language: ``names[lang]``, else a name of the same
    primary language (``zh`` for ``zh-CN`` and back), else ``name``, else the code."""
    names = names or {}
    if names.get(lang):
        return names[lang]
    primary = lang.lower().split("-")[0]
    for tag, text in names.items():
        if text and tag.lower().split("-")[0] == primary:
            return text
    return name or code


class Instrument(Base):
    """One version of an instrument definition, frozen once stored."""

    __tablename__ = "instruments"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Where it came from ("file": a bundled file synced at start, "api", "cli"; NULL: stored
    # before this was recorded) and the API key that uploaded it.
    source: Mapped[str | None] = mapped_column(String(16), nullable=True)
    uploaded_by_key_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Survey(Base):
    __tablename__ = "surveys"
    __table_args__ = (
        ForeignKeyConstraint(
            ["instrument_id", "instrument_version"], ["instruments.id", "instruments.version"]
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    instrument_id: Mapped[str] = mapped_column(String(64))
    instrument_version: Mapped[int] = mapped_column(Integer)
    title: Mapped[dict[str, str]] = mapped_column(JSON)
    min_group_size: Mapped[int] = mapped_column(Integer, default=5)
    requires_token: Mapped[bool] = mapped_column(Boolean, default=False)
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    # draft, open, closed or archived; an open survey takes submissions between its opening
    # and closing times (either may be unset).
    status: Mapped[str] = mapped_column(String(16), default="open")
    opens_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    closes_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # Per-branch quota: {"mode": "stop" | "keep", "default": n | null, "branches": {code: n}}
    # (see quota_reason); null: no quota.
    quota: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Response-quality thresholds (app.surveys.quality; NULL: its stated defaults): a response
    # faster than this many seconds per answered item is a speeder; one answering at least
    # this many consecutive scale items identically is a straight-liner.
    speeder_seconds_per_item: Mapped[float | None] = mapped_column(Float, nullable=True)
    straightline_items: Mapped[int | None] = mapped_column(Integer, nullable=True)

    instrument: Mapped[Instrument] = relationship(lazy="joined")

    def quota_target(self, branch: str) -> int | None:
        """The number of responses ``branch`` should collect, or None (no quota)."""
        quota = self.quota or {}
        target = (quota.get("branches") or {}).get(branch, quota.get("default"))
        return int(target) if target is not None else None

    def quota_stops(self, branch: str) -> bool:
        """Whether ``branch`` has a quota that refuses responses once reached."""
        mode = (self.quota or {}).get("mode", "stop")
        return self.quota_target(branch) is not None and mode == "stop"

    def quota_reason(self, branch: str, collected: int) -> str | None:
        """None while ``branch`` (holding ``collected`` responses) takes responses, else why
        not: the one rule of quotas for the API (409 with this text) and the questionnaire
        (its friendly page). A quota in mode "keep" only reports; "stop" refuses."""
        target = self.quota_target(branch)
        if target is None or not self.quota_stops(branch) or collected < target:
            return None
        return f"branch {branch} of survey {self.slug} has reached its quota of {target} responses"

    def closed_reason(self, now: datetime | None = None) -> str | None:
        """None while the survey takes submissions, else why not: the one rule for the API
        (409 with this text) and the questionnaire (its friendly page)."""
        now = now or utcnow()
        opens_at, closes_at = _aware(self.opens_at), _aware(self.closes_at)
        if self.status != "open":
            return f"survey {self.slug} is {self.status}: it takes no responses"
        if opens_at is not None and now < opens_at:
            return f"survey {self.slug} opens at {opens_at.isoformat()}"
        if closes_at is not None and now >= closes_at:
            return f"survey {self.slug} closed at {closes_at.isoformat()}"
        return None

    @property
    def is_open(self) -> bool:
        return self.closed_reason() is None

    @property
    def not_yet_open(self) -> bool:
        """A draft, or an open survey before its opening time (the page says "not yet")."""
        if self.status == "draft":
            return True
        opens_at = _aware(self.opens_at)
        return self.status == "open" and opens_at is not None and utcnow() < opens_at


class Response(Base):
    __tablename__ = "responses"
    __table_args__ = (
        UniqueConstraint("survey_id", "idempotency_key"),
        Index("ix_responses_survey_branch", "survey_id", "branch_id"),
        Index("ix_responses_survey_submitted", "survey_id", "submitted_at"),
        Index("ix_responses_survey_device", "survey_id", "device_key"),
        Index("ix_responses_survey_token", "survey_id", "token_key"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"))
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"))
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Respondent attributes the instrument declares: code -> value code (absent = not given).
    attributes: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    lang: Mapped[str | None] = mapped_column(String(8), nullable=True)
    channel: Mapped[str] = mapped_column(String(16), default="api")
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    request_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    client_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(400), nullable=True)
    # Values in the order of the pinned version's answer codes; "na" = N/A, null = not answered.
    answers: Mapped[list[int | str | None]] = mapped_column(JSON)
    # Open-text answers: item code -> text (never fed to statistics).
    texts: Mapped[dict[str, str] | None] = mapped_column(JSON, nullable=True)
    # Response quality (app.surveys.quality): seconds from the questionnaire's first load to
    # the submit (whole minutes in anonymous surveys; NULL: not measured, e.g. API or import),
    # the flags raised ("speeder", "straightline", "duplicate"; NULL = none) and `flagged`
    # (any flag: the column analyses filter on). device_key / token_key: keyed digests of the
    # browser's device cookie and of the invitation token, to recognise a second response
    # from either (token_key is never stored for anonymous surveys).
    duration_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    flags: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    flagged: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    device_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    token_key: Mapped[str | None] = mapped_column(String(64), nullable=True)


class PartialResponse(Base):
    """The pages answered so far of a paged questionnaire opened with an invitation token:
    saved on every Next, read back when the same link is opened again, deleted when the
    response is submitted. Never read by analyses, exports or aggregates (only counted)."""

    __tablename__ = "partial_responses"
    __table_args__ = (UniqueConstraint("survey_id", "token_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"))
    # The invitation token's hash (as invitation_tokens stores it) and its branch.
    token_hash: Mapped[str] = mapped_column(String(64))
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"))
    # The form's fields so far (answers, attributes, language) and the page to resume at.
    fields: Mapped[dict[str, Any]] = mapped_column(JSON)
    next_page: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
