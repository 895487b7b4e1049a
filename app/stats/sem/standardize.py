"""Completely standardized estimates (lavaan's ``std.all``) and R-squared."""

from __future__ import annotations

import numpy as np

from app.stats.sem.model import GroupMatrices, LisrelModel


def std_all(model: LisrelModel, mats: list[GroupMatrices], values: np.ndarray) -> np.ndarray:
    """``std.all`` of every parameter-table row.

    Parameters
    ----------
    values : ndarray, shape (nrows,)
        Estimates of every row of ``model.pt.rows`` (free and fixed).

    Returns
    -------
    ndarray, shape (nrows,)
        Loadings and regressions scaled by the model-implied total standard deviations;
        variances as a share of the total variance; covariances as correlations of the
        (residual) terms involved, as lavaan does.
    """
    out = np.full(len(values), np.nan)
    for g, gm in enumerate(mats, start=1):
        sd_ov = np.sqrt(np.clip(np.diag(gm.sigma), 0, None))
        var_lv = np.diag(gm.lv_cov)
        sd_lv = np.sqrt(np.clip(var_lv, 0, None))
        sd_of = {v: float(sd_ov[k]) for k, v in enumerate(model.ov)}
        sd_of.update({v: float(sd_lv[k]) for k, v in enumerate(model.lv)})

        def sd(v: str, sd_of: dict[str, float] = sd_of) -> float:
            return sd_of[v]

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
                        out[k] = v / np.sqrt(M[t.i, t.i] * M[t.j, t.j])
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
