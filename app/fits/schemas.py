"""Request and response bodies of the fit endpoints (API.md, "Model fits")."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

GroupVar = Literal["branch", "customer_type", "tenure"]
# lavaan's group.equal keywords; the engine says which of them it supports.
GroupEqual = Literal[
    "loadings",
    "intercepts",
    "means",
    "residuals",
    "residual.covariances",
    "lv.variances",
    "lv.covariances",
    "regressions",
]
Status = Literal["queued", "running", "done", "failed"]


class FitFilters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    branch: list[str] | None = Field(default=None, max_length=500)
    submitted_from: datetime | None = None
    submitted_to: datetime | None = None

    @field_validator("branch")
    @classmethod
    def _sorted(cls, v: list[str] | None) -> list[str] | None:
        return sorted(set(v)) if v else None


class FitCreate(BaseModel):
    """A fit request. ``model`` omitted: the survey instrument's default model."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(default=None, max_length=50_000)
    estimator: Literal["ML", "MLR"] = "ML"
    missing: Literal["fiml", "listwise"] = "fiml"
    group: GroupVar | None = None
    group_equal: list[GroupEqual] = Field(default_factory=list, max_length=8)
    invariance: bool = False
    bootstrap: int = Field(default=0, ge=0, le=10_000)
    seed: int = Field(default=1, ge=0, le=2**31 - 1)
    filters: FitFilters = Field(default_factory=FitFilters)

    @field_validator("bootstrap")
    @classmethod
    def _bootstrap(cls, v: int) -> int:
        if 0 < v < 100:
            raise ValueError("bootstrap must be 0 or between 100 and 10000")
        return v

    @field_validator("group_equal")
    @classmethod
    def _equal(cls, v: list[str]) -> list[str]:
        return sorted(set(v))

    @model_validator(mode="after")
    def _needs_group(self) -> FitCreate:
        if (self.group_equal or self.invariance) and self.group is None:
            raise ValueError("group_equal and invariance need a group")
        return self

    def canonical(self, *, model: str) -> dict[str, Any]:
        """The spec as stored and hashed: model resolved, comments and spaces dropped.

        Whitespace inside a lavaan statement carries no meaning, so ``a+b`` and ``a + b`` hash
        the same; line breaks are kept (they separate statements).
        """
        lines = (
            "".join(re.split(r"[#!]", line, maxsplit=1)[0].split()) for line in model.splitlines()
        )
        data = self.model_dump(mode="json")
        data["model"] = "\n".join(line for line in lines if line)
        return data


class FitRead(BaseModel):
    """A fit job. ``result`` is API.md's result object once ``status`` is ``done``."""

    id: str
    status: Status
    progress: float = Field(ge=0, le=1)
    error: str | None = None
    result: dict[str, Any] | None = None
    survey: str
    spec: dict[str, Any]
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
