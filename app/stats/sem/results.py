"""Frozen result objects of a SEM fit, serialised under lavaan's names."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def finite_or_none(x: Any) -> Any:
    """JSON-safe number: NaN/inf become None, numpy scalars become Python ones."""
    if x is None:
        return None
    if isinstance(x, (np.integer, int)) and not isinstance(x, bool):
        return int(x)
    x = float(x)
    return x if math.isfinite(x) else None


@dataclass(frozen=True)
class Estimate:
    """One row of lavaan's ``parameterEstimates(fit, standardized=TRUE)``."""

    lhs: str
    op: str
    rhs: str
    label: str
    group: str | None
    est: float
    se: float
    z: float
    pvalue: float
    ci_lower: float
    ci_upper: float
    std_all: float
    free: int = 0  # parameter number (0 = fixed or defined); shared by equal parameters
    se_std: float = math.nan  # delta-method se of std_all (standardizedSolution's ``se``)
    std_lv: float = math.nan  # lavaan's std.lv (only latent variables standardized)
    std_nox: float = math.nan  # lavaan's std.nox (observed exogenous covariates unscaled)

    def to_dict(self) -> dict[str, Any]:
        return {
            "lhs": self.lhs,
            "op": self.op,
            "rhs": self.rhs,
            "label": self.label,
            "group": self.group,
            "est": finite_or_none(self.est),
            "se": finite_or_none(self.se),
            "z": finite_or_none(self.z),
            "pvalue": finite_or_none(self.pvalue),
            "ci.lower": finite_or_none(self.ci_lower),
            "ci.upper": finite_or_none(self.ci_upper),
            "std.lv": finite_or_none(self.std_lv),
            "std.all": finite_or_none(self.std_all),
            "std.nox": finite_or_none(self.std_nox),
            "est.std": finite_or_none(self.std_all),
            "se.std": finite_or_none(self.se_std),
        }


@dataclass(frozen=True)
class MeasurementMatrices:
    """What reliability code needs from a CFA, for one group.

    Attributes
    ----------
    group : str or None
    ov : list of str
        Observed variables (rows), p.
    lv : list of str
        Latent variables (columns; phantom latents of observed regressors included), m.
    lambda_ : ndarray, shape (p, m)
    theta : ndarray, shape (p, p)
    psi : ndarray, shape (m, m)
        Latent (residual) covariances as estimated.
    lv_cov : ndarray, shape (m, m)
        Model-implied latent covariance ``A Psi A'`` (equals psi in a CFA).
    sigma : ndarray, shape (p, p)
        Model-implied covariance.
    sample_cov : ndarray, shape (p, p)
        Observed covariance (divisor n), or the EM estimate under FIML: semTools'
        ``obs.var=TRUE`` denominators.
    sample_mean : ndarray, shape (p,)
    nobs : int
    """

    group: str | None
    ov: list[str]
    lv: list[str]
    lambda_: np.ndarray
    theta: np.ndarray
    psi: np.ndarray
    lv_cov: np.ndarray
    sigma: np.ndarray
    sample_cov: np.ndarray
    sample_mean: np.ndarray
    nobs: int


# lavaan's names of the scaled and robust fit measures, in lavaan's order (a RobustTest field
# of the same name with "_" for "." holds each; MLR fills some, MLM others)
ROBUST_MEASURES = (
    "chisq.scaled",
    "df.scaled",
    "pvalue.scaled",
    "chisq.scaling.factor",
    "baseline.chisq.scaled",
    "baseline.df.scaled",
    "baseline.pvalue.scaled",
    "baseline.chisq.scaling.factor",
    "cfi.scaled",
    "tli.scaled",
    "rmsea.scaled",
    "cfi.robust",
    "tli.robust",
    "rmsea.robust",
    "rmsea.ci.lower.robust",
    "rmsea.ci.upper.robust",
    "rmsea.pvalue.robust",
)


@dataclass(frozen=True)
class RobustTest:
    """Robust standard errors and scaled test statistic of an MLR or MLM fit.

    Every measure is also a key of ``SemResult.fit`` under lavaan's name (``chisq_scaled`` is
    ``chisq.scaled``, ``scaling_factor`` is ``chisq.scaling.factor``, ...); a measure the
    estimator does not define is None and absent from the fit measures.

    Attributes
    ----------
    se : {"robust.huber.white", "robust.sem"}
        lavaan's ``se`` option: MLR's sandwich with observed information, MLM's with expected.
    test : {"yuan.bentler.mplus", "satorra.bentler"}
        lavaan's ``test`` option: how the chi-square is scaled.
    chisq_scaled, df_scaled, pvalue_scaled : float
        Scaled test statistic, its degrees of freedom and p-value.
    scaling_factor : float
        ``c`` of ``chisq.scaled = chisq / c``.
    baseline_scaling_factor : float
        The independence model's ``c``.
    cfi_robust, tli_robust, rmsea_robust : float
        Brosseau-Liard & Savalei's robust indices.
    rmsea_ci_lower_robust, rmsea_ci_upper_robust, rmsea_pvalue_robust : float or None
        MLR: 90% interval and close-fit p-value of the robust RMSEA.
    baseline_chisq_scaled, baseline_df_scaled, baseline_pvalue_scaled : float or None
        MLM: the independence model's scaled test.
    cfi_scaled, tli_scaled, rmsea_scaled : float or None
        MLM: the indices computed from the scaled statistics.
    """

    se: str
    test: str
    chisq_scaled: float
    df_scaled: float
    pvalue_scaled: float
    scaling_factor: float
    baseline_scaling_factor: float
    cfi_robust: float
    tli_robust: float
    rmsea_robust: float
    rmsea_ci_lower_robust: float | None = None
    rmsea_ci_upper_robust: float | None = None
    rmsea_pvalue_robust: float | None = None
    baseline_chisq_scaled: float | None = None
    baseline_df_scaled: float | None = None
    baseline_pvalue_scaled: float | None = None
    cfi_scaled: float | None = None
    tli_scaled: float | None = None
    rmsea_scaled: float | None = None

    def fit_measures(self) -> dict[str, float]:
        """The measures this estimator defines, under lavaan's names and in lavaan's order."""
        out: dict[str, float] = {}
        for name in ROBUST_MEASURES:
            value = getattr(self, _robust_field(name))
            if value is not None:
                out[name] = value
        return out

    def to_dict(self) -> dict[str, Any]:
        """``{"se", "test", <lavaan name>: value, ...}`` (JSON-safe)."""
        measures = {k: finite_or_none(v) for k, v in self.fit_measures().items()}
        return {"se": self.se, "test": self.test, **measures}


def _robust_field(name: str) -> str:
    """RobustTest's field of a lavaan measure name."""
    if name.endswith("chisq.scaling.factor"):
        return name.replace("chisq.scaling.factor", "scaling_factor").replace(".", "_")
    return name.replace(".", "_")


@dataclass(frozen=True)
class BootstrapInfo:
    """What :func:`app.stats.sem.apply_bootstrap` did (``SemResult.bootstrap``).

    Attributes
    ----------
    B : int
        Replicates requested.
    n_ok : int
        Replicates that converged (used for the intervals and the se).
    n_failed : int
        Replicates dropped (no convergence or a numerical failure), as lavaan drops them.
    seed : int
    level : float
        Confidence level of the intervals.
    se : list of float
        Bootstrap standard error of each row of ``SemResult.estimates`` (0 for fixed rows).
    interval : {"perc", "bca"}
    dropped : dict
        Dropped replicates by reason (``"not converged"``, ``"numerical failure"``).
    inadmissible : int
        Kept replicates with a negative variance estimate (lavaan keeps them too).
    """

    B: int
    n_ok: int
    n_failed: int
    seed: int
    level: float
    se: list[float]
    interval: str = "perc"
    dropped: dict[str, int] = field(default_factory=dict)
    inadmissible: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "draws": self.B,
            "succeeded": self.n_ok,
            "dropped": dict(self.dropped),
            "inadmissible": self.inadmissible,
            "interval": self.interval,
            "seed": self.seed,
            "level": self.level,
            # the names of the first release, kept for scripts that read them
            "B": self.B,
            "n_ok": self.n_ok,
            "n_failed": self.n_failed,
            "ci.type": self.interval,
            "se": [finite_or_none(s) for s in self.se],
        }


@dataclass(frozen=True)
class OrdinalInfo:
    """How ordered indicators were treated (``SemResult.ordinal``; thresholds are ``|`` rows).

    Attributes
    ----------
    parameterization : {"delta", "theta"}
        lavaan's ``parameterization``: scaling factors (``~*~``) or residual variances free.
    ordered : list of str
        The indicators treated as ordinal, in model order.
    """

    parameterization: str
    ordered: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"parameterization": self.parameterization, "ordered": list(self.ordered)}


@dataclass(frozen=True)
class SemResult:
    """Result of :func:`app.stats.sem.fit_model`.

    ``fit`` holds the fit measures, ``estimates`` the parameter rows (defined parameters last),
    ``r2`` is ``{var: r2}`` for one group or ``{group: {var: r2}}`` for several;
    ``matrices`` one :class:`MeasurementMatrices` per group. ``theta`` (npar,) and ``vcov``
    (npar, npar) are the free parameters and their covariance (used by bootstrap/invariance).
    ``robust`` (MLR, MLM), ``bootstrap`` (after :func:`app.stats.sem.apply_bootstrap`) and
    ``ordinal`` (ordered indicators) are None when they do not apply.
    """

    nobs: int
    estimator: str
    missing: str
    converged: bool
    fit: dict[str, float]
    estimates: list[Estimate]
    r2: dict[str, Any]
    groups: list[str | None]
    nobs_group: list[int]
    matrices: list[MeasurementMatrices]
    theta: np.ndarray
    vcov: np.ndarray
    n_iter: int = 0
    robust: RobustTest | None = None
    bootstrap: BootstrapInfo | None = None
    ordinal: OrdinalInfo | None = None
    modindices: list[Any] | None = None  # diagnostics.ModIndex rows, largest first
    residuals: list[dict[str, Any]] | None = None  # per group: {"cor": ..., "mean": ...}
    fitted: list[dict[str, Any]] | None = None  # per group: {"cov": ..., "mean": ...} (fitted())
    # lavaan's admissibility warnings and, first, the optimizer's if it did not converge
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The ``result`` object of API.md (JSON-safe: None instead of NaN).

        A fit that did not converge keeps its shape, but nothing in it reads as a result: every
        fit measure but ``npar`` and ``df`` is None, and so are the standard errors, z, p-values
        and intervals; ``est`` (and std.all, r2) are where the optimizer stopped, and
        ``warnings`` says so first.
        """
        if len(self.groups) > 1:
            r2: dict[str, Any] = {
                str(g): {k: finite_or_none(v) for k, v in d.items()} for g, d in self.r2.items()
            }
        else:
            r2 = {k: finite_or_none(v) for k, v in self.r2.items()}
        fit = {k: finite_or_none(v) for k, v in self.fit.items()}
        estimates = [e.to_dict() for e in self.estimates]
        if not self.converged:
            fit = {k: (v if k in ("npar", "df") else None) for k, v in fit.items()}
            for e in estimates:
                e.update({k: None for k in ("se", "z", "pvalue", "ci.lower", "ci.upper", "se.std")})
        out: dict[str, Any] = {
            "nobs": self.nobs,
            "estimator": self.estimator,
            "missing": self.missing,
            "converged": self.converged,
            "warnings": list(self.warnings),
            "fit": fit,
            "estimates": estimates,
            "r2": r2,
        }
        if self.modindices is not None:
            out["modindices"] = [m.to_dict() for m in self.modindices]
        if self.residuals is not None:
            out["residuals"] = self._by_kind(self.residuals)
        if self.fitted is not None:
            out["fitted"] = self._by_kind(self.fitted)
        if self.robust is not None:  # se and test types; the measures are also in ``fit``
            out["robust"] = self.robust.to_dict()
            if not self.converged:
                out["robust"].update({k: None for k in self.robust.fit_measures()})
        if self.bootstrap is not None:  # draws requested, kept, dropped; interval; bootstrap se
            out["bootstrap"] = self.bootstrap.to_dict()
        if self.ordinal is not None:
            out["ordinal"] = self.ordinal.to_dict()
        return out

    def _by_kind(self, per_group: list[dict[str, Any]]) -> dict[str, Any]:
        """``{"cor": {var: {var: r}}, "mean": {var: r}, ...}``; with groups each keyed by group."""

        def clean(x: Any) -> Any:
            return {k: clean(v) for k, v in x.items()} if isinstance(x, dict) else finite_or_none(x)

        if len(self.groups) == 1:
            return clean(per_group[0])
        out: dict[str, Any] = {}
        for g, res in zip(self.groups, per_group, strict=True):
            for kind, value in res.items():
                out.setdefault(kind, {})[str(g)] = clean(value)
        return out
