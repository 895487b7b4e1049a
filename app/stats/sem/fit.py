"""``fit_model``: the public entry point of pvm's SEM engine."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from app.stats.sem._threads import single_thread_blas
from app.stats.sem.bootstrap import apply_bootstrap, canonical_rows, check_interval
from app.stats.sem.diagnostics import (
    MAX_MI_VARIABLES,
    MAX_Z_COST,
    modification_indices,
    observed_z_cost,
    residuals_and_fitted,
)
from app.stats.sem.errors import ModelError
from app.stats.sem.ordinal import ORDINAL_ESTIMATORS, fit_ordinal
from app.stats.sem.problem import Problem, prepare
from app.stats.sem.results import SemResult
from app.stats.sem.summary import summarize
from app.stats.sem.validate import definitions

__all__ = ["MAX_MI_VARIABLES", "fit_model"]


def fit_model(
    data: pd.DataFrame,
    model: str,
    *,
    estimator: str = "ML",
    missing: str = "fiml",
    group: str | None = None,
    group_equal: Sequence[str] = (),
    ordered: bool | Sequence[str] = False,
    group_partial: Sequence[str] = (),
    std_lv: bool = False,
    cluster: str | None = None,
    sampling_weights: str | None = None,
    bootstrap: int = 0,
    seed: int = 1,
    bootstrap_ci: str = "perc",
    progress: Callable[[float], None] | None = None,
) -> SemResult:
    """Fit a model in lavaan syntax as lavaan's ``sem()`` would.

    Parameters
    ----------
    data : DataFrame
        One column per observed variable (NaN = missing) and, optionally, the group column.
    model : str
        lavaan model syntax.
    estimator : {"ML", "MLR", "MLM", "GLS", "ULS", "WLSMV", "DWLS"}
        "MLM", "GLS" and "ULS" need ``missing="listwise"``; GLS and ULS have no bootstrap.
        WLSMV and DWLS need ``ordered`` (``app.stats.sem.ordinal``).
    missing : {"fiml", "listwise", "pairwise"}
        "fiml" is lavaan's ``missing="ml"`` (mean structure included); "pairwise" (ML only)
        fits the pairwise covariances as lavaan's ``missing="pairwise"``. Ordered items:
        "listwise" or "pairwise" (pairwise polychorics).
    group : str, optional
        Grouping column; groups in order of first appearance, as lavaan.
    group_equal : sequence of str
        lavaan ``group.equal`` keywords (with ordered items also ``thresholds``).
    ordered : bool or sequence of str
        lavaan's ``ordered``: True = every observed variable of the model, or the names.
    group_partial : sequence of str
        lavaan ``group.partial``: parameters such as ``"REL1~1"`` exempt from ``group_equal``.
    std_lv : bool
        lavaan's ``std.lv``: latent variables scaled by variance 1 instead of a marker loading.
    cluster : str, optional
        Column of cluster ids (lavaan's ``cluster=``, single-level): cluster-robust standard
        errors and scaled test (:mod:`app.stats.sem.design`); estimator ML or MLR.
    sampling_weights : str, optional
        Column of sampling weights >= 0 (lavaan's ``sampling.weights=``): weighted moments,
        MLR-type standard errors and test (listwise or FIML; with ``group`` listwise).
    bootstrap : int
        Number of bootstrap replicates (0 = none). With a bootstrap the rows are first put in a
        canonical order (:func:`app.stats.sem.bootstrap.canonical_rows`): the same seed on the
        same rows gives the same numbers whatever their storage order.
    seed : int
    bootstrap_ci : {"perc", "bca"}
        Bootstrap interval: percentile or lavaan's BCa.
    progress : callable, optional
        Called with the fraction done, 0..1.

    Returns
    -------
    SemResult
        With ``modindices`` (None beyond ``MAX_MI_VARIABLES`` observed variables),
        ``residuals`` (cor, mean, raw, raw.mean; std and std.mean with ML and MLR) and
        ``fitted`` (cov, mean).

    Raises
    ------
    ModelError
        Bad syntax, unknown variables, too few rows, a singular covariance matrix.
    """
    for field, name in (("cluster", cluster), ("sampling_weights", sampling_weights)):
        if name is not None and (ordered or estimator.upper() in ORDINAL_ESTIMATORS):
            raise ModelError(f"{field} is not available with ordered items", field=field)
        if name is not None and bootstrap > 0:
            raise ModelError(f"{field} is not available with a bootstrap", field=field)
    if ordered or estimator.upper() in ORDINAL_ESTIMATORS:
        _check_ordered_options(estimator, ordered, bootstrap, group_partial, std_lv)
        est = estimator.upper() if estimator.upper() in ORDINAL_ESTIMATORS else "WLSMV"
        with single_thread_blas():
            res = fit_ordinal(
                data,
                model,
                ordered=True if ordered is True else list(ordered),  # type: ignore[arg-type]
                estimator=est,
                missing="listwise" if missing == "fiml" else missing,
                group=group,
                group_equal=group_equal,
            )
        if progress is not None:
            progress(1.0)
        return res
    if bootstrap > 0 and estimator.upper() in ("GLS", "ULS"):
        raise ModelError(f"bootstrap is not available with estimator {estimator.upper()}")
    if bootstrap > 0 and missing == "pairwise":
        raise ModelError("bootstrap is not available with missing 'pairwise'")
    if bootstrap > 0:
        data = canonical_rows(data, model, group)
    with single_thread_blas():
        prob = prepare(
            data,
            model,
            estimator=estimator,
            missing=missing,
            group=group,
            group_equal=group_equal,
            group_partial=group_partial,
            std_lv=std_lv,
            cluster=cluster,
            sampling_weights=sampling_weights,
        )
        if bootstrap > 0:
            check_interval(prob, bootstrap, bootstrap_ci)
        defs = definitions(prob.partable)
        opt = prob.refit(prob.data)
        if progress is not None and bootstrap <= 0:
            progress(0.9)
        result = _with_diagnostics(prob, opt.theta, summarize(prob, opt, defs))
    if bootstrap > 0:
        result = apply_bootstrap(
            prob, result, B=bootstrap, seed=seed, progress=progress, interval=bootstrap_ci
        )
    if progress is not None:
        progress(1.0)
    return result


def _check_ordered_options(
    estimator: str,
    ordered: bool | Sequence[str],
    bootstrap: int,
    group_partial: Sequence[str],
    std_lv: bool,
) -> None:
    """What ordered items cannot be combined with (a ModelError naming it)."""
    if not ordered:
        raise ModelError(
            f"estimator {estimator} needs ordered variables (ordered)", field="ordered"
        )
    if bootstrap > 0:
        raise ModelError("bootstrap is not available with ordered items")
    if group_partial or std_lv:
        raise ModelError(
            "group_partial and std_lv are not available with ordered items", field="ordered"
        )


def _with_diagnostics(prob: Problem, theta: np.ndarray, result: SemResult) -> SemResult:
    """``result`` with modification indices (up to MAX_MI_VARIABLES observed variables),
    residuals (raw, correlation; standardized as :func:`_z_information` allows) and fitted
    moments at ``theta``."""
    mi = None
    if len(prob.model.ov) <= MAX_MI_VARIABLES:
        mi = modification_indices(prob.model, theta, prob.data, prob.meanstructure)
    resid, fitted = residuals_and_fitted(
        prob.model, theta, prob.data, prob.meanstructure, result.vcov, _z_information(prob)
    )
    return dataclasses.replace(result, modindices=mi, residuals=resid, fitted=fitted)


def _z_information(prob: Problem) -> str | None:
    """Which information lavResiduals' standardized residuals use: "expected" (ML, complete
    data), "observed" (ML with FIML), "robust" (MLR, complete data or FIML; no cluster or
    sampling weights); None (no ``std``) for the other estimators, pairwise moments and
    survey designs, and beyond ``MAX_Z_COST`` (many missing-data patterns of many variables)
    with observed information."""
    if any(gd.pairwise for gd in prob.data) or prob.design is not None:
        return None
    if prob.estimator not in ("ML", "MLR"):
        return None
    if prob.estimator == "MLR" or prob.missing == "fiml":
        if observed_z_cost(prob.data) > MAX_Z_COST:
            return None
        return "robust" if prob.estimator == "MLR" else "observed"
    return "expected" if all(gd.complete for gd in prob.data) else None
