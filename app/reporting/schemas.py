"""Response models of the operators' JSON routes (API.md "Operators"), for /openapi.json.

The routes build their JSON with the results' ``to_dict()`` (plain floats, no encoder pass) and
return it as it is; these models document that JSON field for field. A key marked "absent
when ..." is left out of the JSON, not sent as null. tests/reporting/test_schemas.py checks
real responses against them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Quadrant = Literal["keep_up", "concentrate", "possible_overkill", "low_priority"]


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VsRest(_Out):
    """Welch test of the group against the rest of the sample, for one construct."""

    diff: float | None = Field(description="index points, group minus the rest")
    t: float | None
    df: float | None
    p_unadjusted: float | None
    p: float | None = Field(description="Holm-adjusted across the groups of this construct")


class ConstructScoreOut(_Out):
    n: int
    mean: float | None = Field(description="mean on the items' own scale")
    sd: float | None
    index: float | None = Field(description="0-100 index")
    ci: list[float | None] | None = Field(
        description="[low, high] of the index at ci_level; null when it cannot be computed"
    )
    vs_rest: VsRest | None = Field(
        default=None, description="absent for the overall benchmark and for trends"
    )
    ci_boot: list[float] | None = Field(
        default=None,
        description="with index=pls and ci=true: bootstrap percentile interval of the index "
        "(absent otherwise; null when fewer than 2 draws had the cell)",
    )
    ci_boot_draws: int | None = Field(
        default=None, description="draws behind ci_boot; absent without it"
    )


class NpsOut(_Out):
    n: int
    nps: float | None = Field(description="Net Promoter Score, -100..100")
    ci: list[float | None] | None


class GapOut(_Out):
    gap: float = Field(description="perception index minus expectation index")
    perception: float
    expectation: float


class GroupOut(_Out):
    group: str
    n: int
    suppressed: bool
    n_published: int | None = Field(
        default=None,
        description="respondents in published cells; absent when all of n are published",
    )
    suppressed_reason: str | None = Field(default=None, description="absent unless suppressed")
    constructs: dict[str, ConstructScoreOut] | None = Field(
        default=None, description="by construct code; absent when suppressed"
    )
    nps: dict[str, NpsOut] | None = Field(
        default=None, description="by 0-10 item code; absent without such items"
    )
    gaps: dict[str, GapOut] | None = Field(
        default=None, description="by gap code; absent without gaps in the instrument"
    )


class GapDefinition(_Out):
    code: str
    perception: str
    expectation: str


class ScoresOut(_Out):
    """Scores (``by`` branch, month or an attribute) and trends (``by`` month or survey)."""

    scale: Literal["0-100"]
    by: str
    min_group_size: int
    ci_level: float
    test: Literal["welch_vs_rest"] | None = Field(default=None, description="absent for trends")
    p_adjust: Literal["holm"] | None = Field(default=None, description="absent for trends")
    constructs: list[str]
    nps_items: list[str] | None = Field(default=None, description="absent without 0-10 items")
    gaps: list[GapDefinition] | None = Field(default=None, description="absent without gaps")
    overall: GroupOut
    groups: list[GroupOut]
    index: Literal["pls"] | None = Field(
        default=None, description="`pls` for `index=pls` (PLS-weighted ACSI-style indices)"
    )
    pls: dict[str, Any] | None = Field(
        default=None,
        description="with `index=pls`: the model, data fingerprint, the normalized outer "
        "weights, the scales and (with ci) `bootstrap`: interval, draws, succeeded, seed, level",
    )


class DriverPointOut(_Out):
    # "construct" in the JSON; a field of that name would shadow BaseModel.construct
    construct_code: str = Field(alias="construct")
    importance: float = Field(description="standardized total effect on the outcome")
    performance: float | None = Field(description="0-100 index; null when suppressed")
    quadrant: Quadrant | None


class BranchDriversOut(_Out):
    branch: str
    n: int
    suppressed: bool
    concentrate_on: list[str]


class DriversOut(_Out):
    outcome: str
    branch: str | None
    n: int
    suppressed: bool
    drivers: list[DriverPointOut] = Field(description="by decreasing importance")
    importance_split: float | None
    performance_split: float | None
    concentrate_on: list[str] = Field(description="drivers to improve, most important first")
    quadrant_rule: str
    method: str
    fit: dict[str, Any] = Field(description="nobs, converged, data_fingerprint of the pooled fit")
    branches: list[BranchDriversOut]
