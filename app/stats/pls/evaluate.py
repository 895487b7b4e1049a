"""Quality criteria of a fitted PLS path model, as seminr reports them.

Reliability (Cronbach's alpha, rho_A, rho_C, AVE), HTMT, Fornell-Larcker, cross-loadings, total
and indirect effects, f² (R² with and without each path, the model re-estimated), and VIFs of
items and of each endogenous construct's antecedents.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from app.stats.pls.estimate import PlsResult, fit_pls, layout
from app.stats.pls.spec import PlsSpec

Matrix = dict[str, dict[str, float]]


def _cor(x: np.ndarray) -> np.ndarray:
    return np.corrcoef(x, rowvar=False).reshape(x.shape[1], x.shape[1])


def _block(res: PlsResult, construct: str) -> np.ndarray:
    items = res.spec.construct(construct).items
    return res.data[:, [res.items.index(i) for i in items]]


def reliability(res: PlsResult) -> dict[str, dict[str, float]]:
    """Per construct: ``alpha`` (standardised items), ``rhoA``, ``rhoC`` and ``AVE`` (from the
    loadings; 1 for single items)."""
    out: dict[str, dict[str, float]] = {}
    for j, name in enumerate(res.constructs):
        block = _block(res, name)
        k = block.shape[1]
        if k == 1:
            out[name] = {"alpha": 1.0, "rhoA": 1.0, "rhoC": 1.0, "AVE": 1.0}
            continue
        r = _cor(block)
        alpha = k / (k - 1) * (1 - np.trace(r) / r.sum())
        lam = res.loadings[[res.items.index(i) for i in res.spec.construct(name).items], j]
        total = lam.sum()
        rho_c = total**2 / (total**2 + (1 - lam**2).sum())
        out[name] = {
            "alpha": float(alpha),
            "rhoA": float(res.rho_a[name]),
            "rhoC": float(rho_c),
            "AVE": float((lam**2).mean()),
        }
    return out


def htmt(res: PlsResult) -> Matrix:
    """Heterotrait-monotrait ratio (Henseler et al. 2015) of every pair of constructs, from
    absolute item correlations; single-item blocks have a monotrait value of 1."""
    return htmt_from_cor(_cor(res.data), res.spec)


def htmt_from_cor(R: np.ndarray, spec: PlsSpec) -> Matrix:
    """HTMT from the correlation matrix ``R`` (p, p) of ``spec.items``."""
    names = spec.names
    h = htmt_matrix(R, spec)
    return {
        a: {b: float(h[i, j]) for j, b in enumerate(names) if j != i} for i, a in enumerate(names)
    }


def htmt_matrix(R: np.ndarray, spec: PlsSpec) -> np.ndarray:
    """(m, m) HTMT of every pair of constructs: mean absolute heterotrait correlation over the
    geometric mean of the two blocks' mean absolute monotrait (off-diagonal) correlations; a
    single-item block's monotrait value is 1. The diagonal is meaningless (set to 1)."""
    mask = layout(spec).mask
    A = np.abs(R)
    k = mask.sum(axis=0)
    sums = mask.T @ A @ mask
    within = np.diag(sums) - mask.T @ np.diag(A)
    pairs = k * (k - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mono = np.where(k > 1, within / np.where(pairs > 0, pairs, 1.0), 1.0)
        out = sums / np.outer(k, k) / np.sqrt(np.outer(mono, mono))
    np.fill_diagonal(out, 1.0)
    return out


def total_effects(res: PlsResult) -> np.ndarray:
    """(m, m) total effects ``B + B² + ...`` (= (I - B)^-1 - I for the recursive model)."""
    m = len(res.constructs)
    return np.linalg.inv(np.eye(m) - res.paths) - np.eye(m)


def indirect_effects(res: PlsResult) -> np.ndarray:
    return total_effects(res) - res.paths


def f_squared(res: PlsResult) -> Matrix:
    """Cohen's f² of every path: (R² - R² without the path) / (1 - R²), the model re-estimated
    without the path (as seminr)."""
    out: Matrix = {}
    for source, target in res.spec.paths:
        with_r2 = res.r2[target]
        if len(res.constructs) == 2:
            value = with_r2 / (1 - with_r2)
        else:
            rest = tuple(p for p in res.spec.paths if p != (source, target))
            without = 0.0
            if any(t == target for _, t in rest):
                # a construct left without any path drops out of the model, as in seminr
                linked = {c for path in rest for c in path}
                kept = tuple(c for c in res.spec.constructs if c.name in linked)
                reduced = dataclasses.replace(res.spec, constructs=kept, paths=rest)
                without = _refit(res, reduced).r2[target]
            value = (with_r2 - without) / (1 - with_r2)
        out.setdefault(source, {})[target] = float(value)
    return out


def _refit(res: PlsResult, spec: PlsSpec) -> PlsResult:
    frame = pd.DataFrame(res.data, columns=res.items)
    return fit_pls(
        frame,
        spec,
        scheme=res.scheme,  # type: ignore[arg-type]
        consistent=res.consistent,
        missing="listwise",  # res.data already has no missing values
    )


def inner_vif(res: PlsResult) -> Matrix:
    """VIF of each antecedent of each endogenous construct, from the construct scores'
    correlations (NaN for a single antecedent, as seminr)."""
    cor = _cor(res.scores)
    out: Matrix = {}
    for dv in res.spec.endogenous:
        ante = res.spec.antecedents(dv)
        if len(ante) == 1:
            out[dv] = {ante[0]: float("nan")}
            continue
        idx = [res.constructs.index(a) for a in ante]
        inv = np.linalg.inv(cor[np.ix_(idx, idx)])
        out[dv] = {a: float(inv[k, k]) for k, a in enumerate(ante)}
    return out


def item_vif(res: PlsResult) -> Matrix:
    """VIF of each item within its block (1 for single items)."""
    out: Matrix = {}
    for name in res.constructs:
        items = res.spec.construct(name).items
        if len(items) == 1:
            out[name] = {items[0]: 1.0}
            continue
        inv = np.linalg.inv(_cor(_block(res, name)))
        out[name] = {i: float(inv[k, k]) for k, i in enumerate(items)}
    return out


def cross_loadings(res: PlsResult) -> Matrix:
    """Correlation of every item with every construct score."""
    both = _cor(np.column_stack([res.data, res.scores]))
    p = len(res.items)
    return {
        item: {c: float(both[i, p + j]) for j, c in enumerate(res.constructs)}
        for i, item in enumerate(res.items)
    }


def fornell_larcker(res: PlsResult) -> Matrix:
    """sqrt(AVE) on the diagonal, construct correlations (as used for the paths) elsewhere."""
    ave = {c: v["AVE"] for c, v in reliability(res).items()}
    return {
        a: {
            b: float(np.sqrt(ave[a]) if a == b else res.construct_cor[i, j])
            for j, b in enumerate(res.constructs)
        }
        for i, a in enumerate(res.constructs)
    }


def implied_correlation(res: PlsResult) -> np.ndarray:
    """Model-implied item correlations (p, p) of the saturated model, as cSEM's ``fit()`` and
    SmartPLS build them for SRMR: within a composite block (mode A or B) the observed item
    correlations; within a common-factor block (PLSc reflective) ``λλ'``; between blocks
    ``λ_a ρ_ab λ_b'`` with ρ the construct correlations (disattenuated under PLSc) and, for
    composites, λ = the items' correlations with their composite score. Diagonal 1."""
    R = _cor(res.data)
    lam = res.loadings
    implied = lam @ res.construct_cor @ lam.T
    items = res.items
    for c in res.spec.constructs:
        idx = [items.index(i) for i in c.items]
        if not (res.consistent and c.reflective and len(idx) > 1):
            implied[np.ix_(idx, idx)] = R[np.ix_(idx, idx)]
    np.fill_diagonal(implied, 1.0)
    return implied


def srmr(res: PlsResult) -> float:
    """Standardized root mean square residual of the saturated model (SmartPLS's and cSEM's
    "SRMR"): sqrt of the mean squared difference between observed and implied item
    correlations over the lower triangle including the diagonal, p(p+1)/2 elements."""
    resid = _cor(res.data) - implied_correlation(res)
    low = np.tril_indices(resid.shape[0])
    return float(np.sqrt(np.mean(resid[low] ** 2)))
