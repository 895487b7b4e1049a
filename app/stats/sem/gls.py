"""GLS and ULS: lavaan's ``estimator="GLS"`` and ``"ULS"`` (least squares), complete data.

ULS replaces the weight ``S^-1`` below by the identity on (means and) ``vech(S - Sigma)``:
``F_g = 0.5 sum_{i<=j} (s_ij - sigma_ij)^2 (+ 0.5 d'd)``; its "standard" standard errors, as
lavaan's, invert ``sum_g (n_g - 1) Delta' Delta``.


Per group, with ``S`` the unbiased sample covariance (divisor n - 1, lavaan's "wishart"
likelihood for GLS), ``ybar`` the sample mean, ``d = ybar - mu`` and
``R = S^-1 (S - Sigma)``, lavaan's ``F_g = 0.5 d' S^-1 d + 0.25 tr(R R)`` (the mean part only
with a mean structure) is minimised as ``sum_g (n_g - 1) F_g``; the test statistic is
``2 sum_g (n_g - 1) F_g`` and the parameter covariance the inverse of
``sum_g (n_g - 1) Delta' W Delta`` (``W = S^-1``: the expected information with ``S`` in place of
``Sigma``), whose Gauss-Newton steps the optimiser takes. ``gls_objective`` returns
``-sum_g (n_g - 1) F_g`` where the ML code has a log-likelihood.
"""

from __future__ import annotations

import math

import numpy as np

from app.stats.sem.likelihood import GroupData
from app.stats.sem.model import GroupMatrices, LisrelModel
from app.stats.sem.optimize import Optimum, start_values


def gls_objective(
    model: LisrelModel,
    theta: np.ndarray,
    data: list[GroupData],
    meanstructure: bool,
    kind: str = "GLS",
) -> tuple[float, np.ndarray, list[GroupMatrices]]:
    """``-sum_g (n_g - 1) F_g`` and its gradient (npar,) at ``theta`` (``kind`` GLS or ULS)."""
    mats = model.matrices(theta)
    total = 0.0
    Gs, gms = [], []
    for gm, gd in zip(mats, data, strict=True):
        S, n = _unbiased(gd), gd.n - 1
        E = S - gm.sigma
        d = gd.h1.mean - gm.mu
        if kind == "ULS":  # F = 0.5 sum_{i<=j} e_ij^2 (+ 0.5 d'd)
            f = 0.25 * float(np.sum(E * E) + np.sum(np.diag(E) ** 2))
            Gs.append(0.5 * n * (E + np.diag(np.diag(E))))
            Wd = d
        else:
            Si = _inv_s(gd)
            R = Si @ E
            f = 0.25 * float(np.sum(R * R.T))
            Gs.append(0.5 * n * (R @ Si))
            Wd = Si @ d
        if meanstructure:
            f += 0.5 * float(d @ Wd)
            gms.append(n * Wd)
        else:
            gms.append(np.zeros(model.p))
        total -= n * f
    return total, model.grad_from_moments(mats, Gs, gms), mats


def gls_information(
    model: LisrelModel,
    mats: list[GroupMatrices],
    data: list[GroupData],
    meanstructure: bool,
    kind: str = "GLS",
) -> np.ndarray:
    """``sum_g (n_g - 1) Delta_g' W_g Delta_g`` with the GLS (``S^-1``) or ULS (identity on
    vech and means) weight; lavaan's "standard" standard errors invert it."""
    q = model.pt.npar
    info = np.zeros((q, q))
    for gd, (dS, dm) in zip(data, model.jacobian(list(mats)), strict=True):
        c = gd.n - 1
        if kind == "ULS":
            il = np.tril_indices(model.p)
            D = dS[:, il[0], il[1]]  # (q, p*)
            info += c * (D @ D.T)
            if meanstructure:
                info += c * (dm @ dm.T)
            continue
        Si = _inv_s(gd)
        X = np.einsum("ij,kjl->kil", Si, dS, optimize=True)
        info += 0.5 * c * (X.reshape(q, -1) @ X.transpose(0, 2, 1).reshape(q, -1).T)
        if meanstructure:
            info += c * (dm @ Si @ dm.T)
    return (info + info.T) / 2.0


def _unbiased(gd: GroupData) -> np.ndarray:
    return gd.h1.cov * (gd.n / (gd.n - 1))


def _inv_s(gd: GroupData) -> np.ndarray:
    return np.linalg.inv(_unbiased(gd))


def fit_gls(
    model: LisrelModel,
    data: list[GroupData],
    meanstructure: bool,
    start: np.ndarray | None = None,
    *,
    kind: str = "GLS",
    max_iter: int = 500,
    gtol: float = 1e-9,
) -> Optimum:
    """Gauss-Newton with step halving from :func:`start_values` (or ``start``)."""
    ntot = sum(gd.n for gd in data)
    theta = start_values(model, data) if start is None else np.asarray(start, float).copy()
    val, g, mats = gls_objective(model, theta, data, meanstructure, kind)
    converged = False
    it = 0
    for it in range(max_iter):  # noqa: B007 - reported as n_iter
        if np.abs(g).max() / ntot < gtol:
            converged = True
            break
        info = gls_information(model, mats, data, meanstructure, kind)
        try:
            step = np.linalg.solve(info, g)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(info, g, rcond=None)[0]
        t = 1.0
        for _ in range(40):
            cand = theta + t * step
            v_c, g_c, m_c = gls_objective(model, cand, data, meanstructure, kind)
            if math.isfinite(v_c) and v_c >= val:
                break
            t /= 2.0
        else:
            break
        theta, val, g, mats = cand, v_c, g_c, m_c
    gmax = float(np.abs(g).max() / ntot)
    return Optimum(theta, val, converged or gmax < 1e-6, it, gmax)


def gls_baseline_chisq(data: list[GroupData], kind: str = "GLS") -> float:
    """The GLS/ULS test statistic of lavaan's independence model (diagonal Sigma, free means).

    GLS: minimising ``tr((I - S^-1 D)^2)`` over diagonal ``D`` is linear,
    ``(A o A) d = diag(A)`` with ``A = S^-1``. ULS: ``D = diag(S)``, leaving the off-diagonal
    covariances as residuals.
    """
    total = 0.0
    for gd in data:
        if kind == "ULS":
            S = _unbiased(gd)
            total += 0.5 * (gd.n - 1) * float(np.sum(np.tril(S, -1) ** 2)) * 2.0
            continue
        A = _inv_s(gd)
        dvec = np.linalg.solve(A * A, np.diag(A))
        R = np.eye(A.shape[0]) - A * dvec[None, :]
        total += 0.5 * (gd.n - 1) * float(np.sum(R * R.T))
    return total


def gls_fit_measures(
    ml_fit: dict[str, float],
    x2: float,
    data: list[GroupData],
    mats: list[GroupMatrices],
    meanstructure: bool,
    kind: str = "GLS",
) -> dict[str, float]:
    """lavaan's GLS fit measures from the ML set computed at the GLS estimate.

    chisq is the GLS statistic, the baseline the GLS independence model, CFI/TLI/RMSEA from
    them (RMSEA with N - G, lavaan's "wishart" sample size), srmr against the unbiased sample
    covariance; no likelihood (logl, AIC, BIC are NaN, as lavaan's NA).
    """
    from scipy import stats

    from app.stats.sem.fitmeasures import cfi_tli, rmsea, rmsea_ci, srmr

    out = dict(ml_fit)
    df, dfb = int(ml_fit["df"]), int(ml_fit["baseline.df"])
    g = len(data)
    n = sum(gd.n for gd in data) - g
    x2b = gls_baseline_chisq(data, kind)
    cfi, tli = cfi_tli(x2, df, x2b, dfb)
    lo, hi = rmsea_ci(x2, df, n, g)
    ncp = n * df * 0.05**2 / g
    out.update(
        {
            "chisq": x2,
            # lavaan gives no p-value for the ULS statistic (not chi-square distributed)
            "pvalue": float(stats.chi2.sf(x2, df)) if df > 0 and kind == "GLS" else math.nan,
            "baseline.chisq": x2b,
            "cfi": cfi,
            "tli": tli,
            "logl": math.nan,
            "unrestricted.logl": math.nan,
            "aic": math.nan,
            "bic": math.nan,
            "rmsea": rmsea(x2, df, n, g),
            "rmsea.ci.lower": lo,
            "rmsea.ci.upper": hi,
            "rmsea.pvalue": float(stats.ncx2.sf(x2, df, ncp)) if df > 0 else math.nan,
            "srmr": srmr(data, mats, meanstructure, unbiased=True),
        }
    )
    return out
