"""EM estimate of the saturated (unrestricted) multivariate normal model with missing data.

This is lavaan's H1 model under ``missing="ml"``: its log-likelihood is ``unrestricted.logl``,
its moments are the "sample" statistics for SRMR and semTools' ``obs.var=TRUE``, and they are
good start values for FIML.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from app.stats.sem._threads import single_thread_blas
from app.stats.sem.patterns import Pattern, missing_patterns

log = logging.getLogger(__name__)

LOG2PI = float(np.log(2.0 * np.pi))


@dataclass(frozen=True)
class SaturatedEM:
    """Result of :func:`saturated_em`.

    Attributes
    ----------
    mean : ndarray, shape (p,)
    cov : ndarray, shape (p, p)
        ML estimates (divisor n).
    loglik : float
        Observed-data log-likelihood at the estimate (lavaan's ``unrestricted.logl``).
    n_iter : int
        EM iterations used.
    """

    mean: np.ndarray
    cov: np.ndarray
    loglik: float
    n_iter: int


def pattern_loglik(patterns: list[Pattern], mean: np.ndarray, cov: np.ndarray) -> float:
    """Observed-data normal log-likelihood summed over missingness patterns.

    Parameters
    ----------
    patterns : list of Pattern
    mean : ndarray, shape (p,)
    cov : ndarray, shape (p, p)
    """
    total = 0.0
    for pat in patterns:
        S = cov[pat.ix]
        L = np.linalg.cholesky(S)
        d = pat.mean - mean[pat.idx]
        logdet = 2.0 * np.log(np.diag(L)).sum()
        Sinv = np.linalg.inv(S)
        quad = np.sum(Sinv * (pat.cov + np.outer(d, d)))
        total += -0.5 * pat.n * (pat.idx.size * LOG2PI + logdet + quad)
    return float(total)


def saturated_em(X: np.ndarray, *, max_iter: int = 3_000, tol: float = 1e-9) -> SaturatedEM:
    """EM for the mean and covariance of a multivariate normal with values missing at random.

    Parameters
    ----------
    X : ndarray, shape (n, p)
        Data, NaN = missing. Rows with all values missing are ignored.
    max_iter : int
        Iteration cap.
    tol : float
        Stop when the largest absolute change of any mean or covariance element falls
        below ``tol``; the log-likelihood error is then of order n * tol**2.

    Returns
    -------
    SaturatedEM

    Raises
    ------
    ValueError
        No observed value at all.
    """
    with single_thread_blas():
        return _saturated_em(np.asarray(X, dtype=float), max_iter=max_iter, tol=tol)


def _saturated_em(X: np.ndarray, *, max_iter: int, tol: float) -> SaturatedEM:
    return pattern_em(missing_patterns(X), X.shape[1], max_iter=max_iter, tol=tol)


def pattern_em(
    patterns: list[Pattern], p: int, *, max_iter: int = 3_000, tol: float = 1e-9
) -> SaturatedEM:
    """:func:`saturated_em` from the rows' missingness patterns (e.g. weighted ones,
    :func:`app.stats.sem.patterns.weighted_patterns`) over ``p`` variables."""
    if not patterns:
        raise ValueError("no observed values")
    n = sum(pat.n for pat in patterns)
    # The E-step works on each pattern's mean and covariance, not its rows: an iteration costs
    # O(patterns * p^3) whatever n is. The observed blocks' sums never change: add them once.
    t1_obs = np.zeros(p)
    t2_obs = np.zeros((p, p))
    partial = []
    for pat in patterns:
        o, k = pat.idx, pat.n
        t1_obs[o] += k * pat.mean
        t2_obs[pat.ix] += k * (pat.cov + np.outer(pat.mean, pat.mean))
        m = np.flatnonzero(~pat.obs)
        if m.size:
            blocks = (np.ix_(o, o), np.ix_(o, m), np.ix_(m, o), np.ix_(m, m))
            partial.append((o, m, *blocks, k, pat.mean, pat.cov))
    # Start from available-case moments, or the complete rows' when there are enough of them.
    counts = sum(np.where(pat.obs, pat.n, 0) for pat in patterns)
    mean = t1_obs / counts
    var = np.diag(t2_obs) / counts - mean**2
    cov = np.diag(np.where(var > 0, var, 1.0))
    complete = [pat for pat in patterns if pat.idx.size == p]
    if complete and complete[0].n > p:
        cov = complete[0].cov.copy()
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 - n_iter is reported
        T1 = t1_obs.copy()
        T2 = t2_obs.copy()
        for o, m, oo, om, mo, mm, k, ybar, S in partial:
            B = np.linalg.solve(cov[oo], cov[om])  # (p_o, p_m) regression of m on o
            mbar = mean[m] + (ybar - mean[o]) @ B  # mean of the conditional expectations
            C = cov[mm] - cov[om].T @ B  # conditional covariance of m given o
            T1[m] += k * mbar
            cross = k * (S @ B + np.outer(ybar, mbar))  # sum over rows of y_o E[y_m]'
            T2[om] += cross
            T2[mo] += cross.T
            T2[mm] += k * (C + B.T @ S @ B + np.outer(mbar, mbar))
        new_mean = T1 / n
        new_cov = T2 / n - np.outer(new_mean, new_mean)
        new_cov = (new_cov + new_cov.T) / 2.0
        delta = max(np.abs(new_mean - mean).max(), np.abs(new_cov - cov).max())
        mean, cov = new_mean, new_cov
        if delta < tol:
            break
    else:
        log.warning("saturated EM did not converge in %d iterations", max_iter)
    return SaturatedEM(mean, cov, pattern_loglik(patterns, mean, cov), n_iter)
