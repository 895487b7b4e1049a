"""lavaan's ``fitMeasures`` for normal-theory ML and FIML."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import optimize, stats

from app.stats.sem.em import pattern_loglik
from app.stats.sem.likelihood import GroupData
from app.stats.sem.model import GroupMatrices
from app.stats.sem.patterns import available_moments, missing_patterns


def baseline_loglik(data: list[GroupData], x_idx: Sequence[int] = ()) -> float:
    """Log-likelihood of lavaan's independence model (diagonal Sigma, free means).

    Under a diagonal covariance the likelihood factorises by variable, so the FIML estimates
    are each variable's available-case ML mean and variance. Exogenous covariates (fixed.x,
    indices ``x_idx``) keep their sample covariance block, as in lavaan's baseline.
    """
    total = 0.0
    x = np.asarray(x_idx, dtype=int)
    for gd in data:
        # available-case moments from the patterns (weighted under sampling weights; the
        # pairwise moments under missing="pairwise")
        mean, var = available_moments(gd.patterns, gd.X.shape[1])
        cov = np.diag(var)
        if x.size:
            mean[x] = gd.h1.mean[x]
            cov[np.ix_(x, x)] = gd.h1.cov[np.ix_(x, x)]
        total += pattern_loglik(gd.patterns, mean, cov)
    return total


def _marginal_loglik(data: list[GroupData], x_idx: Sequence[int]) -> float:
    """Saturated log-likelihood of the covariates alone, at their sample (EM) moments."""
    x = np.asarray(x_idx, dtype=int)
    total = 0.0
    for gd in data:
        Xx = gd.X[:, x]
        pats = missing_patterns(Xx)
        total += pattern_loglik(pats, gd.h1.mean[x], gd.h1.cov[np.ix_(x, x)])
    return total


def degrees_of_freedom(
    p: int, nx: int, ngroups: int, meanstructure: bool, npar: int
) -> tuple[int, int]:
    """Model and baseline degrees of freedom; fixed.x moments are not data (lavaan's ndat)."""
    ms = 1 if meanstructure else 0
    ndat = ngroups * (p * (p + 1) // 2 + ms * p - nx * (nx + 1) // 2 - ms * nx)
    nbase = ngroups * (p * (p + 1) // 2 - nx * (nx + 1) // 2 - (p - nx))
    return ndat - npar, nbase


def cfi_tli(
    x2: float, df: float, x2b: float, dfb: float, c: float = 1.0, cb: float = 1.0
) -> tuple[float, float]:
    """CFI and TLI from the model's and the baseline's statistics (lavaan's definitions).

    With scaling factors ``c`` (model) and ``cb`` (baseline) these are lavaan's robust
    CFI/TLI; with 1 the ordinary ones.
    """
    t1 = max(x2 - c * df, 0.0)
    t2 = max(x2 - c * df, x2b - cb * dfb, 0.0)
    cfi = 1.0 if t2 == 0 else 1.0 - t1 / t2
    tt2 = (x2b - cb * dfb) * df
    ok = df > 0 and dfb > 0 and abs(tt2) > 0
    tli = 1.0 - (x2 - c * df) * dfb / tt2 if ok else 1.0
    return cfi, tli


def rmsea(x2: float, df: float, n: int, g: int, c: float = 1.0) -> float:
    """RMSEA (lavaan's multi-group form, sqrt(G)); with a scaling factor ``c``, the robust one."""
    return math.sqrt(max((x2 / n) / df - c / n, 0.0)) * math.sqrt(g) if df > 0 else 0.0


def rmsea_ci(
    x2: float, df: float, n: int, g: int, level: float = 0.90, c_hat: float = 1.0
) -> tuple[float, float]:
    """Confidence interval of RMSEA from the noncentral chi-square (lavaan's rule).

    The robust interval (lavaan >= 0.6.13, ``rmsea.ci.lower.robust``): ``x2`` the scaled
    statistic and ``c_hat`` its scaling factor, bounds ``sqrt(c_hat * lambda / (n df))``.
    """
    if df < 1:
        return 0.0, 0.0
    hi_p, lo_p = 1 - (1 - level) / 2, (1 - level) / 2

    def lower(lam: float) -> float:
        return float(stats.ncx2.cdf(x2, df, lam) if lam > 0 else stats.chi2.cdf(x2, df)) - hi_p

    def upper(lam: float) -> float:
        return float(stats.ncx2.cdf(x2, df, lam) if lam > 0 else stats.chi2.cdf(x2, df)) - lo_p

    lo = 0.0
    if lower(0.0) >= 0:
        lam = optimize.brentq(lower, 0.0, x2, xtol=1e-12)
        lo = math.sqrt(c_hat * lam / (n * df)) * math.sqrt(g)
    hi = 0.0
    n_r = max(n, 4 * x2)
    if not (upper(n_r) > 0 or upper(0.0) < 0):
        lam = optimize.brentq(upper, 0.0, n_r, xtol=1e-12)
        hi = math.sqrt(c_hat * lam / (n * df)) * math.sqrt(g)
    return lo, hi


def srmr(
    data: list[GroupData],
    mats: list[GroupMatrices],
    meanstructure: bool,
    *,
    unbiased: bool = False,
) -> float:
    """lavaan's SRMR (Bentler's; with a mean structure the mean residuals are included).

    Covariance and mean residuals against the sample (EM under missing data) moments, both
    scaled by the sample standard deviations, averaged over the p(p+1)/2 (+ p) elements;
    groups weighted by their size. ``unbiased``: the sample covariance with divisor n - 1 (GLS).
    """
    # group sizes: rows, or the groups' weight sums under sampling weights (as lavaan)
    sizes = [sum(pat.n for pat in gd.patterns) for gd in data]
    ntot = sum(sizes)
    total = 0.0
    for gd, gm, size in zip(data, mats, sizes, strict=True):
        S, m = gd.h1.cov, gd.h1.mean
        if unbiased:
            S = S * (gd.n / (gd.n - 1))
        sd = np.sqrt(np.diag(S))
        R = (S - gm.sigma) / np.outer(sd, sd)
        p = S.shape[0]
        ss = float((R[np.tril_indices(p)] ** 2).sum())
        e = p * (p + 1) / 2
        if meanstructure:
            ss += float((((m - gm.mu) / sd) ** 2).sum())
            e += p
        total += size / ntot * math.sqrt(ss / e)
    return total


def _without_h1(loglik: float, npar: int, n: int, df: int, dfb: int) -> dict[str, float]:
    """Fit measures when the saturated model could not be estimated: only the likelihood ones."""
    nan = math.nan
    out = dict.fromkeys(
        (
            "chisq",
            "pvalue",
            "baseline.chisq",
            "cfi",
            "tli",
            "unrestricted.logl",
            "rmsea",
            "rmsea.ci.lower",
            "rmsea.ci.upper",
            "rmsea.pvalue",
            "srmr",
        ),
        nan,
    )
    out.update(
        npar=npar,
        df=df,
        **{"baseline.df": dfb, "logl": loglik},
        aic=-2.0 * loglik + 2.0 * npar,
        bic=-2.0 * loglik + npar * math.log(n),
    )
    return out


def fit_measures(
    *,
    loglik: float,
    data: list[GroupData],
    mats: list[GroupMatrices],
    npar: int,
    meanstructure: bool,
    x_idx: Sequence[int] = (),
) -> dict[str, float]:
    """The fit-measure set of API.md under lavaan's names and definitions.

    ``x_idx``: positions of fixed.x covariates among the observed variables.
    """
    n = sum(gd.n for gd in data)
    g = len(data)
    h1 = sum(gd.h1.loglik for gd in data)
    llb = baseline_loglik(data, x_idx)
    if len(x_idx):
        # fixed.x: lavaan reports the likelihood of the rest given the covariates, i.e. minus
        # the covariates' own (saturated) marginal log-likelihood; chisq is unchanged.
        llx = _marginal_loglik(data, x_idx)
        loglik, h1, llb = loglik - llx, h1 - llx, llb - llx
    df, dfb = degrees_of_freedom(data[0].X.shape[1], len(x_idx), g, meanstructure, npar)
    if not math.isfinite(h1):
        return _without_h1(loglik, npar, n, df, dfb)
    x2 = max(2.0 * (h1 - loglik), 0.0)
    x2b = 2.0 * (h1 - llb)
    cfi, tli = cfi_tli(x2, df, x2b, dfb)
    lo, hi = rmsea_ci(x2, df, n, g)
    ncp = n * df * 0.05**2 / g
    rmsea_p = float(stats.ncx2.sf(x2, df, ncp)) if df > 0 else math.nan
    return {
        "npar": npar,
        "chisq": x2,
        "df": df,
        "pvalue": float(stats.chi2.sf(x2, df)) if df > 0 else math.nan,
        "baseline.chisq": x2b,
        "baseline.df": dfb,
        "cfi": cfi,
        "tli": tli,
        "logl": loglik,
        "unrestricted.logl": h1,
        "aic": -2.0 * loglik + 2.0 * npar,
        "bic": -2.0 * loglik + npar * math.log(n),
        "rmsea": rmsea(x2, df, n, g),
        "rmsea.ci.lower": lo,
        "rmsea.ci.upper": hi,
        "rmsea.pvalue": rmsea_p,
        "srmr": srmr(data, mats, meanstructure),
    }
