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
    """
    with single_thread_blas():
        return _saturated_em(X, max_iter=max_iter, tol=tol)


def _saturated_em(X: np.ndarray, *, max_iter: int, tol: float) -> SaturatedEM:
    X = np.asarray(X, dtype=float)
    patterns = missing_patterns(X)
    n = sum(p.n for p in patterns)
    p = X.shape[1]
    # Start from available-case moments: cheap and close for modest missingness.
    mean = np.nanmean(X, axis=0)
    var = np.nanvar(X, axis=0)
    cov = np.diag(np.where(var > 0, var, 1.0))
    complete = [pat for pat in patterns if pat.idx.size == p]
    if complete and complete[0].n > p:
        cov = complete[0].cov.copy()
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 - n_iter is reported
        T1 = np.zeros(p)
        T2 = np.zeros((p, p))
        for pat in patterns:
            o = pat.idx
            m = np.flatnonzero(~pat.obs)
            Y = X[np.ix_(pat.rows, o)]
            if m.size == 0:
                T1 += Y.sum(axis=0)
                T2 += Y.T @ Y
                continue
            Soo = cov[np.ix_(o, o)]
            B = np.linalg.solve(Soo, cov[np.ix_(o, m)])  # (p_o, p_m) regression of m on o
            Ym = mean[m] + (Y - mean[o]) @ B
            C = cov[np.ix_(m, m)] - cov[np.ix_(m, o)] @ B
            Yf = np.empty((pat.n, p))
            Yf[:, o] = Y
            Yf[:, m] = Ym
            T1 += Yf.sum(axis=0)
            T2 += Yf.T @ Yf
            T2[np.ix_(m, m)] += pat.n * C
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
