"""Request and response bodies of the fit endpoints (API.md, "Model fits")."""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.stats.sem import GROUP_EQUAL

# lavaan's group.equal keywords, as many as the engine supports: its list is the one list.
if TYPE_CHECKING:  # a Literal built from a tuple is beyond mypy
    GroupEqual = str
else:
    GroupEqual = Literal[GROUP_EQUAL]
Status = Literal["queued", "running", "done", "failed", "cancelled"]
Level = Literal["configural", "metric", "scalar", "strict"]
LEVEL_ORDER: tuple[str, ...] = ("configural", "metric", "scalar", "strict")
# group_equal keywords an invariance job accepts: they are those of its levels.
INVARIANCE_EQUAL = {"loadings", "intercepts", "residuals"}
PATH = re.compile(r"^\s*([A-Za-z_.][\w.]*)\s*(=~|~~|~)\s*([A-Za-z_.][\w.]*)\s*$")
# Spec fields added after the first release: left out of the stored spec at their defaults, so
# the cache keys of earlier jobs stay valid.
# Fields added after fits were first stored: left out of the canonical spec at their defaults,
# so earlier cache keys stay valid.
NEW_FIELDS: dict[str, Any] = {
    "invariance_levels": None,
    "compare_paths": [],
    "method": "sem",
    "scheme": "path",
    "consistent": True,
    "bootstrap_ci": "perc",
    "predict": None,
    "ipma": None,
    "mga": None,
}


class PlsPredictOptions(BaseModel):
    """PLSpredict: ``folds``-fold cross-validation repeated ``repetitions`` times."""

    model_config = ConfigDict(extra="forbid")

    folds: int = Field(default=10, ge=2, le=50)
    repetitions: int = Field(default=10, ge=1, le=20)


class PlsIpmaOptions(BaseModel):
    """IPMA for ``target`` (default: the instrument's outcome); items rescaled 0-100 on their
    instrument scale (the service fills ``scale``)."""

    model_config = ConfigDict(extra="forbid")

    target: str | None = Field(default=None, pattern=r"^[A-Za-z_.][A-Za-z0-9_.]{0,39}$")


class PlsMgaOptions(BaseModel):
    """Two-group PLS comparison by ``group`` (``branch`` or a respondent attribute): Henseler's
    PLS-MGA on ``draws`` bootstrap draws per group, the permutation test and MICOM on
    ``permutations`` permutations. ``groups`` names the two values compared (optional when the
    attribute has exactly two)."""

    model_config = ConfigDict(extra="forbid")

    group: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,39}$")
    groups: list[str] | None = Field(default=None, min_length=2, max_length=2)
    draws: int = Field(default=1000, ge=100, le=5000)
    permutations: int = Field(default=1000, ge=100, le=5000)

    @field_validator("groups")
    @classmethod
    def _distinct(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and v[0] == v[1]:
            raise ValueError("groups must name two different values")
        return v


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
    method: Literal["sem", "pls"] = Field(
        default="sem",
        description="`sem`: covariance-based SEM (lavaan's estimators). `pls`: PLS path "
        "modelling (`=~` reflective, `<~` mode B, `~` paths; seminr's algorithm) with "
        "`scheme`, `consistent` (PLSc) and `missing` `mean` (default for PLS) or `listwise`.",
    )
    estimator: Literal["ML", "MLR"] = "ML"
    missing: Literal["fiml", "listwise", "mean"] = "fiml"
    scheme: Literal["path", "factorial", "centroid"] = "path"
    consistent: bool = True
    bootstrap_ci: Literal["perc", "bca"] = Field(
        default="perc", description="Bootstrap interval: percentile or BCa (PLS)."
    )
    group: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z][A-Za-z0-9_]{0,39}$",
        description="Multi-group fit by `branch` or by any respondent attribute of the survey's "
        "instrument (e.g. `customer_type`). Groups with fewer usable "
        "rows than the survey's `min_group_size`, or that cannot identify the model, are left "
        "out and listed with the reason in `result.excluded_groups`; fewer than two usable "
        "groups is a 422.",
    )
    group_equal: list[GroupEqual] = Field(
        default_factory=list,
        max_length=8,
        description="lavaan's `group.equal` keywords (with `intercepts`, latent means are free "
        "in every group but the first).",
    )
    invariance: bool = Field(
        default=False,
        description="Run the measurement-invariance sequence (configural -> metric -> scalar, "
        "plus strict when `group_equal` names `residuals` or `invariance_levels` asks for it). "
        "`result.invariance` holds one object per level; `result.fit`, `estimates` and `r2` are "
        "those of the configural model.",
    )
    invariance_levels: list[Level] | None = Field(
        default=None,
        max_length=4,
        description="Levels of an invariance job, in order, starting with `configural` "
        '(default: `["configural", "metric", "scalar"]`, and `"strict"` after them when '
        "`group_equal` names `residuals`). Needs `invariance: true`.",
    )
    compare_paths: list[str] = Field(
        default_factory=list,
        max_length=10,
        description='Paths to compare across groups, e.g. `["CCI ~ PV"]`: for each, the '
        "chi-square difference of the model with the path equal in every group against the "
        "model with it free (both under `group_equal`), with the per-group estimates, in "
        "`result.path_tests`. Needs `group`.",
    )
    predict: PlsPredictOptions | None = Field(
        default=None, description="PLS only: PLSpredict (`result.predict`)."
    )
    ipma: PlsIpmaOptions | None = Field(
        default=None, description="PLS only: importance-performance map (`result.ipma`)."
    )
    mga: PlsMgaOptions | None = Field(
        default=None,
        description="PLS only: two-group comparison, PLS-MGA, permutation test and MICOM "
        "(`result.mga`).",
    )
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

    @field_validator("compare_paths")
    @classmethod
    def _paths(cls, v: list[str]) -> list[str]:
        out: list[str] = []
        for text in v:
            m = PATH.match(text)
            if m is None:
                raise ValueError(f"not a path like 'CCI ~ PV': {text!r}")
            path = " ".join(m.groups())
            if path not in out:
                out.append(path)
        return out

    @model_validator(mode="after")
    def _method_options(self) -> FitCreate:
        if self.method == "pls":
            if self.group is not None:
                raise ValueError(
                    "group is not available with method pls; two groups are compared "
                    'with "mga": {"group": ...}'
                )
            if self.estimator != "ML":
                raise ValueError("estimator applies to method sem only")
            if self.missing == "fiml":
                if "missing" in self.model_fields_set:
                    raise ValueError("missing for method pls is mean or listwise")
                self.missing = "mean"
        else:
            if self.missing == "mean":
                raise ValueError("missing mean is for method pls; sem uses fiml or listwise")
            if self.bootstrap_ci != "perc":
                raise ValueError("bootstrap_ci bca is available with method pls")
            changed: list[str] = [f for f in ("scheme", "consistent") if f in self.model_fields_set]
            changed += [f for f in ("predict", "ipma", "mga") if getattr(self, f) is not None]
            if changed:
                raise ValueError(f"{', '.join(changed)} apply to method pls only")
        return self

    @model_validator(mode="after")
    def _needs_group(self) -> FitCreate:
        if (self.group_equal or self.invariance or self.compare_paths) and self.group is None:
            raise ValueError("group_equal, invariance and compare_paths need a group")
        if self.invariance_levels is not None and not self.invariance:
            raise ValueError("invariance_levels needs invariance: true")
        if self.invariance:
            other = sorted(set(self.group_equal) - INVARIANCE_EQUAL)
            if other:
                raise ValueError(
                    "with invariance, group_equal may name only loadings, intercepts and "
                    f"residuals (the levels' constraints), not {', '.join(other)}"
                )
            if self.bootstrap:
                raise ValueError("bootstrap is not available with invariance")
            self.invariance_levels = self._levels()
        return self

    def _levels(self) -> list[Level]:
        levels = self.invariance_levels
        if levels is None:
            default: list[Level] = ["configural", "metric", "scalar"]
            return default + (["strict"] if "residuals" in self.group_equal else [])
        ranks = [LEVEL_ORDER.index(lv) for lv in levels]
        if len(levels) < 2 or levels[0] != "configural" or ranks != sorted(set(ranks)):
            raise ValueError(
                "invariance_levels: at least two of configural, metric, scalar, strict, in "
                "that order, starting with configural"
            )
        return list(levels)

    def canonical(self, *, model: str, min_group_size: int | None = None) -> dict[str, Any]:
        """The spec as stored and hashed: model resolved, comments and spaces dropped.

        Whitespace inside a lavaan statement carries no meaning, so ``a+b`` and ``a + b`` hash
        the same; line breaks are kept (they separate statements). A grouped spec records the
        survey's ``min_group_size`` (groups below it are left out), so changing it refits.
        """
        lines = (
            "".join(re.split(r"[#!]", line, maxsplit=1)[0].split()) for line in model.splitlines()
        )
        data = self.model_dump(mode="json")
        data["model"] = "\n".join(line for line in lines if line)
        for name, default in NEW_FIELDS.items():
            if data.get(name) == default:
                del data[name]
        if self.group is not None and min_group_size is not None:
            data["min_group_size"] = int(min_group_size)
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
    branches: list[str] | None = Field(
        default=None,
        description="The branches whose responses the fit uses: `filters.branch`, else the "
        "branch scope of the key that created it; null: every branch.",
    )
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
