"""What researchers inspect after a fit: lavaan's ``modindices()``, ``lavResiduals()`` and the
standard errors of ``standardizedSolution()``.

* :func:`modification_indices` — univariate score tests (Saris, Satorra & Sörbom 1987) of every
  parameter lavaan's ``modindices()`` considers: the model's fixed rows and the rows of lavaan's
  "full" parameter table that the model lacks (cross-loadings, residual covariances, latent
  covariances, regressions among the variables already in regressions, intercepts). Expected
  information, as lavaan; rows whose freeing would leave the model unidentified (``diag(V)``
  below ``eps^(1/3)``) are left out, as ``na.remove = TRUE`` does.
* :func:`correlation_residuals` — ``lavResiduals(fit)``'s default ``type = "cor.bentler"``:
  sample and model-implied moments both scaled by the observed standard deviations (under
  FIML the EM estimates of the saturated model).
* :func:`residuals_and_fitted` — the rest of ``lavResiduals()``: raw residuals (``type =
  "raw"``), standardized residuals (``$cov.z``, ``$mean.z``: residual over its standard error,
  lavaan's ``z.type = "standardized"``; ML and MLR, complete data or FIML) and the model-implied
  moments (``fitted()``).
* :func:`standardized_se` — delta-method standard errors of ``std.all`` (lavaan's ``se`` column
  of ``standardizedSolution()``), from the fit's parameter covariance (robust under MLR).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from app.stats.sem.h1info import saturated_info, structured_info, vech_jacobian
from app.stats.sem.likelihood import GroupData, loglik
from app.stats.sem.model import GroupMatrices, LisrelModel
from app.stats.sem.partable import ParRow, ParTable
from app.stats.sem.standardize import std_all

V_EPS = float(np.finfo(float).eps) ** (1.0 / 3.0)  # lavaan >= 0.6-14
# Modification indices need the information of every candidate parameter (memory ~ p^4): above
# this many observed variables a result has none (``modindices`` None).
MAX_MI_VARIABLES = 50
SMALL_VAR = math.sqrt(float(np.finfo(float).eps))
# Standardized residuals with observed information (FIML, MLR) cost ~ sum over missing-data
# patterns of p_observed^4 (h1 information per pattern): above this budget (~0.3 s) a result
# has none (no ``std``). Measured: the 37-item telecom model under FIML (16 patterns, cost 3e7)
# took 1.8 s more per fit, doubling it; every fit pays this, asked for or not.
MAX_Z_COST = 5e6


def observed_z_cost(data: list[GroupData]) -> int:
    """The cost :data:`MAX_Z_COST` bounds: sum over groups and patterns of p_observed^4."""
    return sum(int(pat.idx.size) ** 4 for gd in data for pat in gd.patterns)


@dataclass(frozen=True)
class ModIndex:
    """One row of ``modindices(fit)``: the score test of freeing ``lhs op rhs``."""

    lhs: str
    op: str
    rhs: str
    group: str | None
    mi: float
    epc: float
    sepc_all: float

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"lhs": self.lhs, "op": self.op, "rhs": self.rhs}
        if self.group is not None:
            out["group"] = self.group
        out.update(mi=_num(self.mi), epc=_num(self.epc))
        out["sepc.all"] = _num(self.sepc_all)
        return out


def _num(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _key(lhs: str, op: str, rhs: str, group: int) -> tuple[str, str, str, int]:
    if op == "~~" and rhs < lhs:
        lhs, rhs = rhs, lhs
    return (lhs, op, rhs, group)


def _lower(names: list[str]) -> list[tuple[str, str]]:
    return [(a, b) for k, a in enumerate(names) for b in names[k:]]


def candidate_rows(pt: ParTable, phantom: set[str]) -> list[tuple[str, str, str]]:
    """lavaan's ``lav_partable_full()`` rows of one group (before removing those present).

    Residual covariances between an observed variable that is part of a regression (modelled
    as a latent "phantom") and one that is not are left out: pvm's LISREL layout has no place
    for them.
    """
    names = pt.names
    ov_x = set(names.ov_x)
    ov_nox = [v for v in names.ov if v not in ov_x]
    lv = list(names.lv)
    regs = [r for r in pt.rows if r.op == "~" and r.group == 1]
    eqs = list(dict.fromkeys([r.lhs for r in regs] + [r.rhs for r in regs]))
    ov_ind = {r.rhs for r in pt.rows if r.op == "=~" and r.rhs not in set(lv)}
    rows: list[tuple[str, str, str]] = []
    rows += [(f, "=~", v) for f in lv for v in ov_nox if v not in eqs]
    other = [v for v in names.ov if v not in ov_ind and v not in ov_x and v not in eqs]
    for a, b in _lower(ov_nox):
        if other and (a in other or b in other):
            continue
        if (a in phantom) != (b in phantom):
            continue
        rows.append((a, "~~", b))
    rows += [(a, "~~", b) for a, b in _lower(list(names.ov_x))]
    rows += [(a, "~~", b) for a, b in _lower(lv)]
    for y in eqs:
        for x in eqs:
            if x != y and not (y in ov_ind and x in lv):
                rows.append((y, "~", x))
    if pt.meanstructure:
        rows += [(v, "~1", "") for v in list(names.ov) + lv]
    return rows


def _extended(pt: ParTable, phantom: set[str]) -> tuple[ParTable, int]:
    """The model with every fixed row and every candidate row free (numbered after the model's
    own parameters); the number of the model's parameters."""
    npar = pt.npar
    rows: list[ParRow] = []
    present: set[tuple[str, str, str, int]] = set()
    nxt = npar
    for r in pt.rows:
        present.add(_key(r.lhs, r.op, r.rhs, r.group))
        if r.free:
            rows.append(replace(r))
        else:
            nxt += 1
            rows.append(replace(r, free=nxt, exo=0, user=10))
    candidates = candidate_rows(pt, phantom)
    for g in range(1, len(pt.groups) + 1):
        for lhs, op, rhs in candidates:
            k = _key(lhs, op, rhs, g)
            if k in present:
                continue
            present.add(k)
            nxt += 1
            rows.append(
                ParRow(len(rows) + 1, lhs, op, rhs, g, 10, nxt, 0.0, plabel=f".p{len(rows) + 1}.")
            )
    ext = ParTable(rows, pt.names, pt.groups, pt.meanstructure, [])
    return ext, npar


def _row_values(lm: LisrelModel, mats: list[GroupMatrices]) -> np.ndarray:
    """Every row's value read back from the matrices (fixed, free and exo rows alike)."""
    out = np.empty(len(lm.pt.rows))
    for k, (r, t) in enumerate(zip(lm.pt.rows, lm.targets, strict=True)):
        gm = mats[r.group - 1]
        mat = (gm.lambda_, gm.theta, gm.psi, gm.beta, gm.nu, gm.alpha)[t.mat]
        out[k] = mat[t.i] if mat.ndim == 1 else mat[t.i, t.j]
    return out


def pattern_information(
    lm: LisrelModel, mats: list[GroupMatrices], data: list[GroupData], meanstructure: bool
) -> np.ndarray:
    """Expected (Fisher) information of the whole sample, summed over missing-data patterns.

    The same quantity as ``likelihood.expected_information``, computed as ``D' W D`` with ``W``
    the information of the moments (one ``p^2 x p^2`` matrix per group, whatever the number of
    patterns), which is cheaper for the many parameters of an extended model.
    """
    q, p = lm.pt.npar, lm.p
    info = np.zeros((q, q))
    for gm, gd, (dS, dm) in zip(mats, data, lm.jacobian(mats), strict=True):
        W = np.zeros((p * p, p * p))
        Wm = np.zeros((p, p))
        for pat in gd.patterns:
            o = pat.idx
            Si = np.zeros((p, p))
            Si[np.ix_(o, o)] = np.linalg.inv(gm.sigma[np.ix_(o, o)])
            W += pat.n * np.kron(Si, Si)
            Wm += pat.n * Si
        flat = dS.reshape(q, p * p)
        info += 0.5 * (flat @ W @ flat.T)
        if meanstructure:
            info += dm @ Wm @ dm.T
    return (info + info.T) / 2.0


def modification_indices(
    lm: LisrelModel, theta: np.ndarray, data: list[GroupData], meanstructure: bool
) -> list[ModIndex]:
    """``modindices(fit, sort = TRUE)``: every testable parameter, the largest index first."""
    pt = lm.pt
    ext, npar = _extended(pt, set(lm.phantom))
    elm = LisrelModel(ext)
    base = lm.matrices(theta)
    vals = _row_values(lm, base)
    theta_ext = np.zeros(ext.npar)
    theta_ext[:npar] = theta
    for k, r in enumerate(ext.rows):
        if r.free > npar and k < len(pt.rows):
            theta_ext[r.free - 1] = vals[k]
    n = sum(gd.n for gd in data)
    _, grad, mats = loglik(elm, theta_ext, data, meanstructure)
    if grad is None:
        return []
    score = grad / n
    info = pattern_information(elm, mats, data, meanstructure) / n
    model_idx = np.arange(npar)
    extra_idx = np.arange(npar, ext.npar)
    if extra_idx.size == 0:
        return []
    i11 = info[np.ix_(extra_idx, extra_idx)]
    i12 = info[np.ix_(extra_idx, model_idx)]
    try:
        i22_inv = np.linalg.inv(info[np.ix_(model_idx, model_idx)])
    except np.linalg.LinAlgError:
        i22_inv = np.linalg.pinv(info[np.ix_(model_idx, model_idx)])
    v = np.diag(i11) - np.einsum("ij,jk,ik->i", i12, i22_inv, i12)
    v = np.where(v < V_EPS, np.nan, v)
    s = score[extra_idx]
    mi = n * s * s / v
    epc = s / v
    # sepc.all: |epc| standardized as std.all (variances keep their estimate), with its sign
    ext_vals = _row_values(elm, mats)
    std_in = ext_vals.copy()
    for k, r in enumerate(ext.rows):
        if r.free > npar:
            e = epc[r.free - 1 - npar]
            variance = r.op == "~~" and r.lhs == r.rhs
            std_in[k] = ext_vals[k] if variance else abs(e)
    sepc = std_all(elm, mats, std_in)
    out: list[ModIndex] = []
    for k, r in enumerate(ext.rows):
        if r.free <= npar:
            continue
        j = r.free - 1 - npar
        if not math.isfinite(mi[j]):
            continue
        tiny_variance = r.op == "~~" and r.lhs == r.rhs and abs(ext_vals[k]) < SMALL_VAR
        sep = 0.0 if tiny_variance else float(np.sign(epc[j]) * sepc[k])
        out.append(ModIndex(r.lhs, r.op, r.rhs, pt.groups[r.group - 1], mi[j], epc[j], sep))
    out.sort(key=lambda m: -m.mi)
    return out


def correlation_residuals(
    lm: LisrelModel, theta: np.ndarray, data: list[GroupData], meanstructure: bool
) -> list[dict[str, Any]]:
    """``lavResiduals(fit)`` (type ``cor.bentler``) per group: ``cor`` {var: {var: value}} and,
    with a mean structure, ``mean`` {var: value}."""
    out = []
    for gm, gd in zip(lm.matrices(theta), data, strict=True):
        S, M = gd.h1.cov, gd.h1.mean
        sd = np.sqrt(np.diag(S))
        R = (S - gm.sigma) / np.outer(sd, sd)
        cor = {a: {b: float(R[i, j]) for j, b in enumerate(lm.ov)} for i, a in enumerate(lm.ov)}
        res: dict[str, Any] = {"cor": cor}
        if meanstructure:
            res["mean"] = {v: float((M[i] - gm.mu[i]) / sd[i]) for i, v in enumerate(lm.ov)}
        out.append(res)
    return out


# lavResiduals' z statistics: a residual (correlation scale) below this is reported as is
Z_NEAR_ZERO = 1e-4


def _by_name(A: np.ndarray, names: list[str]) -> dict[str, dict[str, float]]:
    return {a: {b: float(A[i, j]) for j, b in enumerate(names)} for i, a in enumerate(names)}


def _vech_pairs(p: int) -> list[tuple[int, int]]:
    """lavaan's ``lav_matrix_vech`` order: column by column, the lower triangle."""
    return [(i, j) for j in range(p) for i in range(j, p)]


def _h1_information(S: np.ndarray, meanstructure: bool, x_idx: set[int]) -> np.ndarray:
    """Expected information (one observation) of the saturated normal model at ``S``, over
    (mean, vech(cov)) as lavaan orders them; with fixed.x the rows and columns of the
    covariates' own moments (their means, their variances and covariances) are zero."""
    p = S.shape[0]
    Si = np.linalg.inv(S)
    pairs = _vech_pairs(p)
    ps = len(pairs)
    # 0.5 D' (Si x Si) D without the p^2 x p^2 Kronecker product: element ((i,j), (k,l)) is
    # (Si_ik Si_jl + Si_il Si_jk) f_ij f_kl / 4, f = 2 off the diagonal, 1 on it
    ii = np.array([i for i, _ in pairs])
    jj = np.array([j for _, j in pairs])
    f = np.where(ii == jj, 1.0, 2.0)
    M = Si[np.ix_(ii, ii)] * Si[np.ix_(jj, jj)] + Si[np.ix_(ii, jj)] * Si[np.ix_(jj, ii)]
    cov_info = M * np.outer(f, f) / 4.0
    if meanstructure:
        out = np.zeros((p + ps, p + ps))
        out[:p, :p] = Si
        out[p:, p:] = cov_info
    else:
        out = cov_info
    x_mom = _x_moments(p, meanstructure, x_idx)
    out[x_mom, :] = 0.0
    out[:, x_mom] = 0.0
    return out


def _x_moments(p: int, meanstructure: bool, x_idx: set[int]) -> np.ndarray:
    """Mask of the moments (mean, vech(cov)) that belong to the fixed.x covariates alone."""
    means = [i in x_idx for i in range(p)] if meanstructure else []
    return np.array(means + [i in x_idx and j in x_idx for i, j in _vech_pairs(p)], dtype=bool)


def _inverse_nonzero(A: np.ndarray) -> np.ndarray:
    """Inverse of the block of ``A`` whose rows are not all zero (lavaan's
    ``lav_matrix_symmetric_inverse``); zero elsewhere."""
    keep = ~np.all(A == 0.0, axis=1)
    out = np.zeros_like(A)
    out[np.ix_(keep, keep)] = np.linalg.inv(A[np.ix_(keep, keep)])
    return out


def _z_ingredients_expected(
    lm: LisrelModel,
    mats: list[GroupMatrices],
    data: list[GroupData],
    meanstructure: bool,
    vcov: np.ndarray,
    x_idx: set[int],
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per group ``(Gamma, A1, ACOV.est)`` of ML with expected information (complete data):
    normal-theory ``Gamma`` at the sample moments, ``A1`` expected at the implied ones."""
    out = []
    for gm, gd, (dS, dm) in zip(mats, data, lm.jacobian(mats), strict=True):
        n = gd.n
        gamma = _inverse_nonzero(_h1_information(gd.h1.cov, meanstructure, x_idx)) / n
        a1 = _h1_information(gm.sigma, meanstructure, x_idx)
        rows = [dS[:, i, j] for i, j in _vech_pairs(gd.h1.cov.shape[0])]
        delta = np.array(([*dm.T] if meanstructure else []) + rows)  # (nmom, q)
        out.append((gamma, a1, n * delta @ vcov @ delta.T))
    return out


def _z_ingredients_observed(
    lm: LisrelModel,
    mats: list[GroupMatrices],
    data: list[GroupData],
    meanstructure: bool,
    robust: bool,
    x_idx: set[int],
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per group ``(Gamma, A1, ACOV.est)`` with lavaan's observed h1 information (FIML, MLR).

    ``Gamma``: the inverse observed information of the saturated model at its (EM) estimate
    over ``N_g``, for MLR the sandwich ``A^-1 B A^-1`` with the casewise scores' cross-product
    (:func:`app.stats.sem.h1info.saturated_info`); ``A1``: the observed information at the
    model-implied moments (:func:`app.stats.sem.h1info.structured_info`); ``ACOV.est``:
    ``N_g Delta (sum_g Delta_g' A1_g Delta_g)^-1 Delta'`` (lavaan's model information with
    ``observed.information = "h1"``). Without a mean structure the mean rows are dropped.
    """
    a1s, gammas, jacs = [], [], []
    for gm, gd, (dS, dm) in zip(mats, data, lm.jacobian(mats), strict=True):
        p = gm.sigma.shape[0]
        keep = np.arange(0 if meanstructure else p, p + p * (p + 1) // 2)
        x_mom = _x_moments(p, meanstructure, x_idx)
        mu = gm.mu if meanstructure else gd.h1.mean
        a1 = structured_info(gd, mu, gm.sigma)[np.ix_(keep, keep)]
        A, B = (M[np.ix_(keep, keep)] for M in saturated_info(gd))
        for M in (a1, A, B):
            M[x_mom, :] = 0.0
            M[:, x_mom] = 0.0
        Ainv = _inverse_nonzero(A)
        gammas.append(Ainv @ B @ Ainv if robust else Ainv)
        a1s.append(a1)
        jacs.append(vech_jacobian(dS, dm)[keep])
    info = sum(J.T @ a1 @ J for J, a1 in zip(jacs, a1s, strict=True))
    vcov_h1 = np.linalg.pinv((info + info.T) / 2.0)
    return [
        (gamma, a1 / gd.n, gd.n * J @ vcov_h1 @ J.T)
        for gamma, a1, J, gd in zip(gammas, a1s, jacs, data, strict=True)
    ]


def standardized_residuals(
    lm: LisrelModel,
    mats: list[GroupMatrices],
    data: list[GroupData],
    meanstructure: bool,
    vcov: np.ndarray | None,
    information: str = "expected",
) -> list[dict[str, Any]]:
    """``lavResiduals(fit)``'s ``cov.z`` / ``mean.z`` per group.

    lavaan's ``z.type = "standardized"`` with ``h1.acov = "unstructured"``: the residuals'
    covariance is ``Q Gamma Q'`` with ``Gamma`` the sample moments' covariance and ``Q = I -
    ACOV.est A1`` (``ACOV.est`` the covariance of the model-implied moments, ``A1`` the h1
    information at the model-implied moments, one observation; the fixed.x covariates' own
    moments left out of both, so their z is 0). ``information``: "expected" (ML, complete
    data: ``vcov`` the parameters' covariance, normal-theory ``Gamma``), "observed" (FIML)
    or "robust" (MLR, complete or FIML: ``Gamma`` the sandwich), see
    :func:`_z_ingredients_observed`. A residual whose correlation-scale value is below
    ``Z_NEAR_ZERO`` is reported as that value, as lavaan does; a negative variance gives None.
    """
    out = []
    x_idx = {lm.ov.index(v) for v in lm.pt.names.ov_x}
    if information == "expected":
        if vcov is None:
            raise ValueError("expected information needs the parameters' covariance")
        parts = _z_ingredients_expected(lm, mats, data, meanstructure, vcov, x_idx)
    else:
        parts = _z_ingredients_observed(
            lm, mats, data, meanstructure, information == "robust", x_idx
        )
    for gm, gd, (gamma, a1, acov_est) in zip(mats, data, parts, strict=True):
        S, M = gd.h1.cov, gd.h1.mean
        p = S.shape[0]
        pairs = _vech_pairs(p)
        Q = np.eye(acov_est.shape[0]) - acov_est @ a1
        var = np.diag(Q @ gamma @ Q.T).copy()
        var[~np.isfinite(var) | (var < 0)] = np.nan
        se = np.sqrt(var)
        sd = np.sqrt(np.diag(S))
        off = p if meanstructure else 0
        Z = np.full((p, p), np.nan)
        for c, (i, j) in enumerate(pairs):
            a = (S[i, j] - gm.sigma[i, j]) / (sd[i] * sd[j])
            b = se[off + c] / (sd[i] * sd[j])
            Z[i, j] = Z[j, i] = a if abs(a) < Z_NEAR_ZERO else a / b
        res: dict[str, Any] = {
            "std": {
                a: {b: float(Z[i, j]) for j, b in enumerate(lm.ov)} for i, a in enumerate(lm.ov)
            }
        }
        if meanstructure:
            zm = {}
            for i, v in enumerate(lm.ov):
                a = (M[i] - gm.mu[i]) / sd[i]
                zm[v] = float(a if abs(a) < Z_NEAR_ZERO else a / (se[i] / sd[i]))
            res["std.mean"] = zm
        out.append(res)
    return out


def residuals_and_fitted(
    lm: LisrelModel,
    theta: np.ndarray,
    data: list[GroupData],
    meanstructure: bool,
    vcov: np.ndarray | None = None,
    z_information: str | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Per group, ``lavResiduals()``'s residuals and ``fitted()``'s moments.

    Residuals: ``cor`` and ``mean`` (type cor.bentler, :func:`correlation_residuals`), ``raw``
    and ``raw.mean`` (sample minus model-implied moments; under FIML the sample moments are the
    EM estimates of the saturated model, as lavaan's ``h1``), and, given ``z_information``
    ("expected" with ``vcov``: ML on complete data; "observed": ML with FIML; "robust": MLR),
    ``std`` and ``std.mean`` (:func:`standardized_residuals`). Fitted:
    ``cov`` and, with a mean structure, ``mean``. Means only with a mean structure.
    """
    mats = lm.matrices(theta)
    resid = correlation_residuals(lm, theta, data, meanstructure)
    fitted = []
    for res, gm, gd in zip(resid, mats, data, strict=True):
        ov = lm.ov
        R = gd.h1.cov - gm.sigma
        res["raw"] = {a: {b: float(R[i, j]) for j, b in enumerate(ov)} for i, a in enumerate(ov)}
        fit: dict[str, Any] = {
            "cov": {
                a: {b: float(gm.sigma[i, j]) for j, b in enumerate(ov)} for i, a in enumerate(ov)
            }
        }
        if meanstructure:
            res["raw.mean"] = {v: float(gd.h1.mean[i] - gm.mu[i]) for i, v in enumerate(ov)}
            fit["mean"] = {v: float(gm.mu[i]) for i, v in enumerate(ov)}
        fitted.append(fit)
    if z_information is not None:
        z_all = standardized_residuals(lm, mats, data, meanstructure, vcov, z_information)
        for res, z in zip(resid, z_all, strict=True):
            res.update(z)
    return resid, fitted


def standardized_se(
    lm: LisrelModel, theta: np.ndarray, values: np.ndarray, vcov: np.ndarray
) -> np.ndarray:
    """Delta-method standard errors of every row's ``std.all`` (shape (nrows,)).

    ``values`` are the rows' estimates at ``theta`` (fixed rows keep their values as the free
    ones move; exo rows their sample statistics). Central differences of ``std_all``.
    """
    pt = lm.pt
    free = np.array([r.free for r in pt.rows])

    def fun(th: np.ndarray) -> np.ndarray:
        v = values.copy()
        mask = free > 0
        v[mask] = th[free[mask] - 1]
        return std_all(lm, lm.matrices(th), v)

    base = fun(theta)
    J = np.zeros((base.size, theta.size))
    for j in range(theta.size):
        h = 1e-6 * max(1.0, abs(theta[j]))
        e = np.zeros_like(theta)
        e[j] = h
        J[:, j] = (fun(theta + e) - fun(theta - e)) / (2 * h)
    J = np.nan_to_num(J)
    var = np.einsum("ij,jk,ik->i", J, vcov, J)
    return np.sqrt(np.clip(var, 0, None))
