"""Bootstrap intervals from replicate estimates, as lavaan's ``parameterEstimates`` computes
them: percentile (``boot.ci.type = "perc"``) and BCa (``"bca"``; ``"bca.simple"`` is BCa with
no acceleration), both with boot's ``norm.inter`` interpolation; the acceleration by regression
on the draw counts (boot's ``empinf(type = "reg")``, as lavaan)."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
from scipy import stats

LEVEL = 0.95


def percentile_interval(t: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """Percentile interval of bootstrap draws, interpolated as lavaan's ``norm.inter``.

    Order statistics ``k = trunc((R + 1) * alpha)`` are interpolated on the normal-quantile
    scale, so the bounds agree with lavaan's given the same draws.

    Parameters
    ----------
    t : ndarray, shape (R,)
        Bootstrap estimates; non-finite values are ignored.
    level : float

    Returns
    -------
    (lower, upper) : tuple of float
    """
    lo, hi = norm_inter(t, ((1 - level) / 2, (1 + level) / 2))
    return lo, hi


def norm_inter(t: np.ndarray, alphas: Iterable[float]) -> list[float]:
    """boot's ``norm.inter``: the ``alphas`` quantiles of the draws ``t`` (non-finite ignored),
    order statistics interpolated on the normal-quantile scale."""
    t = np.sort(t[np.isfinite(t)])
    r = t.size
    if r == 0:
        return [math.nan for _ in alphas]
    out = []
    for alpha in alphas:
        rk = (r + 1) * alpha
        k = int(math.trunc(rk))
        if k == rk and 0 < k <= r:
            out.append(float(t[k - 1]))
        elif k <= 0:
            out.append(float(t[0]))
        elif k >= r:
            out.append(float(t[-1]))
        else:
            z, z0, z1 = stats.norm.ppf([alpha, k / (r + 1), (k + 1) / (r + 1)])
            out.append(float(t[k - 1] + (z - z0) / (z1 - z0) * (t[k] - t[k - 1])))
    return out


def bca_interval(
    t: np.ndarray, t0: float, accel: float, level: float = LEVEL
) -> tuple[float, float]:
    """lavaan's BCa bounds (``boot.ci.type = "bca"``; ``accel = 0``: ``"bca.simple"``).

    ``z0 = qnorm(mean(t < t0))``; the bounds are the :func:`norm_inter` quantiles at
    ``pnorm(z0 + (z0 + z) / (1 - accel (z0 + z)))`` for ``z`` the normal quantiles of the
    level. Draws without variance give ``(t0, t0)``, as lavaan leaves such a row at ``est``.
    """
    t = t[np.isfinite(t)]
    if t.size < 2 or float(np.var(t)) == 0.0:
        return t0, t0
    with np.errstate(divide="ignore"):
        z0 = float(stats.norm.ppf(np.mean(t < t0)))
        z = stats.norm.ppf([(1 - level) / 2, (1 + level) / 2])
        adj = stats.norm.cdf(z0 + (z0 + z) / (1 - accel * (z0 + z)))
    lo, hi = norm_inter(t, [float(a) for a in adj])
    return lo, hi


def regression_acceleration(
    chunks: Iterable[tuple[np.ndarray, np.ndarray]], drop: Iterable[int]
) -> np.ndarray:
    """BCa's acceleration of each statistic as lavaan estimates it (boot's ``empinf`` by
    regression): the replicates ``t`` (R, k) regressed on the draw counts ``f`` (R, n) with an
    intercept, without the columns ``drop`` (one row per group, the first, for identification);
    the influence values ``L`` are 0 and the slopes; ``a = sum(L^3) / (6 sum(L^2)^1.5)`` of the
    centred ``L``.

    Parameters
    ----------
    chunks : iterable of (f, t)
        Consecutive blocks of replicates: counts, shape (r, n), and statistics, shape (r, k).
    drop : iterable of int
        Columns of ``f`` left out.

    Returns
    -------
    ndarray, shape (k,)
    """
    xtx: np.ndarray | None = None
    xty: np.ndarray | None = None
    keep: np.ndarray | None = None
    for f, t in chunks:
        if keep is None:
            keep = np.setdiff1d(np.arange(f.shape[1]), np.fromiter(drop, int))
        x = np.hstack([np.ones((f.shape[0], 1)), np.asarray(f, float)[:, keep]])
        xtx = x.T @ x if xtx is None else xtx + x.T @ x
        xty = x.T @ t if xty is None else xty + x.T @ t
    if xtx is None or xty is None:
        raise ValueError("no replicates")
    try:
        beta = np.linalg.solve(xtx, xty)
    except np.linalg.LinAlgError:
        beta = np.linalg.lstsq(xtx, xty, rcond=None)[0]
    L = np.vstack([np.zeros((1, beta.shape[1])), beta[1:]])
    L = L - L.mean(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (L**3).sum(axis=0) / (6.0 * (L**2).sum(axis=0) ** 1.5)
