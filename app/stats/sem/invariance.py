"""Measurement invariance across groups (configural -> metric -> scalar -> strict).

Each level is a multi-group fit with lavaan's ``group.equal``; consecutive levels are compared
by the chi-square difference test (lavaan's ``lavTestLRT``: the plain difference under ML, the
Satorra-Bentler (2001) scaled difference under MLR) and by the change in CFI. The verdict rule
is Cheung & Rensvold (2002): a level holds when CFI drops by at most 0.01 against the previous
level. Groups that cannot be fitted are left out with a stated reason (see ``screen_groups``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from app.stats.sem._threads import single_thread_blas
from app.stats.sem.checks import group_data
from app.stats.sem.diagnostics import MAX_MI_VARIABLES, ModIndex, modification_indices
from app.stats.sem.errors import ModelError
from app.stats.sem.lrt import chisq_difference as difference_test
from app.stats.sem.optimize import start_values
from app.stats.sem.partable import build_partable
from app.stats.sem.problem import Problem, prepare
from app.stats.sem.results import SemResult, finite_or_none
from app.stats.sem.summary import summarize
from app.stats.sem.validate import group_labels, require_variables

LEVELS: dict[str, tuple[str, ...]] = {
    "configural": (),
    "metric": ("loadings",),
    "scalar": ("loadings", "intercepts"),
    "strict": ("loadings", "intercepts", "residuals"),
}
DELTA_CFI = -0.01
RULE = (
    "a level holds when delta.cfi >= -0.01 against the previous level (Cheung & Rensvold "
    "2002); the chi-square difference test (delta.pvalue) is reported beside it. The first "
    "level (configural) holds when its model fits: cfi >= 0.95 and rmsea <= 0.08. A level "
    "whose fit did not converge is 'not converged'; one whose chi-square cannot be computed "
    "(the saturated model could not be estimated) is 'not assessable'. A label written once "
    "in the model (lavaan would make every group share it) is group-specific in every level "
    "(a -> a__g1, a__g2, ...): the levels differ only by their equality constraints."
)
CONFIGURAL_CFI, CONFIGURAL_RMSEA = 0.95, 0.08


@dataclass(frozen=True)
class ExcludedGroup:
    """A group left out of a multi-group analysis, and why."""

    group: str
    n: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"group": self.group, "n": self.n, "reason": self.reason}


@dataclass(frozen=True)
class InvarianceLevel:
    """One level of the invariance sequence (``delta_*`` are None for the first level)."""

    level: str
    group_equal: tuple[str, ...]
    converged: bool
    npar: int
    chisq: float
    df: int
    pvalue: float
    cfi: float
    tli: float
    rmsea: float
    srmr: float
    delta_chisq: float | None
    delta_df: int | None
    delta_pvalue: float | None
    delta_cfi: float | None
    verdict: str
    result: SemResult = field(repr=False, compare=False)
    # lavaan's modindices() of this level's model (diagnostics.ModIndex rows, largest first)
    modindices: list[ModIndex] | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "level": self.level,
            "group_equal": list(self.group_equal),
            "converged": self.converged,
            "npar": self.npar,
            "chisq": finite_or_none(self.chisq),
            "df": self.df,
            "pvalue": finite_or_none(self.pvalue),
            "cfi": finite_or_none(self.cfi),
            "tli": finite_or_none(self.tli),
            "rmsea": finite_or_none(self.rmsea),
            "srmr": finite_or_none(self.srmr),
            "delta.chisq": finite_or_none(self.delta_chisq),
            "delta.df": self.delta_df,
            "delta.pvalue": finite_or_none(self.delta_pvalue),
            "delta.cfi": finite_or_none(self.delta_cfi),
            "verdict": self.verdict,
        }
        if self.modindices is not None:
            out["modindices"] = [m.to_dict() for m in self.modindices]
        return out


@dataclass(frozen=True)
class InvarianceResult:
    """Result of :func:`fit_invariance`.

    ``groups`` are the groups analysed (lavaan's order: first appearance), ``nobs`` their row
    counts, ``excluded`` the groups left out; ``levels`` in the order requested.
    """

    group: str
    groups: list[str]
    nobs: list[int]
    excluded: list[ExcludedGroup]
    estimator: str
    missing: str
    levels: list[InvarianceLevel]
    rule: str = RULE
    # Labels written once in the model (lavaan would make the groups share them): in the
    # sequence each group has its own (``a`` -> ``a__g1``, ``a__g2``), so that the levels differ
    # only by their group_equal constraints and the configural model constrains nothing.
    unshared_labels: list[str] = field(default_factory=list)

    def to_list(self) -> list[dict[str, Any]]:
        """API.md's ``invariance`` list (one object per level)."""
        return [lv.to_dict() for lv in self.levels]

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "groups": list(self.groups),
            "nobs": list(self.nobs),
            "excluded": [e.to_dict() for e in self.excluded],
            "estimator": self.estimator,
            "missing": self.missing,
            "rule": self.rule,
            "unshared_labels": list(self.unshared_labels),
            "invariance": self.to_list(),
        }


def model_variables(model: str) -> list[str]:
    """Observed variables of a model in lavaan syntax (raises ModelError on bad syntax)."""
    return list(build_partable(model).names.ov)


def screen_groups(
    data: pd.DataFrame,
    variables: Sequence[str],
    *,
    group: str,
    missing: str = "fiml",
    min_group_size: int = 5,
) -> tuple[list[str], list[ExcludedGroup]]:
    """Which groups can enter a multi-group fit.

    A group is left out when, after the missing-data rule (listwise: complete rows only;
    FIML: rows with at least one value), it has fewer than ``min_group_size`` rows, no more
    rows than variables (listwise: the sample covariance matrix would be singular), a
    variable without observations or without variance, two variables never observed in the
    same row (FIML cannot estimate their covariance), or a singular covariance matrix of
    complete data (the reason, from :func:`app.stats.sem.checks.group_data`, names the
    linearly dependent variables).

    Returns
    -------
    kept : list of str
        Group labels in order of first appearance.
    excluded : list of ExcludedGroup
    """
    group_labels(data, group)  # ModelError for an unknown group column
    require_variables(variables, data.columns)
    listwise = {"ml": "fiml"}.get(missing, missing) == "listwise"
    labels = data[group].dropna().astype(str)
    values = data.loc[labels.index, list(variables)].apply(pd.to_numeric, errors="coerce")
    X_all = values.to_numpy(float)
    kept: list[str] = []
    excluded: list[ExcludedGroup] = []
    for label in pd.unique(labels):
        X = X_all[(labels == label).to_numpy()]
        drop = np.isnan(X).any(axis=1) if listwise else np.isnan(X).all(axis=1)
        X = X[~drop]
        n = int(X.shape[0])
        reason = _group_problem(X, variables, listwise, min_group_size)
        if reason:
            excluded.append(ExcludedGroup(str(label), n, reason))
        else:
            kept.append(str(label))
    return kept, excluded


def _group_problem(
    X: np.ndarray, variables: Sequence[str], listwise: bool, min_size: int
) -> str | None:
    """Why a group's rows ``X`` (n, p) cannot be fitted, or None."""
    n, p = X.shape
    if n < max(min_size, 2):
        return f"{n} usable rows, below the minimum group size of {max(min_size, 2)}"
    if listwise and n <= p:
        return f"{n} complete rows for {p} variables: too few to identify the model"
    counts = (~np.isnan(X)).sum(axis=0)
    empty = [v for v, c in zip(variables, counts, strict=True) if c == 0]
    if empty:
        return f"no observations of {', '.join(empty)}"
    with np.errstate(invalid="ignore"):
        var = np.nanvar(X, axis=0)
    flat = [v for v, s in zip(variables, var, strict=True) if not s > 0]
    if flat:
        return f"no variance in {', '.join(flat)}"
    obs = (~np.isnan(X)).astype(float)
    together = obs.T @ obs  # rows in which both variables are observed (FIML coverage)
    i, j = np.nonzero(np.triu(together == 0, 1))
    if i.size:
        a, b = variables[i[0]], variables[j[0]]
        return f"{a} and {b} are never observed together: their covariance is not identified"
    if listwise or not np.isnan(X).any():
        # the engine's own check (prepare would raise it): names the dependent variables
        try:
            group_data(X, variables)
        except ModelError as exc:
            return str(exc)
    return None


def chisq_difference(restricted: SemResult, free: SemResult) -> tuple[float, int, float]:
    """lavTestLRT between nested fits: (delta chisq, delta df, p).

    Under ML the plain difference of the chi-squares; under MLR and MLM the Satorra-Bentler (2001)
    scaled difference (``app.stats.sem.lrt``, lavaan's default for MLR).
    """
    d = difference_test(restricted.fit, free.fit, scaled=restricted.estimator in ("MLR", "MLM"))
    return d.chisq, d.df, d.pvalue


def fit_invariance(
    data: pd.DataFrame,
    model: str,
    *,
    group: str,
    levels: Sequence[str] = ("configural", "metric", "scalar"),
    missing: str = "fiml",
    estimator: str = "ML",
    min_group_size: int = 5,
    progress: Callable[[float], None] | None = None,
    group_partial: Sequence[str] = (),
    modindices: bool = False,
) -> InvarianceResult:
    """Fit the invariance levels in order and compare each with the previous one.

    Parameters
    ----------
    data : DataFrame
        Observed variables (NaN = missing) and the ``group`` column.
    model : str
        lavaan syntax.
    group : str
        Grouping column (e.g. ``"customer_type"``, ``"branch"``).
    levels : sequence of str
        From ``LEVELS``; deltas are taken against the preceding level in this sequence.
    missing : {"fiml", "listwise"}
    estimator : {"ML", "MLR"}
    min_group_size : int
        Groups with fewer usable rows are left out (and reported).
    group_partial : sequence of str
        lavaan's ``group.partial`` (e.g. ``["REL1~1"]``): free in every level (partial
        invariance).
    progress : callable, optional
        Called with the fraction of levels fitted, 0..1, after each level.
    modindices : bool
        Each level also gets lavaan's ``modindices()`` of its model (the score tests of the
        parameters it fixes or lacks; equality constraints are not tested), up to
        ``MAX_MI_VARIABLES`` observed variables.

    Returns
    -------
    InvarianceResult

    Raises
    ------
    ModelError
        Bad syntax or options, unknown variables, fewer than two usable groups.
    """
    bad = [lv for lv in levels if lv not in LEVELS]
    if bad or not levels:
        raise ModelError(f"levels must be a non-empty sequence of {list(LEVELS)}: {bad}")
    sub, kept, excluded = usable_data(data, model, group, missing, min_group_size)
    out: list[InvarianceLevel] = []
    prev_est: dict[tuple, float] | None = None
    with single_thread_blas():
        for name in levels:
            prob = prepare(
                sub,
                model,
                estimator=estimator,
                missing=missing,
                group=group,
                group_equal=LEVELS[name],
                share_labels=False,
                group_partial=group_partial,
            )
            res = fit_warm(prob, prev_est)
            prev_est = estimate_map(res)
            level = _level(name, res, out[-1] if out else None)
            if modindices and len(prob.model.ov) <= MAX_MI_VARIABLES:
                mi = modification_indices(prob.model, res.theta, prob.data, prob.meanstructure)
                level = dataclasses.replace(level, modindices=mi)
            out.append(level)
            if progress is not None:
                progress(len(out) / len(levels))
    return InvarianceResult(
        group,
        kept,
        [int(n) for n in out[0].result.nobs_group],
        excluded,
        out[0].result.estimator,
        out[0].result.missing,
        out,
        unshared_labels=list(prob.partable.unshared_labels),
    )


def usable_data(
    data: pd.DataFrame, model: str, group: str, missing: str, min_group_size: int
) -> tuple[pd.DataFrame, list[str], list[ExcludedGroup]]:
    """The rows of the groups that can be fitted (at least two groups, else ModelError)."""
    kept, excluded = screen_groups(
        data, model_variables(model), group=group, missing=missing, min_group_size=min_group_size
    )
    if len(kept) < 2:
        why = "; ".join(f"{e.group}: {e.reason}" for e in excluded) or "only one group"
        raise ModelError(f"a multi-group analysis needs at least two usable groups ({why})")
    keep = data[group].notna() & data[group].astype(str).isin(kept)
    return data.loc[keep], kept, excluded


def estimate_map(res: SemResult) -> dict[tuple, float]:
    """``{(lhs, op, rhs, group): est}`` of a fit (start values of the next level)."""
    return {(e.lhs, e.op, e.rhs, e.group): e.est for e in res.estimates if e.op != ":="}


def fit_warm(prob: Problem, prev_est: dict[tuple, float] | None) -> SemResult:
    """Fit one level, starting from the previous level's estimates when there are any.

    Equal parameters start at the mean of the previous level's group-specific values, which
    is close to the constrained optimum (12 branches, 20,000 rows: metric and scalar need 5 and
    7 iterations instead of 91 and 165; the three levels take half the time).
    """
    start = None
    if prev_est is not None:
        start = start_values(prob.model, prob.data)
        sums: dict[int, list[float]] = {}
        labels = prob.partable.groups
        for r in prob.partable.rows:
            v = prev_est.get((r.lhs, r.op, r.rhs, labels[r.group - 1]))
            if r.free and v is not None and math.isfinite(v):
                sums.setdefault(r.free, []).append(v)
        for k, vals in sums.items():
            start[k - 1] = float(np.mean(vals))
    return summarize(prob, prob.refit(prob.data, start=start))


def _level(name: str, res: SemResult, prev: InvarianceLevel | None) -> InvarianceLevel:
    f = res.fit
    d_chisq = d_df = d_p = d_cfi = None
    if prev is None:
        ok = f["cfi"] >= CONFIGURAL_CFI and f["rmsea"] <= CONFIGURAL_RMSEA and res.converged
    else:
        d_chisq, d_df, d_p = chisq_difference(res, prev.result)
        d_cfi = float(f["cfi"] - prev.cfi)
        ok = res.converged and d_cfi >= DELTA_CFI
    return InvarianceLevel(
        name,
        LEVELS[name],
        bool(res.converged),
        int(f["npar"]),
        float(f["chisq"]),
        int(f["df"]),
        float(f["pvalue"]),
        float(f["cfi"]),
        float(f["tli"]),
        float(f["rmsea"]),
        float(f["srmr"]),
        d_chisq,
        d_df,
        d_p,
        d_cfi,
        _verdict(res, ok),
        res,
    )


def _verdict(res: SemResult, ok: bool) -> str:
    if not res.converged:
        return "not converged"
    if not math.isfinite(float(res.fit["cfi"])):  # no H1: a comparison would be meaningless
        return "not assessable"
    return "holds" if ok else "does not hold"
