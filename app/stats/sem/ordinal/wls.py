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
from collections.abc import Sequence
from dataclasses import dataclass, replace
from types import SimpleNamespace
from typing import Any, cast

import numpy as np
import pandas as pd
from scipy import optimize, stats
from scipy.linalg import block_diag

from app.stats.sem.errors import ModelError
from app.stats.sem.fitmeasures import cfi_tli, rmsea, rmsea_ci
from app.stats.sem.inference import estimate_rows, safe_inverse, wald
from app.stats.sem.model import GroupMatrices, LisrelModel
from app.stats.sem.optimize import start_values
from app.stats.sem.ordinal.polychoric import CategoricalStats, categorical_stats, lower_vech
from app.stats.sem.partable import ParTable, build_partable
from app.stats.sem.results import Estimate, MeasurementMatrices, OrdinalInfo, SemResult
from app.stats.sem.standardize import r_squared, std_all

ESTIMATORS = ("WLSMV", "DWLS")


@dataclass(frozen=True)
class OrdinalProblem:
    """A model with ordered indicators and the categorical statistics of its data.

    ``partable`` is the continuous model's table (with mean structure) where the ordered
    indicators' intercepts are 0; their residual variances are derived (delta
    parameterization: ``1 / delta^2 - diag(Lambda A Psi A' Lambda')``) or fixed at 1 (theta
    parameterization; free in groups 2..G with equal thresholds). The free-parameter vector is
    ``[LISREL parameters (partable.npar), thresholds, scaling factors]``: ``th_index[g][k]``
    is the parameter of threshold ``k`` of group ``g`` (shared by all groups when thresholds
    are equal), ``delta_index[g][j]`` that of the scaling factor of variable ``j`` in group
    ``g`` (-1 = not a parameter: 1 under delta, ``diag(Sigma)^-1/2`` under theta).
    """

    partable: ParTable
    model: LisrelModel
    stats: list[CategoricalStats]
    estimator: str
    ordered: list[str]
    th_index: list[np.ndarray]
    delta_index: list[np.ndarray]
    npar: int
    parameterization: str = "delta"
    missing: str = "listwise"

    @property
    def n_lisrel(self) -> int:
        return self.partable.npar

    @property
    def ntotal(self) -> int:
        return sum(cs.n for cs in self.stats)

    @property
    def fg(self) -> np.ndarray:
        return np.array([cs.n for cs in self.stats]) / self.ntotal

    def weights(self, g: int) -> np.ndarray:
        """DWLS weights of group ``g``: 1 / diag(NACOV)."""
        nacov = self.stats[g].nacov
        assert nacov is not None
        return 1.0 / np.diag(nacov)

    @property
    def is_ord(self) -> np.ndarray:
        return np.array([v in set(self.ordered) for v in self.model.ov])

    def scales(self, theta: np.ndarray, g: int, gm: GroupMatrices) -> np.ndarray:
        """Scaling factors of group ``g`` (lavaan's ``~*~``): ``y*`` to unit variance
        (1 for continuous variables)."""
        if self.parameterization == "theta":
            with np.errstate(invalid="ignore", divide="ignore"):  # trial steps of the optimizer
                return np.where(self.is_ord, 1.0 / np.sqrt(np.diag(gm.sigma)), 1.0)
        idx = self.delta_index[g]
        return np.where(idx >= 0, theta[np.maximum(idx, 0)], 1.0)

    def matrices(self, theta: np.ndarray) -> list[GroupMatrices]:
        """Model matrices per group, the ordered indicators' residual variances filled in
        (delta: ``1 / delta^2 - diag(Lambda A Psi A' Lambda')``)."""
        mats = self.model.matrices(theta[: self.n_lisrel])
        if self.parameterization == "theta":
            return mats
        out = []
        idx = [self.model.ov.index(v) for v in self.ordered]
        for g, gm in enumerate(mats):
            d = self.scales(theta, g, gm)[idx]
            th = gm.theta.copy()
            th[idx, idx] = 1.0 / d**2 - (gm.sigma[idx, idx] - gm.theta[idx, idx])
            out.append(replace(gm, theta=th, sigma=gm.sigma - gm.theta + th))
        return out

    def implied(self, theta: np.ndarray) -> list[np.ndarray]:
        """Per group: lavaan's ``WLS.est``: model thresholds (continuous: -mean), variances of
        the continuous variables, covariances (correlations of the y*)."""
        out = []
        for g, gm in enumerate(self.model.matrices(theta[: self.n_lisrel])):
            cs = self.stats[g]
            d = self.scales(theta, g, gm)
            tv = cs.th_var
            wth = -gm.mu[cs.wls_th_var]
            wth[cs.th_pos] = d[tv] * (theta[self.th_index[g]] - gm.mu[tv])
            var = gm.sigma[cs.num_idx, cs.num_idx]
            out.append(np.r_[wth, var, lower_vech(gm.sigma * np.outer(d, d))])
        return out

    def delta(self, theta: np.ndarray) -> list[np.ndarray]:
        """Per group: the Jacobian of :meth:`implied`, shape (len(wls_obs), npar)."""
        mats = self.model.matrices(theta[: self.n_lisrel])
        jac = self.model.jacobian(mats)
        p = self.model.p
        cols, rows = np.triu_indices(p, 1)
        out = []
        q = self.n_lisrel
        for g, (gm, (dS, dm)) in enumerate(zip(mats, jac, strict=True)):
            cs = self.stats[g]
            d = self.scales(theta, g, gm)
            tv, pos = cs.th_var, cs.th_pos
            nw = cs.wls_th.size
            nn = cs.num_idx.size
            c0 = nw + nn  # first covariance row
            D = np.zeros((c0 + cols.size, self.npar))
            D[:nw, :q] = -dm[:, cs.wls_th_var].T  # continuous: -mean
            th_idx = self.th_index[g]
            D[pos, th_idx] = d[tv]
            D[pos, :q] = -(d[tv][:, None] * dm[:, tv].T)
            D[nw:c0, :q] = dS[:, cs.num_idx, cs.num_idx].T
            dd = d[rows] * d[cols]
            D[c0:, :q] = dd[:, None] * dS[:, rows, cols].T
            if self.parameterization == "theta":
                # d_k = Sigma_kk^-1/2 (ordered k): dd_k = -d_k^3 dSigma_kk / 2
                ddk = -0.5 * d[None, :] ** 3 * np.diagonal(dS, axis1=1, axis2=2)  # (q, p)
                ddk = ddk * self.is_ord[None, :]
                dev = theta[th_idx] - gm.mu[tv]
                D[pos, :q] += dev[:, None] * ddk[:, tv].T
                sig = gm.sigma[rows, cols]
                D[c0:, :q] += (sig * d[cols])[:, None] * ddk[:, rows].T
                D[c0:, :q] += (sig * d[rows])[:, None] * ddk[:, cols].T
            didx = self.delta_index[g]
            for j in np.flatnonzero(didx >= 0):
                k = didx[j]
                m = tv == j
                D[pos[m], k] = theta[th_idx[m]] - gm.mu[j]
                sel = np.flatnonzero(rows == j)
                D[c0 + sel, k] += d[cols[sel]] * gm.sigma[j, cols[sel]]
                sel = np.flatnonzero(cols == j)
                D[c0 + sel, k] += d[rows[sel]] * gm.sigma[rows[sel], j]
            out.append(D)
        return out


def ordered_names(
    ordered: bool | list[str] | tuple[str, ...], ov: list[str], estimator: str = "WLSMV"
) -> list[str]:
    """The ordered variables of a model (lavaan's ``ordered=``), in model order.

    Raises
    ------
    ModelError
        A listed name that is not an observed variable of the model, or no ordered variable.
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
    return names


ORDINAL_EQUAL = (
    "thresholds",
    "loadings",
    "intercepts",
    "means",
    "lv.variances",
    "lv.covariances",
    "regressions",
    "residual.covariances",
)


def prepare_ordinal(
    data: pd.DataFrame,
    model: str,
    *,
    ordered: bool | list[str] | tuple[str, ...] = True,
    estimator: str = "WLSMV",
    missing: str = "listwise",
    group: str | None = None,
    group_equal: Sequence[str] = (),
    parameterization: str = "delta",
) -> OrdinalProblem:
    """Parse the model, check it against the data and compute the categorical statistics.

    Groups follow lavaan's rules for ordered data in the delta parameterization: thresholds
    free in every group, scaling factors 1, latent means 0; ``group_equal`` with
    ``thresholds`` (lavaan adds it with ``intercepts`` and vice versa) makes the thresholds
    equal and frees the scaling factors and latent means of groups 2..G.

    Raises
    ------
    ModelError
        Unknown variables or options, continuous variables mixed in, too few rows.
    """
    est = estimator.upper()
    _check_options(est, missing, parameterization, group_equal, model, group)
    ge = set(group_equal)
    if ge & {"thresholds", "intercepts"}:
        ge |= {"thresholds", "intercepts"}
    labels: list[str | None] = [None]
    if group is not None:
        if group not in data.columns:
            raise ModelError(f"unknown group variable: {group}")
        labels = [str(v) for v in pd.unique(data[group].dropna().astype(str))]
    pt = build_partable(
        model,
        groups=labels,
        meanstructure=True,
        group_equal=sorted(ge - {"thresholds"}),
    )
    _check_partable(pt, data)
    ov = pt.names.ov
    ord_names = ordered_names(ordered, ov, est)
    stats_ = _group_stats(data, ov, ord_names, labels, group, missing)
    equal_th = "thresholds" in ge and len(labels) > 1
    pt2 = _delta_partable(pt, ord_names, parameterization, equal_th)
    th_index, delta_index, k = _parameter_indices(
        stats_, ov, ord_names, labels, pt2.npar, equal_th, parameterization
    )
    return OrdinalProblem(
        pt2,
        LisrelModel(pt2),
        stats_,
        est,
        ord_names,
        th_index,
        delta_index,
        k,
        parameterization,
        missing,
    )


def _check_options(
    est: str,
    missing: str,
    parameterization: str,
    group_equal: Sequence[str],
    model: str,
    group: str | None,
) -> None:
    """The options of an ordinal fit (a ModelError naming the first one at fault)."""
    if est not in ESTIMATORS:
        raise ModelError(f"estimator must be one of {ESTIMATORS} for ordered variables")
    if missing not in ("listwise", "pairwise"):
        raise ModelError('ordered variables: missing must be "listwise" or "pairwise"')
    if parameterization not in ("delta", "theta"):
        raise ModelError('parameterization must be "delta" or "theta"')
    bad = [g for g in group_equal if g not in ORDINAL_EQUAL]
    if bad:
        raise ModelError(f"group_equal with ordered variables: unknown or unsupported {bad}")
    if not isinstance(model, str) or not model.strip():
        raise ModelError("empty model")
    if group_equal and group is None:
        raise ModelError("group_equal needs a group")


def _check_partable(pt: ParTable, data: pd.DataFrame) -> None:
    """Variables in the data; no syntax intercepts and no observed covariates (not supported
    with ordered variables yet)."""
    unknown = [v for v in pt.names.ov if v not in data.columns]
    if unknown:
        raise ModelError(f"unknown variable(s) in the model: {', '.join(unknown)}")
    if any(r.op == "~1" and r.user for r in pt.rows):
        raise ModelError("ordered variables: intercepts/means in the syntax are not supported")
    if pt.names.ov_x:
        raise ModelError(
            "ordered variables: observed covariates (y ~ x with x observed: "
            f"{', '.join(pt.names.ov_x)}) are not supported yet (lavaan's conditional.x)"
        )


def _group_stats(
    data: pd.DataFrame,
    ov: list[str],
    ord_names: list[str],
    labels: list[str | None],
    group: str | None,
    missing: str,
) -> list[CategoricalStats]:
    """Categorical statistics of each group's rows (listwise: complete rows; pairwise: every
    row with a value, as lavaan)."""
    try:
        X = data[ov].apply(pd.to_numeric, errors="raise").to_numpy(float)
    except (ValueError, TypeError) as exc:
        raise ModelError(f"model variables must be numeric: {exc}") from exc
    gcol = None
    if group is not None:
        keep = data[group].notna().to_numpy()
        X, gcol = X[keep], data[group][keep].astype(str).to_numpy()
    stats_: list[CategoricalStats] = []
    for label in labels:
        Xg = X if gcol is None else X[gcol == label]
        miss = np.isnan(Xg)
        Xg = Xg[~(miss.any(axis=1) if missing == "listwise" else miss.all(axis=1))]
        where = "" if label is None else f" in group {label}"
        if Xg.shape[0] <= len(ov):
            raise ModelError(f"too few rows{where}: {Xg.shape[0]} for {len(ov)} variables")
        stats_.append(categorical_stats(Xg, ov, [v in ord_names for v in ov], where=where))
    return stats_


def _parameter_indices(
    stats_: list[CategoricalStats],
    ov: list[str],
    ord_names: list[str],
    labels: list[str | None],
    q: int,
    equal_th: bool,
    parameterization: str,
) -> tuple[list[np.ndarray], list[np.ndarray], int]:
    """Positions in theta of each group's thresholds and scaling factors, after the ``q``
    parameters of the table.

    Returns
    -------
    th_index : list of ndarray
        Per group, the thresholds' positions (shared by every group with ``equal_th``).
    delta_index : list of ndarray, shape (p,)
        Per group and variable, the free scaling factor's position or -1 (fixed at 1).
    k : int
        Number of parameters.
    """
    th_index: list[np.ndarray] = []
    k = q
    for g, cs in enumerate(stats_):
        if equal_th and g > 0:
            for j, v in enumerate(ov):
                a0, b0 = stats_[0].marginals[j], cs.marginals[j]
                if v not in ord_names:
                    continue
                if not np.array_equal(a0.levels, b0.levels):  # type: ignore[union-attr]
                    raise ModelError(
                        f"equal thresholds: {v} has other categories in group {labels[g]} "
                        f"than in group {labels[0]}"
                    )
            th_index.append(th_index[0])
            continue
        th_index.append(np.arange(k, k + cs.thresholds.size))
        k += cs.thresholds.size
    delta_index = []
    for g in range(len(labels)):
        idx = np.full(len(ov), -1)
        if equal_th and g > 0 and parameterization == "delta":
            iord = [j for j, v in enumerate(ov) if v in ord_names]
            idx[iord] = np.arange(k, k + len(iord))
            k += len(iord)
        delta_index.append(idx)
    return th_index, delta_index, k


def _delta_partable(
    pt: ParTable, ordered: list[str], parameterization: str, equal_th: bool
) -> ParTable:
    """Fix the ordered indicators' intercepts (0) and residual variances (delta: derived,
    a placeholder 0 here; theta: 1, free in groups 2..G with equal thresholds) and renumber
    the free rows."""
    pt2 = copy.deepcopy(pt)
    oset = set(ordered)
    for r in pt2.rows:
        if r.op == "~~" and r.lhs == r.rhs and r.lhs in oset:
            if parameterization == "delta":
                r.free, r.ustart = 0, 0.0
            elif not (equal_th and r.group > 1):
                r.free, r.ustart = 0, 1.0
        if r.op == "~1" and r.lhs in oset:
            r.free, r.ustart = 0, 0.0
    old = sorted({r.free for r in pt2.rows if r.free})
    renum = {o: k + 1 for k, o in enumerate(old)}
    for r in pt2.rows:
        if r.free:
            r.free = renum[r.free]
    return pt2


@dataclass(frozen=True)
class WlsOptimum:
    """``fmin`` = sum over groups of ``(n_g - 1) / n F_g``; the test statistic is n fmin."""

    theta: np.ndarray
    converged: bool
    n_iter: int
    fmin: float


def _start(prob: OrdinalProblem) -> np.ndarray:
    fake = [
        SimpleNamespace(h1=SimpleNamespace(cov=cs.cor, mean=np.zeros(cs.cor.shape[0])))
        for cs in prob.stats
    ]
    start = np.ones(prob.npar)
    start[: prob.n_lisrel] = start_values(prob.model, cast(Any, fake))
    for g in reversed(range(len(prob.stats))):
        start[prob.th_index[g]] = prob.stats[g].thresholds
    return start


def fit_wls(prob: OrdinalProblem) -> WlsOptimum:
    """Minimise the DWLS discrepancy (trust-region least squares, analytic Jacobian).

    lavaan's objective: sum_g (n_g / n) 0.5 (n_g - 1) / n_g F_g, i.e. group weights n_g - 1.
    """
    n = prob.ntotal
    s = np.concatenate([cs.wls_obs for cs in prob.stats])
    sw = np.sqrt(
        np.concatenate([prob.weights(g) * (cs.n - 1) / n for g, cs in enumerate(prob.stats)])
    )

    def resid(th: np.ndarray) -> np.ndarray:
        return sw * (s - np.concatenate(prob.implied(th)))

    def jac(th: np.ndarray) -> np.ndarray:
        return -sw[:, None] * np.vstack(prob.delta(th))

    res = optimize.least_squares(
        resid,
        _start(prob),
        jac=jac,
        method="trf",
        xtol=1e-15,
        ftol=1e-15,
        gtol=1e-12,
        max_nfev=2000,
    )
    theta = res.x
    # Gauss-Newton polish to the exact stationary point
    for _ in range(3):
        step = np.linalg.lstsq(jac(theta), -resid(theta), rcond=None)[0]
        theta = theta + step
        if np.max(np.abs(step)) < 1e-13:
            break
    r = resid(theta)
    grad = jac(theta).T @ r
    converged = bool(res.status > 0 and np.max(np.abs(grad)) < 1e-6)
    return WlsOptimum(theta, converged, int(res.nfev), float(r @ r))


@dataclass(frozen=True)
class _Stacked:
    """lavaan's stacked group matrices: V = bdiag(f_g W_g), Gamma = bdiag(Gamma_g / f_g),
    D = rbind(D_g), E = D'VD (the expected information)."""

    v: np.ndarray  # diagonal of V
    gamma: np.ndarray
    D: np.ndarray
    E_inv: np.ndarray


def _stack(prob: OrdinalProblem, Ds: list[np.ndarray]) -> _Stacked:
    fg = prob.fg
    v = np.concatenate([fg[g] * prob.weights(g) for g in range(len(Ds))])
    gam = block_diag(*[cs.nacov / fg[g] for g, cs in enumerate(prob.stats)])  # type: ignore[operator]
    D = np.vstack(Ds)
    return _Stacked(v, gam, D, safe_inverse(D.T @ (v[:, None] * D)))


def _scaled_shifted(T: float, df: int, st: _Stacked) -> dict[str, float]:
    """lavaan's ``scaled.shifted`` test from the standard statistic ``T``."""
    VD = st.v[:, None] * st.D
    U = np.diag(st.v) - VD @ st.E_inv @ VD.T
    UG = U @ st.gamma
    tr = float(np.trace(UG))
    tr2 = float(np.sum(UG * UG.T))
    if df <= 0:
        return {"stat": T, "scaling": math.nan, "shift": math.nan}
    a = math.sqrt(df / tr2)
    shift = df - a * tr
    return {"stat": T * a + shift, "scaling": 1.0 / a, "shift": shift}


def _fit_measures(prob: OrdinalProblem, opt: WlsOptimum, st: _Stacked) -> dict[str, float]:
    n, G = prob.ntotal, len(prob.stats)
    npar = prob.npar
    k = st.v.size
    df = k - npar
    T = n * opt.fmin  # lavaan: fx = sum_g 0.5 (n_g - 1)/n F_g, chisq = 2 n fx
    fit: dict[str, float] = {
        "npar": npar,
        "fmin": 0.5 * opt.fmin,
        "chisq": T,
        "df": df,
        "pvalue": float(stats.chi2.sf(T, df)) if df > 0 else math.nan,
    }
    Tb, Db_all = _baseline_test(prob)
    dfb = k - Db_all.shape[1]
    fit.update(
        {"baseline.chisq": Tb, "baseline.df": dfb, "baseline.pvalue": stats.chi2.sf(Tb, dfb)}
    )
    cfi, tli = cfi_tli(T, df, Tb, dfb)
    fit.update({"cfi": cfi, "tli": tli})
    nr = n - G  # lavaan's lav_utils_get_ntotal: N - G for every estimator but ML
    lo, hi = rmsea_ci(T, df, nr, G)
    fit.update(
        {
            "rmsea": rmsea(T, df, nr, G),
            "rmsea.ci.lower": lo,
            "rmsea.ci.upper": hi,
            "rmsea.pvalue": (
                float(stats.ncx2.sf(T, df, nr * df * 0.05**2 / G)) if df > 0 else math.nan
            ),
        }
    )
    if prob.estimator == "WLSMV":
        fit.update(_scaled_measures(prob, opt, st, T, df, Tb, dfb, Db_all))
    fit["srmr"] = _srmr(prob, opt.theta)
    return fit


def _baseline_test(prob: OrdinalProblem) -> tuple[float, np.ndarray]:
    """The baseline model's statistic and derivative: thresholds (and means, variances) free
    in every group, covariances 0.

    Returns
    -------
    Tb : float
    Db_all : ndarray, shape (k, baseline parameters)
        Block-diagonal over groups.
    """
    Tb = 0.0
    blocks = []
    for g, cs in enumerate(prob.stats):
        nth = cs.wls_th.size + cs.num_idx.size
        r = lower_vech(cs.cov)
        Tb += (cs.n - 1) * float(np.sum(prob.weights(g)[nth:] * r * r))
        Db = np.zeros((cs.wls_obs.size, nth))
        Db[:nth] = np.eye(nth)
        blocks.append(Db)
    return Tb, block_diag(*blocks)


def _scaled_measures(
    prob: OrdinalProblem,
    opt: WlsOptimum,
    st: _Stacked,
    T: float,
    df: int,
    Tb: float,
    dfb: int,
    Db_all: np.ndarray,
) -> dict[str, float]:
    """WLSMV's scaled-shifted test of the model and the baseline, the robust measures and
    CFI/TLI/RMSEA from the scaled statistics."""
    n, G = prob.ntotal, len(prob.stats)
    nr = n - G
    fit: dict[str, float] = {}
    ss = _scaled_shifted(T, df, st)
    stb = _Stacked(st.v, st.gamma, Db_all, safe_inverse(Db_all.T @ (st.v[:, None] * Db_all)))
    ssb = _scaled_shifted(Tb, dfb, stb)
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
    fit.update(_robust_catml(prob, opt.theta, st, df))
    cfis, tlis = cfi_tli(Ts, df, Tbs, dfb)
    los, his = rmsea_ci(Ts, df, nr, G)
    fit.update(
        {
            "cfi.scaled": cfis,
            "tli.scaled": tlis,
            "rmsea.scaled": rmsea(Ts, df, nr, G),
            "rmsea.ci.lower.scaled": los,
            "rmsea.ci.upper.scaled": his,
            "rmsea.pvalue.scaled": (
                float(stats.ncx2.sf(Ts, df, nr * df * 0.05**2 / G)) if df > 0 else math.nan
            ),
        }
    )
    return fit


def _robust_catml(
    prob: OrdinalProblem, theta: np.ndarray, st: _Stacked, df: int
) -> dict[str, float]:
    """lavaan 0.6.14's robust CFI/TLI/RMSEA for categorical data (Savalei 2021, "catML").

    The ML discrepancy of each group's polychoric matrix ``S`` from the model's correlation
    matrix at the DWLS estimates, ``T3 = sum n_g (log|Sigma| - log|S| + tr(S Sigma^-1) - p)``,
    with the scaling factor ``c = tr(U' V U Gamma_r) / df``, ``U = I - D_r E^-1 D_r' W_r``
    (``_r``: the correlation rows, stacked over groups as lavaan), ``V`` the normal-theory
    information of the correlations at Sigma; baseline: ``T3_0 = -sum n_g log|S_g|`` with
    ``c_0 = tr(Gamma_r) / (G p(p-1)/2)``. NaN (lavaan: NA) when an ``S`` is not positive
    definite, and when scaling factors are free (as lavaan 0.6.14, see below).
    """
    nan = math.nan
    keys = ["cfi.robust", "tli.robust", "rmsea.robust", "rmsea.ci.lower.robust"]
    keys += ["rmsea.ci.upper.robust", "rmsea.pvalue.robust"]
    n, G = prob.ntotal, len(prob.stats)
    fg = prob.fg
    mixed = any(cs.num_idx.size for cs in prob.stats)  # lavaan: NA with continuous variables
    if df <= 0 or mixed or any((idx >= 0).any() for idx in prob.delta_index):
        # lavaan 0.6.14 cannot build its catML model when scaling factors are free (equal
        # thresholds across groups: the "~1"/"|" rows it drops carry the constraints) and
        # reports NA
        return dict.fromkeys(keys, nan)
    t3 = t3b = 0.0
    Vs, rows_sel = [], []
    off = 0
    for g, (cs, gm) in enumerate(
        zip(prob.stats, prob.model.matrices(theta[: prob.n_lisrel]), strict=True)
    ):
        S = cs.cor
        p = S.shape[0]
        if np.linalg.eigvalsh(S).min() < np.sqrt(np.finfo(float).eps):
            return dict.fromkeys(keys, nan)
        d = prob.scales(theta, g, gm)
        sigma = gm.sigma * np.outer(d, d)
        np.fill_diagonal(sigma, 1.0)
        sinv = np.linalg.inv(sigma)
        ld_s = np.linalg.slogdet(S)[1]
        t3 += cs.n * (np.linalg.slogdet(sigma)[1] - ld_s + float(np.sum(S * sinv)) - p)
        t3b += -cs.n * ld_s
        cols, rows = np.triu_indices(p, 1)
        # V_ab = Sinv_ik Sinv_jl + Sinv_il Sinv_jk for pairs a = (i, j), b = (k, l)
        V = sinv[np.ix_(rows, rows)] * sinv[np.ix_(cols, cols)]
        V += sinv[np.ix_(rows, cols)] * sinv[np.ix_(cols, rows)]
        Vs.append(fg[g] * V)
        nth = cs.thresholds.size
        rows_sel.append(off + nth + np.arange(rows.size))
        off += cs.wls_obs.size
    sel = np.concatenate(rows_sel)
    Dr = st.D[sel]
    wr = st.v[sel]
    Gr = st.gamma[np.ix_(sel, sel)]
    U = np.eye(sel.size) - Dr @ st.E_inv @ Dr.T * wr[None, :]
    c = float(np.trace(U.T @ block_diag(*Vs) @ U @ Gr)) / df
    cb = float(np.trace(Gr)) / sel.size
    nr = n - G  # lavaan's lav_utils_get_ntotal of the DWLS fit
    cfi, tli = cfi_tli(t3, df, t3b, sel.size, c, cb)
    lo, hi = rmsea_ci(t3 / c, df, nr, G)
    return {
        "cfi.robust": cfi,
        "tli.robust": tli,
        "rmsea.robust": rmsea(t3, df, nr, G, c),
        "rmsea.ci.lower.robust": math.sqrt(c) * lo,
        "rmsea.ci.upper.robust": math.sqrt(c) * hi,
        "rmsea.pvalue.robust": float(stats.ncx2.sf(t3 / c, df, nr * df / c * 0.05**2 / G)),
    }


def _srmr(prob: OrdinalProblem, theta: np.ndarray) -> float:
    """SRMR of the correlations (lavaan's for categorical data: per group, the p(p-1)/2
    residual correlations over p(p+1)/2 elements; groups weighted by n_g)."""
    out = 0.0
    for g, (cs, est) in enumerate(zip(prob.stats, prob.implied(theta), strict=True)):
        p = cs.cor.shape[0]
        sig = est[cs.wls_th.size + cs.num_idx.size :]
        sd = np.ones(p)
        sd[cs.num_idx] = np.sqrt(est[cs.wls_th.size : cs.wls_th.size + cs.num_idx.size])
        cols, rows = np.triu_indices(p, 1)
        res = lower_vech(cs.cor) - sig / (sd[rows] * sd[cols])
        out += prob.fg[g] * math.sqrt(float(np.sum(res * res)) / (p * (p + 1) / 2))
    return out


def summarize_ordinal(prob: OrdinalProblem, opt: WlsOptimum) -> SemResult:
    """Estimates (robust se under WLSMV), fit measures, std.all and R2 in SemResult's shape."""
    n, G = prob.ntotal, len(prob.stats)
    theta = opt.theta
    st = _stack(prob, prob.delta(theta))
    if prob.estimator == "WLSMV":
        VD = st.v[:, None] * st.D
        vcov = st.E_inv @ (VD.T @ st.gamma @ VD) @ st.E_inv / (n - G)
    else:  # DWLS: lavaan's default se = "standard" with expected information
        vcov = st.E_inv / (n - G)  # lavaan divides by N - G for every estimator but ML
    se_free = np.sqrt(np.clip(np.diag(vcov), 0, None))
    mats = prob.matrices(theta)
    pt, lm = prob.partable, prob.model
    labels = pt.groups
    ests = _table_estimates(prob, mats, _row_values(prob, theta, mats), se_free)
    estimates: list[Estimate] = []
    for g in range(G):
        grp = [e for e, r in zip(ests, pt.rows, strict=True) if r.group == g + 1]
        user = [e for e, r in zip(ests, pt.rows, strict=True) if r.group == g + 1 and r.user]
        rest = [e for e in grp if e not in user]
        th_est = _threshold_estimates(prob, g, theta, se_free, mats[g])
        scal = _scaling_estimates(prob, g, theta, se_free, mats[g])
        estimates += user + th_est + rest + scal
    r2s = r_squared(lm, mats)
    r2: dict = r2s[0] if G == 1 else {str(g): d for g, d in zip(labels, r2s, strict=True)}
    matrices = [
        MeasurementMatrices(
            labels[g],
            list(lm.ov),
            list(lm.lv),
            gm.lambda_,
            gm.theta,
            gm.psi,
            gm.lv_cov,
            gm.sigma,
            cs.cor,
            np.zeros(lm.p),
            cs.n,
        )
        for g, (gm, cs) in enumerate(zip(mats, prob.stats, strict=True))
    ]
    return SemResult(
        nobs=n,
        estimator=prob.estimator,
        missing=prob.missing,
        converged=opt.converged,
        fit=_fit_measures(prob, opt, st),
        estimates=estimates,
        r2=r2,
        groups=labels,
        nobs_group=[cs.n for cs in prob.stats],
        matrices=matrices,
        theta=theta,
        vcov=vcov,
        n_iter=opt.n_iter,
        ordinal=OrdinalInfo(prob.parameterization, list(prob.ordered)),
    )


def _row_values(prob: OrdinalProblem, theta: np.ndarray, mats: list[GroupMatrices]) -> np.ndarray:
    """Estimate of every parameter-table row (free from theta, fixed from the matrices or
    ``ustart``), shape (len(rows),)."""
    pt, lm = prob.partable, prob.model
    vals = np.empty(len(pt.rows))
    for k, (r, t) in enumerate(zip(pt.rows, lm.targets, strict=True)):
        gm = mats[r.group - 1]
        if r.free:
            vals[k] = theta[r.free - 1]
        elif t.mat <= 3:
            vals[k] = [gm.lambda_, gm.theta, gm.psi, gm.beta][t.mat][t.i, t.j]
        else:
            vals[k] = r.ustart
    return vals


def _table_estimates(
    prob: OrdinalProblem, mats: list[GroupMatrices], vals: np.ndarray, se_free: np.ndarray
) -> list[Estimate]:
    """One Estimate per parameter-table row (Wald tests, std.all), in table order."""
    return estimate_rows(prob.partable, vals, se_free, std_all(prob.model, mats, vals))


def _threshold_estimates(
    prob: OrdinalProblem, g: int, theta: np.ndarray, se_free: np.ndarray, gm: GroupMatrices
) -> list[Estimate]:
    """Group ``g``'s ``|`` rows (std.all: the threshold over the model-implied sd)."""
    cs, label = prob.stats[g], prob.partable.groups[g]
    idx = prob.th_index[g]
    tv, ts = theta[idx], se_free[idx]
    tz, tp, tlo, thi = wald(tv, ts)
    sd = np.sqrt(np.diag(gm.sigma))[cs.th_var]
    return [
        Estimate(
            cs.names[int(cs.th_var[k])],
            "|",
            cs.th_names[k],
            "",
            label,
            tv[k],
            ts[k],
            tz[k],
            tp[k],
            tlo[k],
            thi[k],
            tv[k] / sd[k],
            int(idx[k]) + 1,
        )
        for k in range(tv.size)
    ]


def _scaling_estimates(
    prob: OrdinalProblem, g: int, theta: np.ndarray, se_free: np.ndarray, gm: GroupMatrices
) -> list[Estimate]:
    """Group ``g``'s ``~*~`` scaling-factor rows of the ordered indicators."""
    label = prob.partable.groups[g]
    didx = prob.delta_index[g]
    d = prob.scales(theta, g, gm)
    dse = np.where(didx >= 0, se_free[np.maximum(didx, 0)], 0.0)
    dz, dp, dlo, dhi = wald(d, dse)
    return [
        Estimate(
            v,
            "~*~",
            v,
            "",
            label,
            d[j],
            dse[j],
            dz[j],
            dp[j],
            dlo[j],
            dhi[j],
            1.0,  # lavaan: std.all of a scaling factor is 1
            int(didx[j]) + 1 if didx[j] >= 0 else 0,
        )
        for j, v in enumerate(prob.model.ov)
        if v in prob.ordered
    ]


def fit_ordinal(
    data: pd.DataFrame,
    model: str,
    *,
    ordered: bool | list[str] | tuple[str, ...] = True,
    estimator: str = "WLSMV",
    missing: str = "listwise",
    group: str | None = None,
    group_equal: Sequence[str] = (),
    parameterization: str = "delta",
) -> SemResult:
    """Fit a model with ordered indicators as lavaan's ``cfa/sem(..., ordered=...)``.

    ``estimator="WLSMV"`` (lavaan's default for ordered data): DWLS estimates, robust
    standard errors and the scaled-shifted test; ``"DWLS"``: standard errors and test
    without the robust corrections. ``group``/``group_equal`` as lavaan (see
    :func:`prepare_ordinal`).
    """
    prob = prepare_ordinal(
        data,
        model,
        ordered=ordered,
        estimator=estimator,
        missing=missing,
        group=group,
        group_equal=group_equal,
        parameterization=parameterization,
    )
    opt = fit_wls(prob)
    return summarize_ordinal(prob, opt)
