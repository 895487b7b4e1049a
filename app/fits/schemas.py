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
    "ordered": False,
    "group_partial": [],
    "std_lv": False,
    "predict": None,
    "ipma": None,
    "mga": None,
    "cluster": None,
    "sampling_weights": None,
    "exclude_flagged": False,
}
# One lavaan group.partial entry: "REL1~1", "TAN=~TAN2", "x1~~x2", "y~x".
PARTIAL = re.compile(r"^\s*([A-Za-z_.][\w.]*)\s*(=~|~~|~1|~)\s*([A-Za-z_.][\w.]*)?\s*$")


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
    name: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="The researcher's own name for this fit (shown in lists; not part of the "
        "spec: the same spec on the same data under another name returns the stored fit, which "
        "takes this name if it had none).",
    )
    method: Literal["sem", "pls"] = Field(
        default="sem",
        description="`sem`: covariance-based SEM (lavaan's estimators). `pls`: PLS path "
        "modelling (`=~` reflective, `<~` mode B, `~` paths; seminr's algorithm) with "
        "`scheme`, `consistent` (PLSc) and `missing` `mean` (default for PLS) or `listwise`.",
    )
    estimator: Literal["ML", "MLR", "MLM", "GLS", "ULS", "WLSMV", "DWLS"] = Field(
        default="ML",
        description="lavaan's estimator: `ML`; `MLR` (robust, any missing); `MLM` (robust "
        "standard errors and the Satorra-Bentler scaled test), `GLS` and `ULS` (no likelihood: "
        "`logl`, `aic`, `bic` null; no bootstrap) need complete data: `missing` `listwise`. "
        "`WLSMV` and `DWLS` (lavaan's estimators for ordered items) need `ordered`; with "
        "`ordered` the default becomes `WLSMV`. Scaled and robust measures under lavaan's names "
        "(`chisq.scaled`, `cfi.scaled`, `rmsea.scaled`, `cfi.robust`, ...).",
    )
    ordered: bool | list[str] = Field(
        default=False,
        description="lavaan's `ordered`: `true` treats every observed variable of the model as "
        "ordinal, a list only those items (the others stay continuous). "
        "Thresholds and polychoric correlations, estimator WLSMV (default) or DWLS, `missing` "
        "listwise (default) or pairwise. With `group`, lavaan's rules for ordered data: "
        "`group_equal` `intercepts` also makes the thresholds equal (and frees the scaling "
        "factors and latent means of the other groups).",
    )
    missing: Literal["fiml", "listwise", "pairwise", "mean"] = Field(
        default="fiml",
        description="`fiml` (lavaan's `missing = \"ml\"`), `listwise`, `pairwise` (lavaan's: "
        "for continuous data the model fitted to pairwise covariances, estimator ML only; for "
        "ordered items pairwise polychorics), or `mean` (method pls).",
    )
    std_lv: bool = Field(
        default=False,
        description="lavaan's `std.lv`: latent variables scaled by a (residual) variance of 1 "
        "instead of a first loading of 1 (method sem; not with `invariance` or "
        "`compare_paths`).",
    )
    scheme: Literal["path", "factorial", "centroid"] = "path"
    consistent: bool = True
    bootstrap_ci: Literal["perc", "bca"] = Field(
        default="perc",
        description="Bootstrap interval: `perc` (percentile) or `bca` (bias-corrected and "
        'accelerated: for SEM lavaan\'s `boot.ci.type = "bca"`, which needs more draws than '
        "rows; for PLS the jackknife acceleration). The result's `bootstrap` object names it "
        "beside the draws requested, succeeded and dropped (by reason).",
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
    cluster: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z][A-Za-z0-9_]{0,39}$",
        description="lavaan's `cluster=` for a single-level model: respondents nested in "
        "clusters, `branch` or any respondent attribute. Same estimates; cluster-robust "
        "standard errors and Yuan-Bentler scaled test (`chisq.scaled`, `cfi.robust`, ...), as "
        "lavaan's `se = \"robust.cluster\"`: the result's `estimator` is `MLR`. Estimator ML "
        "or MLR, missing `fiml` or `listwise`; every row used needs a value; not with "
        "`ordered`, `bootstrap`, `invariance` or `compare_paths`.",
    )
    sampling_weights: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z][A-Za-z0-9_]{0,39}$",
        description="lavaan's `sampling.weights=`: a respondent attribute holding a number "
        ">= 0 for every row used (rescaled to sum to the number of rows). Weighted sample "
        "moments, robust (sandwich) standard errors and the Yuan-Bentler scaled test; the "
        "result's `estimator` is `MLR`. Listwise or FIML (weighted patterns and EM, as "
        "lavaan; with `group` listwise only); estimator ML or MLR; not with `ordered`, "
        "`bootstrap`, `invariance` or `compare_paths`.",
    )
    group_equal: list[GroupEqual] = Field(
        default_factory=list,
        max_length=8,
        description="lavaan's `group.equal` keywords (with `intercepts`, latent means are free "
        "in every group but the first).",
    )
    group_partial: list[str] = Field(
        default_factory=list,
        max_length=200,
        description="lavaan's `group.partial`: parameters left free across groups although "
        '`group_equal` (or an invariance level) covers them, e.g. `["REL1~1", "TAN=~TAN2"]` '
        "(partial invariance). Needs `group`.",
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
    exclude_flagged: bool = Field(
        default=False,
        description="Leave out responses with a quality flag (speeder, straight-liner, "
        "duplicate: `GET /surveys/{slug}/flags`). Default false, as on every analysis.",
    )

    @field_validator("bootstrap")
    @classmethod
    def _bootstrap(cls, v: int) -> int:
        if 0 < v < 100:
            raise ValueError("bootstrap must be 0 or between 100 and 10000")
        return v

    @field_validator("ordered")
    @classmethod
    def _ordered(cls, v: bool | list[str]) -> bool | list[str]:
        if isinstance(v, list):
            if len(v) > 500:
                raise ValueError("ordered: at most 500 items")
            return sorted(set(v)) or False
        return v

    @field_validator("group_equal")
    @classmethod
    def _equal(cls, v: list[str]) -> list[str]:
        return sorted(set(v))

    @field_validator("group_partial")
    @classmethod
    def _partial(cls, v: list[str]) -> list[str]:
        out: list[str] = []
        for text in v:
            compact = "".join(text.split())  # spaces mean nothing: "REL1 ~ 1" is "REL1~1"
            m = PARTIAL.match(compact)
            if m is None or (m.group(2) == "~1") != (m.group(3) is None):
                raise ValueError(f"not a parameter like 'REL1~1' or 'TAN=~TAN2': {text!r}")
            out.append(compact)
        return sorted(set(out))

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
            if self.ordered:
                raise ValueError("ordered applies to method sem only")
            if self.std_lv:
                raise ValueError("std_lv applies to method sem only")
            if self.cluster is not None or self.sampling_weights is not None:
                raise ValueError("cluster and sampling_weights apply to method sem only")
            if self.missing == "pairwise":
                raise ValueError("missing for method pls is mean or listwise")
            if self.missing == "fiml":
                if "missing" in self.model_fields_set:
                    raise ValueError("missing for method pls is mean or listwise")
                self.missing = "mean"
        else:
            if self.missing == "mean":
                raise ValueError(
                    "missing mean is for method pls; sem uses fiml, listwise or pairwise"
                )
            if self.ordered:
                self._ordered_options()
            else:
                self._continuous_options()
            changed: list[str] = [f for f in ("scheme", "consistent") if f in self.model_fields_set]
            changed += [f for f in ("predict", "ipma", "mga") if getattr(self, f) is not None]
            if changed:
                raise ValueError(f"{', '.join(changed)} apply to method pls only")
        return self

    def _continuous_options(self) -> None:
        """What the estimators for continuous items need (lavaan's rules)."""
        if self.estimator in ("WLSMV", "DWLS"):
            raise ValueError(f"estimator {self.estimator} needs ordered items (ordered)")
        if self.missing == "pairwise" and self.estimator != "ML":
            raise ValueError("missing pairwise is available with estimator ML only")
        if self.estimator in ("MLM", "GLS", "ULS") and self.missing != "listwise":
            raise ValueError(
                f"estimator {self.estimator} needs complete data: set missing to listwise "
                "(or use MLR)"
            )
        if self.estimator in ("GLS", "ULS") and self.bootstrap:
            raise ValueError(f"bootstrap is not available with estimator {self.estimator}")
        if self.missing == "pairwise" and self.bootstrap:
            raise ValueError("bootstrap is not available with missing pairwise")
        if self.std_lv and (self.invariance or self.compare_paths):
            raise ValueError("std_lv is not available with invariance or compare_paths")
        design = [f for f in ("cluster", "sampling_weights") if getattr(self, f) is not None]
        taken = [f for f in ("bootstrap", "invariance", "compare_paths") if getattr(self, f)]
        if design and taken:
            raise ValueError(
                f"{' and '.join(design)} not available with {', '.join(taken)} (the survey "
                "design's standard errors are analytic: no bootstrap, no invariance sequence "
                "or path tests yet)"
            )

    def _ordered_options(self) -> None:
        """lavaan's defaults for ordered items: WLSMV, listwise; what is not available yet."""
        ordinal = ("WLSMV", "DWLS")
        if self.estimator not in ordinal:
            if "estimator" in self.model_fields_set:
                raise ValueError("ordered items are fitted with estimator WLSMV or DWLS")
            self.estimator = "WLSMV"
        if self.missing not in ("listwise", "pairwise"):
            if "missing" in self.model_fields_set:
                raise ValueError("ordered items use missing listwise or pairwise")
            self.missing = "listwise"
        unavailable = (
            "bootstrap",
            "invariance",
            "compare_paths",
            "group_partial",
            "std_lv",
            "cluster",
            "sampling_weights",
        )
        taken = [f for f in unavailable if getattr(self, f)]
        if taken:
            raise ValueError(f"{', '.join(taken)} not available with ordered items yet")

    @model_validator(mode="after")
    def _needs_group(self) -> FitCreate:
        grouped = self.group_equal or self.invariance or self.compare_paths or self.group_partial
        if grouped and self.group is None:
            raise ValueError(
                "group_equal, group_partial, invariance and compare_paths need a group"
            )
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
        data = self.model_dump(mode="json", exclude={"name"})
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
    name: str | None = None
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


class FitSummary(BaseModel):
    """One fit in a list: what it is and its headline numbers, without the full result."""

    id: str
    name: str | None = None
    status: Status
    progress: float = Field(ge=0, le=1)
    error: str | None = None
    survey: str
    method: str = Field(description="`sem` or `pls`")
    estimator: str | None = None
    missing: str | None = None
    group: str | None = None
    model: str = Field(description="the model syntax as stored (comments and spaces dropped)")
    branches: list[str] | None = None
    nobs: int | None = None
    fit: dict[str, float | int | None] | None = Field(
        default=None,
        description="`npar`, `chisq`, `df`, `pvalue`, `cfi`, `tli`, `rmsea`, `srmr` (and their "
        "robust/scaled versions under MLR) of a finished CB-SEM fit",
    )
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None


class FitPage(BaseModel):
    """A page of a survey's fits, newest first; ``total`` counts every match."""

    items: list[FitSummary]
    total: int
    limit: int
    offset: int
    next_offset: int | None = Field(
        default=None, description="the `offset` of the next page; null on the last page"
    )


class FitCompare(BaseModel):
    """Fits to compare by likelihood-ratio tests (lavaan's ``lavTestLRT``)."""

    model_config = ConfigDict(extra="forbid")

    fits: list[str] = Field(
        min_length=2,
        max_length=10,
        description="ids of finished CB-SEM fits of the same survey, on the same data, with the "
        "same estimator (nested models; ordered by their degrees of freedom in the table)",
    )

    @field_validator("fits")
    @classmethod
    def _distinct(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("the same fit is named twice")
        return v


class FitComparison(BaseModel):
    """``lavTestLRT`` of stored fits: ``table`` rows ordered by ``Df``, each naming its fit."""

    method: Literal["standard", "satorra.bentler.2001"] = Field(
        description="`standard` (ML: difference of the chi-squares) or `satorra.bentler.2001` "
        "(MLR: scaled difference; `Chisq` holds the standard statistics, as lavaan prints them)"
    )
    nobs: int
    table: list[dict[str, Any]] = Field(
        description="`fit`, `name`, `Df`, `AIC`, `BIC`, `Chisq`, `Chisq diff`, `RMSEA` (not with "
        "`satorra.bentler.2001`), `Df diff`, `Pr(>Chisq)`; the differences are null on the "
        "first row"
    )
