"""Ordinal CFA/SEM by DWLS / WLSMV on polychoric correlations, as lavaan 0.6.14.

Delta parameterization (lavaan's default): each ordered indicator has a latent response
``y*`` with variance 1; its residual variance is not a parameter but ``1 - diag(Lambda A Psi
A' Lambda')``; intercepts and latent means are 0; thresholds are free. The model's statistics
(thresholds, then the correlations below the diagonal) are fitted to the two-step sample
thresholds and polychoric correlations by

    F = sum w_k (s_k - sigma_k(theta))^2,  w = 1 / diag(NACOV)   (DWLS)

and the test statistic is ``T = (n - 1) F`` (lavaan's). WLSMV = DWLS estimates with robust
("sandwich") standard errors ``(D'WD)^-1 D'W Gamma W D (D'WD)^-1 / (n - 1)`` and the
mean-and-variance adjusted (scaled-shifted, Asparouhov & Muthen 2010) test: with
``U = W - WD(D'WD)^-1 D'W``, ``a = sqrt(df / tr((U Gamma)^2))``,
``T* = a T + df - a tr(U Gamma)``. The baseline model (thresholds free, correlations 0) gets the
same treatment; CFI/TLI/RMSEA from the scaled statistics are lavaan's ``cfi.scaled``,
``tli.scaled`` and ``rmsea.scaled``.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, replace
from types import SimpleNamespace
from typing import Any, cast

import numpy as np
import pandas as pd
from scipy import optimize, stats

from app.stats.sem.errors import ModelError
from app.stats.sem.fitmeasures import cfi_tli, rmsea, rmsea_ci
from app.stats.sem.inference import safe_inverse, wald
from app.stats.sem.model import GroupMatrices, LisrelModel
from app.stats.sem.optimize import start_values
from app.stats.sem.ordinal.polychoric import CategoricalStats, categorical_stats, lower_vech
from app.stats.sem.partable import ParTable, build_partable
from app.stats.sem.results import Estimate, MeasurementMatrices, SemResult
from app.stats.sem.standardize import r_squared, std_all

ESTIMATORS = ("WLSMV", "DWLS")


@dataclass(frozen=True)
class OrdinalProblem:
    """A model in delta parameterization and the categorical statistics of its data.

    ``partable`` is the continuous model's table with the ordered indicators' residual
    variances fixed (they follow from the other parameters); the free-parameter vector is
    ``[LISREL parameters (partable.npar), thresholds (len(stats.thresholds))]``.
    """

    partable: ParTable
    model: LisrelModel
    stats: CategoricalStats
    estimator: str
    ordered: list[str]

    @property
    def n_lisrel(self) -> int:
        return self.partable.npar

    @property
    def npar(self) -> int:
        return self.partable.npar + self.stats.thresholds.size

    @property
    def weights(self) -> np.ndarray:
        """DWLS weights: 1 / diag(NACOV)."""
        assert self.stats.nacov is not None
        return 1.0 / np.diag(self.stats.nacov)

    def matrices(self, theta: np.ndarray) -> GroupMatrices:
        """Model matrices with the ordered indicators' residual variances filled in."""
        gm = self.model.matrices(theta[: self.n_lisrel])[0]
        idx = [self.model.ov.index(v) for v in self.ordered]
        th = gm.theta.copy()
        th[idx, idx] = 1.0 - (gm.sigma[idx, idx] - gm.theta[idx, idx])
        return replace(gm, theta=th, sigma=gm.sigma - gm.theta + th)

    def implied(self, theta: np.ndarray) -> np.ndarray:
        """Model thresholds then model correlations (lavaan's ``WLS.est``)."""
        gm = self.model.matrices(theta[: self.n_lisrel])[0]
        return np.r_[theta[self.n_lisrel :], lower_vech(gm.sigma)]

    def delta(self, theta: np.ndarray) -> np.ndarray:
        """Jacobian of :meth:`implied`, shape (len(wls_obs), npar)."""
        gm = self.model.matrices(theta[: self.n_lisrel])[0]
        dS = self.model.jacobian([gm])[0][0]  # (q, p, p)
        p = self.model.p
        cols, rows = np.triu_indices(p, 1)
        nth = self.stats.thresholds.size
        D = np.zeros((nth + cols.size, self.npar))
        D[:nth, self.n_lisrel :] = np.eye(nth)
        D[nth:, : self.n_lisrel] = dS[:, rows, cols].T
        return D


def ordered_names(
    ordered: bool | list[str] | tuple[str, ...], ov: list[str], estimator: str = "WLSMV"
) -> list[str]:
    """The ordered variables of a model (lavaan's ``ordered=``), in model order.

    Raises
    ------
    ModelError
        A listed name that is not an observed variable of the model, no ordered variable, or
        a continuous variable left in the model (not supported yet).
    """
    if ordered is True:
        names = list(ov)
    elif not ordered:
        names = []
    else:
        unknown = [v for v in ordered if v not in ov]
        if unknown:
            raise ModelError(
                f"ordered: not an observed variable of the model: {', '.join(unknown)}"
            )
        names = [v for v in ov if v in set(ordered)]
    if not names:
        raise ModelError("ordered: no ordered variable in the model")
    cont = [v for v in ov if v not in names]
    if cont:
        raise ModelError(
            "ordered: every observed variable of the model must be ordered under "
            f"{estimator} (continuous: {', '.join(cont)})"
        )
    return names


def prepare_ordinal(
    data: pd.DataFrame,
    model: str,
    *,
    ordered: bool | list[str] | tuple[str, ...] = True,
    estimator: str = "WLSMV",
    missing: str = "listwise",
    group: str | None = None,
) -> OrdinalProblem:
    """Parse the model, check it against the data and compute the categorical statistics.

    Raises
    ------
    ModelError
        Unknown variables or options, continuous variables mixed in, groups, too few rows.
    """
    est = estimator.upper()
    if est not in ESTIMATORS:
        raise ModelError(f"estimator must be one of {ESTIMATORS} for ordered variables")
    if missing not in ("listwise",):
        raise ModelError('ordered variables: missing must be "listwise"')
    if group is not None:
        raise ModelError("ordered variables: multi-group models are not supported yet")
    if not isinstance(model, str) or not model.strip():
        raise ModelError("empty model")
    pt = build_partable(model, groups=[None], meanstructure=False)
    ov = pt.names.ov
    if pt.meanstructure:
        raise ModelError("ordered variables: intercepts/means in the syntax are not supported")
    unknown = [v for v in ov if v not in data.columns]
    if unknown:
        raise ModelError(f"unknown variable(s) in the model: {', '.join(unknown)}")
    ord_names = ordered_names(ordered, ov, est)
    try:
        X = data[ov].apply(pd.to_numeric, errors="raise").to_numpy(float)
    except (ValueError, TypeError) as exc:
        raise ModelError(f"model variables must be numeric: {exc}") from exc
    X = X[~np.isnan(X).any(axis=1)]
    if X.shape[0] <= len(ov):
        raise ModelError(f"too few rows: {X.shape[0]} for {len(ov)} variables")
    cs = categorical_stats(X, ov, [True] * len(ov))
    pt2 = _delta_partable(pt, ord_names)
    return OrdinalProblem(pt2, LisrelModel(pt2), cs, est, ord_names)


def _delta_partable(pt: ParTable, ordered: list[str]) -> ParTable:
    """Fix the residual variances of the ordered indicators and renumber the free rows."""
    pt2 = copy.deepcopy(pt)
    oset = set(ordered)
    for r in pt2.rows:
        if r.op == "~~" and r.lhs == r.rhs and r.lhs in oset:
            r.free, r.ustart = 0, 0.0
    old = sorted({r.free for r in pt2.rows if r.free})
    renum = {o: k + 1 for k, o in enumerate(old)}
    for r in pt2.rows:
        if r.free:
            r.free = renum[r.free]
    return pt2


@dataclass(frozen=True)
class WlsOptimum:
    theta: np.ndarray
    converged: bool
    n_iter: int
    fmin: float


def fit_wls(prob: OrdinalProblem) -> WlsOptimum:
    """Minimise the DWLS discrepancy (trust-region least squares, analytic Jacobian)."""
    s = prob.stats.wls_obs
    sw = np.sqrt(prob.weights)
    S = prob.stats.cor
    fake = SimpleNamespace(h1=SimpleNamespace(cov=S, mean=np.zeros(S.shape[0])))
    start = np.r_[start_values(prob.model, cast(Any, [fake])), prob.stats.thresholds]

    def resid(th: np.ndarray) -> np.ndarray:
        return sw * (s - prob.implied(th))

    def jac(th: np.ndarray) -> np.ndarray:
        return -sw[:, None] * prob.delta(th)

    res = optimize.least_squares(
        resid, start, jac=jac, method="trf", xtol=1e-15, ftol=1e-15, gtol=1e-12, max_nfev=2000
    )
    theta = res.x
    # Gauss-Newton polish to the exact stationary point
    for _ in range(3):
        J = jac(theta)
        step = np.linalg.lstsq(J, -resid(theta), rcond=None)[0]
        theta = theta + step
        if np.max(np.abs(step)) < 1e-13:
            break
    r = resid(theta)
    grad = jac(theta).T @ r
    converged = bool(res.status > 0 and np.max(np.abs(grad)) < 1e-6)
    return WlsOptimum(theta, converged, int(res.nfev), float(r @ r))


def _scaled_shifted(
    T: float, df: int, D: np.ndarray, w: np.ndarray, gamma: np.ndarray
) -> dict[str, float]:
    """lavaan's ``scaled.shifted`` test from the standard statistic ``T``."""
    WD = w[:, None] * D
    U = np.diag(w) - WD @ safe_inverse(D.T @ WD) @ WD.T
    UG = U @ gamma
    tr = float(np.trace(UG))
    tr2 = float(np.sum(UG * UG.T))
    if df <= 0:
        return {"stat": T, "scaling": math.nan, "shift": math.nan, "tr": tr, "tr2": tr2}
    a = math.sqrt(df / tr2)
    shift = df - a * tr
    return {"stat": T * a + shift, "scaling": 1.0 / a, "shift": shift, "tr": tr, "tr2": tr2}


def _fit_measures(prob: OrdinalProblem, opt: WlsOptimum, D: np.ndarray) -> dict[str, float]:
    cs = prob.stats
    n = cs.n
    w = prob.weights
    gamma = cs.nacov
    assert gamma is not None
    nth = cs.thresholds.size
    k = w.size
    npar = prob.npar
    df = k - npar
    T = (n - 1) * opt.fmin  # lavaan: fx = 0.5 (n-1)/n F, chisq = 2 n fx
    fit: dict[str, float] = {
        "npar": npar,
        "fmin": 0.5 * (n - 1) / n * opt.fmin,
        "chisq": T,
        "df": df,
        "pvalue": float(stats.chi2.sf(T, df)) if df > 0 else math.nan,
    }
    # baseline: thresholds free, correlations 0
    r = lower_vech(cs.cor)
    Tb = (n - 1) * float(np.sum(w[nth:] * r * r))
    dfb = k - nth
    Db = np.zeros((k, nth))
    Db[:nth] = np.eye(nth)
    fit.update(
        {"baseline.chisq": Tb, "baseline.df": dfb, "baseline.pvalue": stats.chi2.sf(Tb, dfb)}
    )
    cfi, tli = cfi_tli(T, df, Tb, dfb)
    fit.update({"cfi": cfi, "tli": tli})
    nr = n - 1  # lavaan's lav_utils_get_ntotal: N - G for every estimator but ML
    lo, hi = rmsea_ci(T, df, nr, 1)
    fit.update(
        {
            "rmsea": rmsea(T, df, nr, 1),
            "rmsea.ci.lower": lo,
            "rmsea.ci.upper": hi,
            "rmsea.pvalue": float(stats.ncx2.sf(T, df, nr * df * 0.05**2)) if df > 0 else math.nan,
        }
    )
    if prob.estimator == "WLSMV":
        ss = _scaled_shifted(T, df, D, w, gamma)
        ssb = _scaled_shifted(Tb, dfb, Db, w, gamma)
        Ts, Tbs = ss["stat"], ssb["stat"]
        fit.update(
            {
                "chisq.scaled": Ts,
                "df.scaled": df,
                "pvalue.scaled": float(stats.chi2.sf(Ts, df)) if df > 0 else math.nan,
                "chisq.scaling.factor": ss["scaling"],
                "chisq.shift.parameter": ss["shift"],
                "baseline.chisq.scaled": Tbs,
                "baseline.df.scaled": dfb,
                "baseline.pvalue.scaled": float(stats.chi2.sf(Tbs, dfb)),
                "baseline.chisq.scaling.factor": ssb["scaling"],
            }
        )
        fit.update(_robust_catml(prob, opt.theta, D, df))
        cfis, tlis = cfi_tli(Ts, df, Tbs, dfb)
        los, his = rmsea_ci(Ts, df, nr, 1)
        fit.update(
            {
                "cfi.scaled": cfis,
                "tli.scaled": tlis,
                "rmsea.scaled": rmsea(Ts, df, nr, 1),
                "rmsea.ci.lower.scaled": los,
                "rmsea.ci.upper.scaled": his,
                "rmsea.pvalue.scaled": (
                    float(stats.ncx2.sf(Ts, df, nr * df * 0.05**2)) if df > 0 else math.nan
                ),
            }
        )
    fit["srmr"] = _srmr(prob, opt.theta)
    return fit


def _robust_catml(
    prob: OrdinalProblem, theta: np.ndarray, D: np.ndarray, df: int
) -> dict[str, float]:
    """lavaan 0.6.14's robust CFI/TLI/RMSEA for categorical data (Savalei 2021, "catML").

    The ML discrepancy of the polychoric matrix ``S`` from the model's correlation matrix at
    the DWLS estimates, ``T3 = n (log|Sigma| - log|S| + tr(S Sigma^-1) - p)``, with the
    scaling factor ``c = tr(U' V U Gamma_r) / df``, ``U = I - D_r (D'WD)^-1 D_r' W_r`` (``_r``:
    the correlation rows), ``V`` the normal-theory information of the correlations at Sigma;
    baseline: ``T3_0 = -n log|S|`` with ``c_0 = tr(Gamma_r) / (p(p-1)/2)``. NaN (lavaan: NA)
    when ``S`` is not positive definite.
    """
    nan = math.nan
    keys = ["cfi.robust", "tli.robust", "rmsea.robust", "rmsea.ci.lower.robust"]
    keys += ["rmsea.ci.upper.robust", "rmsea.pvalue.robust"]
    cs = prob.stats
    S = cs.cor
    n, p = cs.n, S.shape[0]
    if df <= 0 or np.linalg.eigvalsh(S).min() < np.sqrt(np.finfo(float).eps):
        return dict.fromkeys(keys, nan)
    gm = prob.model.matrices(theta[: prob.n_lisrel])[0]
    sigma = gm.sigma.copy()
    np.fill_diagonal(sigma, 1.0)
    sinv = np.linalg.inv(sigma)
    ld_s = np.linalg.slogdet(S)[1]
    t3 = n * (np.linalg.slogdet(sigma)[1] - ld_s + float(np.sum(S * sinv)) - p)
    t3b = -n * ld_s
    nth = cs.thresholds.size
    cols, rows = np.triu_indices(p, 1)  # the pairs (i, j), i > j, of lower_vech
    # V_ab = Sinv_ik Sinv_jl + Sinv_il Sinv_jk for pairs a = (i, j), b = (k, l)
    V = sinv[np.ix_(rows, rows)] * sinv[np.ix_(cols, cols)]
    V += sinv[np.ix_(rows, cols)] * sinv[np.ix_(cols, rows)]
    w = prob.weights
    wr = w[nth:]
    Dr = D[nth:]
    gamma = cs.nacov
    assert gamma is not None
    Gr = gamma[nth:, nth:]
    E_inv = safe_inverse(D.T @ (w[:, None] * D))
    U = np.eye(wr.size) - Dr @ E_inv @ Dr.T * wr[None, :]
    c = float(np.trace(U.T @ V @ U @ Gr)) / df
    pstar = wr.size
    cb = float(np.trace(Gr)) / pstar
    nr = n - 1  # lavaan's lav_utils_get_ntotal of the DWLS fit
    cfi, tli = cfi_tli(t3, df, t3b, pstar, c, cb)
    lo, hi = rmsea_ci(t3 / c, df, nr, 1)
    return {
        "cfi.robust": cfi,
        "tli.robust": tli,
        "rmsea.robust": rmsea(t3, df, nr, 1, c),
        "rmsea.ci.lower.robust": math.sqrt(c) * lo,
        "rmsea.ci.upper.robust": math.sqrt(c) * hi,
        "rmsea.pvalue.robust": float(stats.ncx2.sf(t3 / c, df, nr * df / c * 0.05**2)),
    }


def _srmr(prob: OrdinalProblem, theta: np.ndarray) -> float:
    """SRMR of the correlations (lavaan's for categorical data: p(p-1)/2 residuals, plus
    the p zero diagonal ones)."""
    p = prob.model.p
    res = lower_vech(prob.stats.cor) - prob.implied(theta)[prob.stats.thresholds.size :]
    return math.sqrt(float(np.sum(res * res)) / (p * (p + 1) / 2))


def summarize_ordinal(prob: OrdinalProblem, opt: WlsOptimum) -> SemResult:
    """Estimates (robust se under WLSMV), fit measures, std.all and R2 in SemResult's shape."""
    cs = prob.stats
    n = cs.n
    theta = opt.theta
    D = prob.delta(theta)
    w = prob.weights
    gamma = cs.nacov
    assert gamma is not None
    WD = w[:, None] * D
    A_inv = safe_inverse(D.T @ WD)
    if prob.estimator == "WLSMV":
        vcov = A_inv @ (WD.T @ gamma @ WD) @ A_inv / (n - 1)
    else:  # DWLS: lavaan's default se = "standard" with expected information
        vcov = A_inv / (n - 1)  # lavaan divides by N - G for every estimator but ML
    se_free = np.sqrt(np.clip(np.diag(vcov), 0, None))
    gm = prob.matrices(theta)
    pt, lm = prob.partable, prob.model
    vals = np.empty(len(pt.rows))
    for k, (r, t) in enumerate(zip(pt.rows, lm.targets, strict=True)):
        if r.free:
            vals[k] = theta[r.free - 1]
        else:
            M = [gm.lambda_, gm.theta, gm.psi, gm.beta][t.mat]
            vals[k] = M[t.i, t.j]
    se = np.array([se_free[r.free - 1] if r.free else 0.0 for r in pt.rows])
    std = std_all(lm, [gm], vals)
    z, pv, lo, hi = wald(vals, se)
    ests = [
        Estimate(
            r.lhs,
            r.op,
            r.rhs,
            r.label,
            None,
            vals[k],
            se[k],
            z[k],
            pv[k],
            lo[k],
            hi[k],
            std[k],
            r.free,
        )
        for k, r in enumerate(pt.rows)
    ]
    # thresholds after the syntax rows, as lavaan's parameter table
    nuser = sum(1 for r in pt.rows if r.user == 1)
    q = prob.n_lisrel
    tv, ts = theta[q:], se_free[q:]
    tz, tp, tlo, thi = wald(tv, ts)
    th_est = [
        Estimate(
            cs.names[int(cs.th_var[k])],
            "|",
            cs.th_names[k],
            "",
            None,
            tv[k],
            ts[k],
            tz[k],
            tp[k],
            tlo[k],
            thi[k],
            tv[k],
            q + k + 1,
        )
        for k in range(tv.size)
    ]
    fixed_rows = [_fixed(v, "~1", "", 0.0) for v in [*lm.ov, *pt.names.lv]]
    fixed_rows += [_fixed(v, "~*~", v, 1.0) for v in lm.ov]
    estimates = ests[:nuser] + th_est + ests[nuser:] + fixed_rows
    fit = _fit_measures(prob, opt, D)
    r2 = r_squared(lm, [gm])[0]
    mm = MeasurementMatrices(
        None,
        list(lm.ov),
        list(lm.lv),
        gm.lambda_,
        gm.theta,
        gm.psi,
        gm.lv_cov,
        gm.sigma,
        cs.cor,
        np.zeros(lm.p),
        n,
    )
    return SemResult(
        nobs=n,
        estimator=prob.estimator,
        missing="listwise",
        converged=opt.converged,
        fit=fit,
        estimates=estimates,
        r2=r2,
        groups=[None],
        nobs_group=[n],
        matrices=[mm],
        theta=theta,
        vcov=vcov,
        n_iter=opt.n_iter,
        extra={"parameterization": "delta", "ordered": list(prob.ordered)},
    )


def _fixed(lhs: str, op: str, rhs: str, value: float) -> Estimate:
    return Estimate(lhs, op, rhs, "", None, value, 0.0, math.nan, math.nan, value, value, value, 0)


def fit_ordinal(
    data: pd.DataFrame,
    model: str,
    *,
    ordered: bool | list[str] | tuple[str, ...] = True,
    estimator: str = "WLSMV",
    missing: str = "listwise",
    group: str | None = None,
) -> SemResult:
    """Fit a model with ordered indicators as lavaan's ``cfa/sem(..., ordered=...)``.

    ``estimator="WLSMV"`` (lavaan's default for ordered data): DWLS estimates, robust
    standard errors and the scaled-shifted test; ``"DWLS"``: standard errors and test
    without the robust corrections.
    """
    prob = prepare_ordinal(
        data, model, ordered=ordered, estimator=estimator, missing=missing, group=group
    )
    opt = fit_wls(prob)
    return summarize_ordinal(prob, opt)
