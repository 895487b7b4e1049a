"""Pydantic schemas of the survey API (XCreate / XRead)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

Slug = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
# A title per language code (e.g. {"zh": ..., "en": ...}): bounded like every stored field.
Title = dict[
    Annotated[str, Field(min_length=1, max_length=16)], Annotated[str, Field(max_length=500)]
]
BranchCode = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
LangTag = Annotated[str, Field(pattern=r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$", max_length=16)]
BranchName = Annotated[str, Field(min_length=1, max_length=200)]


class BranchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = BranchCode
    name: str = Field(min_length=1, max_length=200)
    region: str | None = Field(default=None, max_length=200)
    # The name per language, e.g. {"zh": "北京朝阳", "en": "Beijing Chaoyang"}.
    names: Annotated[dict[LangTag, BranchName], Field(max_length=20)] | None = None


class BranchUpdate(BaseModel):
    """Changes to a branch. ``names`` is merged into the stored names: a language set to null
    loses its name (the branch then shows ``name`` in that language)."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    region: str | None = Field(default=None, max_length=200)
    names: Annotated[dict[LangTag, BranchName | None], Field(max_length=20)] | None = None


class BranchRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    code: str
    name: str
    region: str | None
    names: dict[str, str] = Field(default_factory=dict)

    @field_validator("names", mode="before")
    @classmethod
    def _no_names(cls, v: Any) -> Any:
        return v or {}


class SurveyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    slug: str = Slug
    instrument: str = Field(default="telecom-pv", max_length=64)
    # A stored version of `instrument`; omitted: its current version.
    instrument_version: int | None = Field(default=None, ge=1, le=2**31 - 1)
    title: Annotated[Title, Field(max_length=20)] | None = None
    min_group_size: int = Field(default=5, ge=1, le=10_000)
    requires_token: bool = False
    anonymous: bool = False
    # Response quality (app.surveys.quality): a response faster than this many seconds per
    # answered item is a speeder (null: 2.0); one answering at least this many consecutive
    # scale items identically is a straight-liner (null: 10).
    speeder_seconds_per_item: float | None = Field(default=None, ge=0, le=3600)
    straightline_items: int | None = Field(default=None, ge=2, le=1000)


SurveyStatus = Literal["draft", "open", "closed", "archived"]


QuotaCount = Annotated[int, Field(ge=1, le=10_000_000)]


class Quota(BaseModel):
    """Responses to collect per branch: ``branches`` names branches, ``default`` covers the
    others (null: no quota for them). ``mode`` "stop" refuses submissions to a full branch
    (409, a friendly page); "keep" goes on collecting and only reports the quota."""

    model_config = ConfigDict(extra="forbid")
    mode: Literal["stop", "keep"] = "stop"
    default: QuotaCount | None = None
    branches: Annotated[dict[Annotated[str, BranchCode], QuotaCount], Field(max_length=10_000)] = (
        Field(default_factory=dict)
    )


class SurveyUpdate(BaseModel):
    """Changes to a survey. Weakening privacy (``min_group_size`` lowered, ``requires_token``
    or ``anonymous`` switched off) needs an admin key."""

    model_config = ConfigDict(extra="forbid")
    status: SurveyStatus | None = None
    # Submissions are taken from opens_at until closes_at (time zone required; null clears).
    opens_at: AwareDatetime | None = None
    closes_at: AwareDatetime | None = None
    title: Annotated[Title, Field(max_length=20)] | None = None
    min_group_size: int | None = Field(default=None, ge=1, le=10_000)
    requires_token: bool | None = None
    anonymous: bool | None = None
    # null removes the quota
    quota: Quota | None = None
    # null: back to the default
    speeder_seconds_per_item: float | None = Field(default=None, ge=0, le=3600)
    straightline_items: int | None = Field(default=None, ge=2, le=1000)


class SurveyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    slug: str
    instrument_id: str
    instrument_version: int
    title: dict[str, str]
    min_group_size: int
    requires_token: bool
    anonymous: bool
    status: str
    opens_at: datetime | None = None
    closes_at: datetime | None = None
    quota: Quota | None = None
    created_at: datetime
    # null: the defaults of GET /surveys/{slug}/flags' `thresholds`
    speeder_seconds_per_item: float | None = None
    straightline_items: int | None = None


class TokensCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: int = Field(ge=1, le=10_000)
    branch: str = BranchCode


class TokensRead(BaseModel):
    survey: str
    branch: str
    tokens: list[str]


class ResponseCreate(BaseModel):
    """A submission. Answers are checked by the service (all problems reported at once, keyed
    ``answers.<CODE>``), so values stay loosely typed here."""

    model_config = ConfigDict(extra="forbid")
    branch: str = Field(max_length=32)
    answers: dict[str, Any] = Field(
        description=(
            "Item code -> answer: an integer on the item's scale (scale and 0-10 items), an "
            "option code (single choice), a list of option codes (multiple choice, [] = none "
            'chosen), a string (open text); "na" = not applicable (items that allow it); '
            "null or left out = not answered."
        )
    )
    # Respondent attributes the instrument declares (code -> option or free code).
    attributes: dict[str, Any] = Field(default_factory=dict, max_length=50)
    # The telecom instrument's two attributes may also be given at the top level (API v1).
    customer_type: str | None = Field(default=None, max_length=64)
    tenure: str | None = Field(default=None, max_length=64)
    lang: str | None = Field(default=None, max_length=20)
    token: str | None = Field(default=None, max_length=200)

    def all_attributes(self) -> tuple[dict[str, Any], dict[str, tuple[str, ...]]]:
        """Every attribute given, and where each came from (for error locations)."""
        given: dict[str, Any] = dict(self.attributes)
        at: dict[str, tuple[str, ...]] = {}
        for name in ("customer_type", "tenure"):
            value = getattr(self, name)
            if value is not None and given.get(name) in (None, ""):
                given[name] = value
                at[name] = (name,)
        return given, at


class ResponseCreated(BaseModel):
    id: uuid.UUID


class ImportResult(BaseModel):
    imported: int


@dataclass(frozen=True)
class ClientInfo:
    ip: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class ResponseFilters:
    branch: list[str] | None = None
    submitted_from: datetime | None = None
    submitted_to: datetime | None = None
    # Leave out responses with any quality flag (app.surveys.quality); off by default.
    exclude_flagged: bool = False


class EraseByToken(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str = Field(min_length=1, max_length=200)


class Erased(BaseModel):
    deleted: uuid.UUID


class FlaggedResponse(BaseModel):
    id: str
    branch: str
    submitted_at: datetime
    duration_seconds: int | None = Field(
        description="first load of the questionnaire to submit; whole minutes in anonymous "
        "surveys; null: not measured (API submissions, imports without it)"
    )
    flags: list[str] = Field(description="speeder, straightline, duplicate (empty: none)")


class QualityThresholds(BaseModel):
    speeder_seconds_per_item: float
    straightline_items: int
    default_speeder_seconds_per_item: float
    default_straightline_items: int


class FlagSummary(BaseModel):
    responses: int
    flagged: int = Field(description="responses with at least one flag")
    by_flag: dict[str, int]


class FlagsRead(BaseModel):
    survey: str
    thresholds: QualityThresholds
    summary: FlagSummary
    partial_responses: dict[str, int] = Field(
        description="Started but not submitted (saved pages of invitation links), per branch "
        "code; never part of any analysis or export"
    )
    responses: list[FlaggedResponse]
