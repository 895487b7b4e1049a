"""Standardized estimates (lavaan's ``std.all``, ``std.lv``, ``std.nox``) and R-squared."""

from __future__ import annotations

import numpy as np

from app.stats.sem.model import GroupMatrices, LisrelModel

STD_KINDS = ("std.lv", "std.all", "std.nox")


def std_all(model: LisrelModel, mats: list[GroupMatrices], values: np.ndarray) -> np.ndarray:
    """``std.all`` of every parameter-table row (see :func:`standardize`)."""
    return standardize(model, mats, values, "std.all")


def standardize(
    model: LisrelModel, mats: list[GroupMatrices], values: np.ndarray, kind: str = "std.all"
) -> np.ndarray:
    """lavaan's standardized estimates of every parameter-table row.

    Parameters
    ----------
    values : ndarray, shape (nrows,)
        Estimates of every row of ``model.pt.rows`` (free and fixed).
    kind : {"std.all", "std.lv", "std.nox"}
        ``std.all``: every variable scaled by its model-implied total standard deviation;
        ``std.lv``: only the latent variables (observed ones, also those modelled as phantom
        latents in regressions, keep their scale); ``std.nox``: as std.all but the observed
        exogenous covariates (fixed.x) keep theirs.

    Returns
    -------
    ndarray, shape (nrows,)
        Loadings and regressions scaled by the standard deviations of the variables scaled;
        variances as a share of the total variance; covariances between two scaled variables as
        correlations of the (residual) terms involved, and between a scaled and an unscaled one
        divided by the scaled one's (residual) standard deviation, as lavaan does.
    """
    if kind not in STD_KINDS:
        raise ValueError(f"unknown standardization {kind!r}")
    latent = set(model.pt.names.lv)
    ov_x = set(model.pt.names.ov_x)
    if kind == "std.lv":
        scaled = latent
    elif kind == "std.nox":
        scaled = (set(model.ov) | set(model.lv)) - ov_x
    else:
        scaled = set(model.ov) | set(model.lv)
    out = np.full(len(values), np.nan)
    for g, gm in enumerate(mats, start=1):
        sd_ov = np.sqrt(np.clip(np.diag(gm.sigma), 0, None))
        var_lv = np.diag(gm.lv_cov)
        sd_lv = np.sqrt(np.clip(var_lv, 0, None))
        sd_of = {v: float(sd_ov[k]) for k, v in enumerate(model.ov)}
        sd_of.update({v: float(sd_lv[k]) for k, v in enumerate(model.lv)})

        def sd(v: str, sd_of: dict[str, float] = sd_of) -> float:
            return sd_of[v] if v in scaled else 1.0

        for k, (r, t) in enumerate(zip(model.pt.rows, model.targets, strict=True)):
            if r.group != g:
                continue
            v = values[k]
            with np.errstate(divide="ignore", invalid="ignore"):
                if r.op == "=~":
                    out[k] = v * sd(r.lhs) / sd(r.rhs)
                elif r.op == "~":
                    out[k] = v * sd(r.rhs) / sd(r.lhs)
                elif r.op == "~1":
                    out[k] = v / sd(r.lhs)
                elif r.op == "~~":
                    M = gm.theta if t.mat == 1 else gm.psi
                    if r.lhs == r.rhs:
                        out[k] = v / sd(r.lhs) ** 2
                    else:
                        si = np.sqrt(M[t.i, t.i]) if r.lhs in scaled else 1.0
                        sj = np.sqrt(M[t.j, t.j]) if r.rhs in scaled else 1.0
                        out[k] = v / (si * sj)
    return out


def r_squared(model: LisrelModel, mats: list[GroupMatrices]) -> list[dict[str, float]]:
    """R-squared of every endogenous variable, per group (lavaan's ``inspect(fit, "r2")``).

    Observed indicators and dependent observed variables, then endogenous latents.
    """
    names = model.pt.names
    dep = {r.lhs for r in model.pt.rows if r.op == "~"}
    ind = {r.rhs for r in model.pt.rows if r.op == "=~"}
    out = []
    oi = {v: k for k, v in enumerate(model.ov)}
    li = {v: k for k, v in enumerate(model.lv)}
    for gm in mats:
        res: dict[str, float] = {}
        var_lv = np.diag(gm.lv_cov)
        for v in model.ov:
            if v in model.phantom:
                if v in dep or v in ind:
                    res[v] = float(1 - gm.psi[li[v], li[v]] / var_lv[li[v]])
            elif v in ind or v in dep:
                res[v] = float(1 - gm.theta[oi[v], oi[v]] / gm.sigma[oi[v], oi[v]])
        for v in names.lv:
            if v in dep or v in ind:
                res[v] = float(1 - gm.psi[li[v], li[v]] / var_lv[li[v]])
        out.append(res)
    return out
