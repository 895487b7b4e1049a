"""Nonparametric (ordinary) bootstrap of a fitted SEM, as lavaan's ``se="bootstrap"``.

Rows are resampled with replacement within each group; every replicate is re-fitted from the
full-sample estimate. Replicate ``b`` draws its rows from ``default_rng((seed, b))``, so the
result depends on ``seed`` and ``B`` only, never on how replicates are spread over workers.
Replicates that fail or do not converge are dropped and counted by reason, as lavaan drops
them; replicates with a negative variance (lavaan's failed ``post.check``) are kept, as lavaan
keeps them, and counted. The data's rows are put in a canonical order first
(:func:`canonical_rows`), so that the same seed on the same rows gives the same numbers
whatever order the rows were stored in.

Intervals (``interval``): ``perc``, percentile intervals, and ``bca``, lavaan's
``boot.ci.type = "bca"`` (bias-corrected and accelerated; the acceleration from the
regression of the replicates on how often each row was drawn, boot's ``empinf(type="reg")``),
both with lavaan's (boot's ``norm.inter``) interpolation.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import multiprocessing
from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd

from app.stats.parallel import mp_context, run_tasks, worker_count, worker_state
from app.stats.sem._threads import single_thread_blas
from app.stats.sem.errors import ModelError
from app.stats.sem.intervals import (
    LEVEL,
    bca_interval,
    percentile_interval,
    regression_acceleration,
)
from app.stats.sem.likelihood import GroupData, expected_information, loglik
from app.stats.sem.model import LisrelModel
from app.stats.sem.partable import build_partable
from app.stats.sem.problem import Problem, fixed_x_values
from app.stats.sem.results import BootstrapInfo, Estimate, SemResult
from app.stats.sem.summary import defined_values

log = logging.getLogger(__name__)

INTERVALS = ("perc", "bca")
# The regression estimate of BCa's acceleration solves (rows x rows) normal equations.
BCA_MAX_ROWS = 4000
OK, NOT_CONVERGED, FAILED = 0, 1, 2
DROP_REASONS = {NOT_CONVERGED: "not converged", FAILED: "numerical failure"}
# Convergence of a replicate: max |gradient| of the mean log-likelihood. 1e-7 moves estimates
# by ~1e-7 relative, far below the Monte-Carlo error of any bootstrap quantity.
GTOL = 1e-7
CHUNK = 25  # replicates per task: small enough for smooth progress, large enough to amortise IPC


def refit_replicate(
    prob: Problem,
    data: list[GroupData],
    start: np.ndarray,
    hinv0: np.ndarray,
    *,
    max_iter: int = 100,
) -> tuple[np.ndarray, bool]:
    """Re-fit ``prob``'s model to a bootstrap sample by BFGS from the full-sample optimum.

    A replicate's optimum is close to the full-sample one, and the inverse information there
    (``hinv0``) is already a good inverse Hessian, so BFGS seeded with it converges
    superlinearly in a few gradient evaluations; Fisher scoring converges only linearly and
    needs the information every step, the engine's L-BFGS needs ~10x more evaluations from a
    unit start. If BFGS stalls, the engine's optimiser takes over.

    Parameters
    ----------
    prob : Problem
    data : list of GroupData
        The replicate.
    start : ndarray, shape (npar,)
    hinv0 : ndarray, shape (npar, npar)
        Inverse expected information of the full sample at ``start``.

    Returns
    -------
    theta : ndarray, shape (npar,)
    converged : bool
    """
    model, ms = _replicate_model(prob, data), prob.meanstructure
    ntot = sum(gd.n for gd in data)
    theta = np.asarray(start, float).copy()
    H = hinv0.copy()
    ll, g, _ = loglik(model, theta, data, ms)
    for _ in range(max_iter):
        if g is None or not math.isfinite(ll):
            break
        if np.abs(g).max() / ntot < GTOL:
            return theta, True
        step = H @ g  # ascent direction of the log-likelihood
        t = 1.0
        for _half in range(30):
            cand = theta + t * step
            ll_c, g_c, _ = loglik(model, cand, data, ms)
            if math.isfinite(ll_c) and g_c is not None and ll_c >= ll + 1e-4 * t * (g @ step):
                break
            t /= 2.0
        else:
            break
        s_k, y_k = cand - theta, g - g_c  # y: change of the gradient of -loglik
        sy = float(s_k @ y_k)
        if sy > 1e-12 * float(np.linalg.norm(s_k) * np.linalg.norm(y_k)):
            rho = 1.0 / sy
            Hy = H @ y_k
            # BFGS inverse-Hessian update (Nocedal & Wright eq. 6.17), expanded
            H += (rho * rho * float(y_k @ Hy) + rho) * np.outer(s_k, s_k) - rho * (
                np.outer(Hy, s_k) + np.outer(s_k, Hy)
            )
        theta, ll, g = cand, ll_c, g_c
    fallback = prob if model is prob.model else dataclasses.replace(prob, model=model)
    opt = fallback.refit(data, start=start)
    return opt.theta, bool(opt.converged and math.isfinite(opt.loglik))


def start_inverse_information(prob: Problem, theta: np.ndarray) -> np.ndarray:
    """Inverse expected information of the full sample at ``theta``, shape (npar, npar)."""
    mats = prob.model.matrices(theta)
    info = expected_information(prob.model, mats, prob.data, prob.meanstructure)
    try:
        return np.linalg.inv(info)
    except np.linalg.LinAlgError:
        return np.linalg.pinv(info)


def _replicate_model(prob: Problem, data: list[GroupData]) -> LisrelModel:
    """The model with fixed.x statistics of this sample (lavaan re-computes them per replicate)."""
    if not prob.partable.names.ov_x:
        return prob.model
    return LisrelModel(prob.partable, fixed_x_values(prob.partable, data))


def canonical_rows(data: pd.DataFrame, model: str, group: str | None = None) -> pd.DataFrame:
    """``data`` with its rows sorted by the model's observed variables (missing last), within
    the groups' order of first appearance (lavaan's group order): the same rows stored in any
    order give the same frame where it matters, hence the same bootstrap draws. Rows equal on
    every model variable are interchangeable."""
    names = [v for v in build_partable(model).names.ov if v in data.columns]
    if not names:
        return data
    keys = data[names].apply(pd.to_numeric, errors="coerce")
    order_cols = list(names)
    if group is not None and group in data.columns:
        labels = data[group].astype(str).where(data[group].notna(), None)
        first = {g: k for k, g in enumerate(pd.unique(labels.dropna()))}
        keys.insert(0, "__group__", labels.map(first).astype(float))
        order_cols.insert(0, "__group__")
    order = keys.sort_values(order_cols, kind="mergesort", na_position="last").index
    return data.loc[order]


def draw_indices(prob: Problem, seed: int, b: int) -> list[np.ndarray]:
    """Replicate ``b``'s rows: drawn with replacement within each group (group order)."""
    rng = np.random.default_rng((seed, b))
    return [rng.integers(0, gd.n, gd.n) for gd in prob.data]


def draw_counts(prob: Problem, seed: int, b: int) -> np.ndarray:
    """How often replicate ``b`` drew each row (groups one after the other), shape (n,)."""
    idx = draw_indices(prob, seed, b)
    return np.concatenate(
        [np.bincount(i, minlength=gd.n) for i, gd in zip(idx, prob.data, strict=True)]
    )


def resample(prob: Problem, seed: int, b: int) -> list[GroupData]:
    """Replicate ``b``: rows drawn with replacement within each group (group order)."""
    # the saturated (EM) moments are only needed when fixed.x statistics come from them
    need_h1 = bool(prob.partable.names.ov_x)
    return [
        GroupData.from_array(gd.X[idx], with_h1=need_h1)
        for gd, idx in zip(prob.data, draw_indices(prob, seed, b), strict=True)
    ]


def _run_chunk(
    prob: Problem, start: np.ndarray, hinv0: np.ndarray, seed: int, reps: range
) -> tuple[np.ndarray, np.ndarray]:
    thetas = np.full((len(reps), start.size), np.nan)
    status = np.full(len(reps), FAILED, dtype=np.int8)
    with single_thread_blas():
        for k, b in enumerate(reps):
            try:
                thetas[k], converged = refit_replicate(prob, resample(prob, seed, b), start, hinv0)
                status[k] = OK if converged else NOT_CONVERGED
            except (np.linalg.LinAlgError, ValueError, ArithmeticError) as exc:
                log.debug("bootstrap replicate %d failed: %s", b, exc)
    return thetas, status


def _worker_chunk(lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """A chunk of replicates in a worker process (the Problem sent once per worker)."""
    w = worker_state()
    return _run_chunk(w["prob"], w["start"], w["hinv0"], w["seed"], range(lo, hi))


def _mp_context() -> multiprocessing.context.BaseContext:
    return mp_context(preload=("app.stats.sem.bootstrap",))


def bootstrap_thetas(
    prob: Problem,
    start: np.ndarray,
    *,
    B: int,
    seed: int,
    n_jobs: int = 2,
    progress: Callable[[float], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Fit ``B`` bootstrap replicates.

    Parameters
    ----------
    prob : Problem
    start : ndarray, shape (npar,)
        Full-sample estimate (start of every replicate).
    B, seed : int
    n_jobs : int
        Worker processes; 1 runs in this process. Results do not depend on it.
    progress : callable, optional
        Called with the fraction of replicates done, 0..1. An exception it raises stops the
        bootstrap (replicates not yet started are dropped) and propagates.

    Returns
    -------
    thetas : ndarray, shape (B, npar)
        NaN rows for failed replicates.
    status : ndarray of int8, shape (B,)
        ``OK``, ``NOT_CONVERGED`` or ``FAILED`` (a numerical failure) per replicate.
    """
    thetas = np.full((B, start.size), np.nan)
    status = np.full(B, FAILED, dtype=np.int8)
    bounds = [(lo, min(lo + CHUNK, B)) for lo in range(0, B, CHUNK)]
    done = 0
    with single_thread_blas():
        hinv0 = start_inverse_information(prob, start)

    def run_here(lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        return _run_chunk(prob, start, hinv0, seed, range(lo, hi))

    def collect(chunk: tuple[int, ...], result: tuple[np.ndarray, np.ndarray]) -> None:
        nonlocal done
        lo, hi = chunk
        thetas[lo:hi], status[lo:hi] = result
        done += hi - lo
        if progress is not None:
            progress(done / B)

    workers = worker_count(n_jobs, len(bounds))
    run_tasks(
        bounds,
        run=run_here,
        remote=_worker_chunk,
        state={"prob": prob, "start": start, "hinv0": hinv0, "seed": seed},
        collect=collect,
        workers=workers,
        context=_mp_context() if workers > 1 else None,
    )
    return thetas, status


def _defined_values(prob: Problem, thetas: np.ndarray) -> np.ndarray:
    """``:=`` parameters of each replicate, shape (R, n_defined); NaN where undefined."""
    n_def = len(prob.partable.definitions)
    out = np.full((thetas.shape[0], n_def), np.nan)
    if n_def:
        for i, th in enumerate(thetas):
            # e.g. log of a negative replicate value: left NaN, dropped like lavaan's NA
            with contextlib.suppress(ArithmeticError, ValueError):
                out[i] = defined_values(prob, th)
    return out


def _acceleration(prob: Problem, seed: int, kept: np.ndarray, stats_: np.ndarray) -> np.ndarray:
    """Regression acceleration of the columns of ``stats_`` (one row per kept replicate)."""
    firsts, start = [], 0
    for gd in prob.data:
        firsts.append(start)
        start += gd.n

    def chunks() -> Iterable[tuple[np.ndarray, np.ndarray]]:
        for lo in range(0, kept.size, 500):
            reps = kept[lo : lo + 500]
            yield np.vstack([draw_counts(prob, seed, int(b)) for b in reps]), stats_[lo : lo + 500]

    return regression_acceleration(chunks(), firsts)


def check_interval(prob: Problem, B: int, interval: str) -> None:
    """Refuse what cannot give the interval before any replicate runs (ModelError)."""
    if interval not in INTERVALS:
        raise ModelError(f"bootstrap interval must be one of {', '.join(INTERVALS)}")
    if interval == "bca":
        n = sum(gd.n for gd in prob.data)
        if n > BCA_MAX_ROWS:
            raise ModelError(
                f"BCa intervals are available for at most {BCA_MAX_ROWS} rows ({n} here): "
                "use bootstrap_ci perc"
            )
        if n >= B:
            raise ModelError(
                f"BCa intervals need more bootstrap draws than rows ({B} draws, {n} rows), "
                "as lavaan: raise bootstrap or use bootstrap_ci perc"
            )


def apply_bootstrap(
    prob: Problem,
    result: SemResult,
    *,
    B: int,
    seed: int,
    progress: Callable[[float], None] | None = None,
    n_jobs: int = 2,
    level: float = LEVEL,
    interval: str = "perc",
) -> SemResult:
    """Bootstrap intervals for every free and every defined parameter.

    Parameters
    ----------
    prob : Problem
        What :func:`app.stats.sem.prepare` returned for ``result``.
    result : SemResult
        The full-sample fit; its ``theta`` starts every replicate.
    B : int
        Number of replicates (>= 1).
    seed : int
    progress : callable, optional
        Called with the fraction of replicates done, 0..1.
    n_jobs : int
        Worker processes (the result does not depend on it).
    level : float
    interval : {"perc", "bca"}
        Percentile or lavaan's BCa (needs more successful replicates than rows, as lavaan).

    Returns
    -------
    SemResult
        ``ci.lower``/``ci.upper`` of free and defined rows are the bootstrap bounds (fixed
        rows keep ``est``); ``se``, z and p stay model-based; ``bootstrap`` is a
        :class:`BootstrapInfo` with the bootstrap se, the interval type and the replicates
        requested, kept and dropped (by reason).

    Raises
    ------
    ModelError
        ``bca`` with too few replicates for the rows (before or after dropping failures).
    """
    if B < 1:
        raise ValueError("B must be at least 1")
    check_interval(prob, B, interval)
    thetas, status = bootstrap_thetas(
        prob, np.asarray(result.theta, float), B=B, seed=seed, n_jobs=n_jobs, progress=progress
    )
    kept = np.flatnonzero(status == OK)
    good = thetas[kept]
    n_failed = int(B - good.shape[0])
    dropped = {
        why: int((status == code).sum())
        for code, why in DROP_REASONS.items()
        if (status == code).any()
    }
    if n_failed:
        log.warning("%d of %d bootstrap replicates were dropped: %s", n_failed, B, dropped)
    defined = _defined_values(prob, good)
    # lavaan: vcov of free parameters divides by R, of defined ones (cov()) by R - 1
    se_free = good.std(axis=0, ddof=0) if good.shape[0] else np.full(good.shape[1], np.nan)
    se_def = defined.std(axis=0, ddof=1) if good.shape[0] > 1 else np.full(defined.shape[1], np.nan)
    if interval == "bca":
        ci_free, ci_def = _bca_intervals(prob, result, B, seed, kept, good, defined, level)
    else:
        ci_free = [percentile_interval(good[:, j], level) for j in range(good.shape[1])]
        ci_def = [percentile_interval(defined[:, j], level) for j in range(defined.shape[1])]
    ests, se_rows = _rows_with_intervals(result, ci_free, ci_def, se_free, se_def)
    info = BootstrapInfo(
        B,
        int(good.shape[0]),
        n_failed,
        seed,
        level,
        se_rows,
        interval=interval,
        dropped=dropped,
        inadmissible=_inadmissible(prob, good),
    )
    return dataclasses.replace(result, estimates=ests, bootstrap=info)


def _bca_intervals(
    prob: Problem,
    result: SemResult,
    B: int,
    seed: int,
    kept: np.ndarray,
    good: np.ndarray,
    defined: np.ndarray,
    level: float,
) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """BCa intervals of the free (``good``, (R, npar)) and defined ((R, n_def)) parameters.

    ``kept`` are the indices of the successful replicates among the ``B`` drawn with ``seed``.
    """
    n = sum(gd.n for gd in prob.data)
    if good.shape[0] <= n:
        raise ModelError(
            f"BCa intervals need more successful bootstrap draws than rows "
            f"({good.shape[0]} of {B} succeeded, {n} rows): raise bootstrap or use perc"
        )
    theta0 = np.asarray(result.theta, float)
    def0 = [e.est for e in result.estimates if e.op == ":="]
    acc_free = _acceleration(prob, seed, kept, good)
    acc_def = _acceleration(prob, seed, kept, defined) if defined.shape[1] else np.zeros(0)
    ci_free = [
        bca_interval(good[:, j], float(theta0[j]), float(acc_free[j]), level)
        for j in range(good.shape[1])
    ]
    ci_def = [
        bca_interval(defined[:, j], float(def0[j]), float(acc_def[j]), level)
        for j in range(defined.shape[1])
    ]
    return ci_free, ci_def


def _rows_with_intervals(
    result: SemResult,
    ci_free: list[tuple[float, float]],
    ci_def: list[tuple[float, float]],
    se_free: np.ndarray,
    se_def: np.ndarray,
) -> tuple[list[Estimate], list[float]]:
    """The estimates with the bootstrap bounds (fixed rows: ``est``) and each row's
    bootstrap se (0 for fixed rows)."""
    ests, se_rows, k_def = [], [], 0
    for e in result.estimates:
        if e.op == ":=":
            lo, hi = ci_def[k_def]
            se_rows.append(float(se_def[k_def]))
            k_def += 1
        elif e.free:
            lo, hi = ci_free[e.free - 1]
            se_rows.append(float(se_free[e.free - 1]))
        else:
            lo, hi = e.est, e.est
            se_rows.append(0.0)
        ests.append(dataclasses.replace(e, ci_lower=lo, ci_upper=hi))
    return ests, se_rows


def _inadmissible(prob: Problem, thetas: np.ndarray) -> int:
    """Replicates with a negative variance estimate (lavaan's post.check fails; kept)."""
    cols = sorted(
        {r.free - 1 for r in prob.partable.rows if r.op == "~~" and r.lhs == r.rhs and r.free}
    )
    if not cols or not thetas.shape[0]:
        return 0
    return int((thetas[:, cols] < 0).any(axis=1).sum())
