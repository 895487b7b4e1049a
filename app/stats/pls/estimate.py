"""PLS path modelling (Lohmöller's algorithm as seminr runs it) and consistent PLS (PLSc).

Items are standardised (sample sd); outer weights start at 1 within each block; each iteration
forms standardised construct scores, inner proxies by the chosen scheme, new outer weights
(mode A: covariances of the items with the inner proxy; mode B: the proxy regressed on the block)
and rescales them so the scores have unit variance, until the summed absolute change of the
weights is below ``tol``. Paths are OLS on the scores; with ``consistent`` (PLSc, Dijkstra &
Henseler 2015) the construct correlations are disattenuated by rho_A before the paths, R² and
the reflective loadings are computed. seminr's choices are followed wherever it makes one, so
the numbers agree with it (tests/stats/pls).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from app.stats.pls.spec import PlsSpec, parse_pls
from app.stats.sem import ModelError

Scheme = Literal["path", "factorial", "centroid"]
Missing = Literal["mean", "listwise"]
SCHEMES: tuple[str, ...] = ("path", "factorial", "centroid")
MAX_ITER = 300
TOL = 1e-7


@dataclass(frozen=True)
class PlsResult:
    """A fitted PLS path model. Arrays are indexed by ``items`` (p) and ``constructs`` (m).

    weights, loadings : (p, m), zero outside each construct's block; standardised weights and
        loadings (PLSc loadings for reflective constructs when ``consistent``).
    paths : (m, m), ``paths[i, j]`` is the coefficient of the path constructs[i] -> constructs[j].
    construct_cor : (m, m) construct correlations behind paths and R² (disattenuated by rho_A
        under PLSc).
    scores : (n, m) standardised construct scores.
    """

    spec: PlsSpec
    items: list[str]
    constructs: list[str]
    nobs: int
    missing: str
    scheme: str
    consistent: bool
    iterations: int
    converged: bool
    weights: np.ndarray
    loadings: np.ndarray
    paths: np.ndarray
    construct_cor: np.ndarray
    r2: dict[str, float]
    r2_adj: dict[str, float]
    rho_a: dict[str, float]
    scores: np.ndarray
    item_mean: np.ndarray
    item_sd: np.ndarray
    data: np.ndarray = field(repr=False)  # (n, p) the items after missing-data handling

    def weight(self, item: str, construct: str) -> float:
        return float(self.weights[self.items.index(item), self.constructs.index(construct)])

    def path(self, source: str, target: str) -> float:
        i, j = self.constructs.index(source), self.constructs.index(target)
        return float(self.paths[i, j])


def _standardize(x: np.ndarray) -> np.ndarray:
    sd = x.std(axis=0, ddof=1)
    if np.any(sd == 0) or not np.all(np.isfinite(sd)):
        raise ModelError("a construct score or item has no variance")
    return (x - x.mean(axis=0)) / sd


def _cor(x: np.ndarray) -> np.ndarray:
    return np.corrcoef(x, rowvar=False).reshape(x.shape[1], x.shape[1])


def _ols(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.linalg.solve(x.T @ x, x.T @ y)


def _inner(
    scheme: str, scores: np.ndarray, P: np.ndarray, spec: PlsSpec, names: list[str]
) -> np.ndarray:
    """Inner weights E (m, m): the proxy of construct j is sum_i scores_i E[i, j]."""
    cor = _cor(scores)
    if scheme == "factorial":
        return cor * (P + P.T)
    if scheme == "centroid":
        return np.sign(cor) * (P + P.T)
    inner = cor * P.T  # successors: their correlation
    for dv in spec.endogenous:
        j = names.index(dv)
        ante = [names.index(a) for a in spec.antecedents(dv)]
        inner[ante, j] = _ols(scores[:, ante], scores[:, j])  # predecessors: regression weights
    return inner


def _rho_a(z: np.ndarray, w: np.ndarray) -> float:
    """Dijkstra-Henseler rho_A of one block from its standardised items z (n, k), weights w."""
    s = np.cov(z, rowvar=False)
    np.fill_diagonal(s, 0.0)
    ww = np.outer(w, w)
    np.fill_diagonal(ww, 0.0)
    return float((w @ w) ** 2 * (w @ s @ w) / (w @ ww @ w))


def _prepare(data: pd.DataFrame, spec: PlsSpec, missing: str) -> tuple[np.ndarray, int]:
    unknown = [i for i in spec.items if i not in data.columns]
    if unknown:
        raise ModelError(f"unknown variable(s) in the model: {', '.join(unknown)}")
    try:
        x = data[spec.items].apply(pd.to_numeric, errors="raise").to_numpy(float)
    except (ValueError, TypeError) as exc:
        raise ModelError(f"model variables must be numeric: {exc}") from exc
    if missing == "listwise":
        x = x[~np.isnan(x).any(axis=1)]
    elif missing == "mean":
        means = np.nanmean(np.where(np.isnan(x).all(axis=0), 0.0, x), axis=0)
        if np.isnan(x).all(axis=0).any():
            raise ModelError("an item has no answers")
        x = np.where(np.isnan(x), means, x)
    else:
        raise ModelError("missing must be 'mean' or 'listwise'")
    if x.shape[0] < 3:
        raise ModelError(f"too few rows: {x.shape[0]}")
    return x, x.shape[0]


def fit_pls(
    data: pd.DataFrame,
    model: str | PlsSpec,
    *,
    scheme: Scheme = "path",
    consistent: bool = True,
    missing: Missing = "mean",
    max_iter: int = MAX_ITER,
    tol: float = TOL,
) -> PlsResult:
    """Estimate a PLS path model.

    Parameters
    ----------
    data : DataFrame
        One column per item (NaN = missing).
    model : str or PlsSpec
        ``=~`` reflective constructs, ``<~`` mode-B composites, ``~`` paths.
    scheme : {"path", "factorial", "centroid"}
        Inner weighting scheme (seminr's default: path).
    consistent : bool
        PLSc for reflective constructs (seminr's default for ``reflective()``); False treats
        ``=~`` blocks as mode-A composites (the PLS-SEM algorithm of SmartPLS).
    missing : {"mean", "listwise"}
        Mean replacement (seminr's default) or complete rows only.

    Raises
    ------
    ModelError
        Bad syntax, unknown or non-numeric items, constant items, too few rows.
    """
    spec = model if isinstance(model, PlsSpec) else parse_pls(model)
    if scheme not in SCHEMES:
        raise ModelError(f"scheme must be one of {SCHEMES}")
    raw, n = _prepare(data, spec, missing)
    mean, sd = raw.mean(axis=0), raw.std(axis=0, ddof=1)
    if np.any(sd == 0):
        bad = [i for i, s in zip(spec.items, sd, strict=True) if s == 0]
        raise ModelError(f"constant item(s): {', '.join(bad)}")
    z = (raw - mean) / sd
    items, names = spec.items, spec.names
    p, m = len(items), len(names)
    blocks = [[items.index(i) for i in c.items] for c in spec.constructs]
    mask = np.zeros((p, m))
    for j, idx in enumerate(blocks):
        mask[idx, j] = 1.0
    P = np.zeros((m, m))
    for s, t in spec.paths:
        P[names.index(s), names.index(t)] = 1.0

    w = mask.copy()
    iterations, diff = 0, np.inf
    while True:
        scores = _standardize(z @ w)
        proxy = _standardize(scores @ _inner(scheme, scores, P, spec, names))
        new = w.copy()
        for j, (c, idx) in enumerate(zip(spec.constructs, blocks, strict=True)):
            block = z[:, idx]
            if c.reflective or len(idx) == 1:  # mode A
                new[idx, j] = block.T @ (proxy[:, j] - proxy[:, j].mean()) / (n - 1)
            else:  # mode B
                r = _cor(np.column_stack([block, proxy[:, j]]))
                new[idx, j] = np.linalg.solve(r[:-1, :-1], r[:-1, -1])
        rms = np.sqrt(((z @ new) ** 2).sum(axis=0) / (n - 1))
        last, w = w, new / rms
        diff = float(np.abs(w - last).sum())
        if diff < tol or iterations >= max_iter:
            break
        iterations += 1

    scores = z @ w
    loadings = (z.T @ (scores - scores.mean(axis=0)) / (n - 1)) * mask
    cor = _cor(scores)
    rho = {
        c.name: 1.0 if (not c.reflective or len(c.items) == 1) else _rho_a(z[:, idx], w[idx, j])
        for j, (c, idx) in enumerate(zip(spec.constructs, blocks, strict=True))
    }
    plsc = consistent and any(c.reflective and len(c.items) > 1 for c in spec.constructs)
    if plsc:
        r = np.array([rho[c] for c in names])
        cor = cor / np.sqrt(np.outer(r, r))
        np.fill_diagonal(cor, 1.0)
        for j, (c, idx) in enumerate(zip(spec.constructs, blocks, strict=True)):
            if c.reflective:
                wj = w[idx, j]
                loadings[idx, j] = wj * np.sqrt(rho[c.name]) / (wj @ wj)
    paths = np.zeros((m, m))
    r2, r2_adj = {}, {}
    for dv in spec.endogenous:
        j = names.index(dv)
        ante = [names.index(a) for a in spec.antecedents(dv)]
        if plsc:
            beta = np.linalg.solve(cor[np.ix_(ante, ante)], cor[ante, j])
        else:
            beta = _ols(scores[:, ante], scores[:, j])
        paths[ante, j] = beta
        sub = np.linalg.inv(cor[np.ix_([*ante, j], [*ante, j])])
        r2[dv] = float(1.0 - 1.0 / sub[-1, -1])
        r2_adj[dv] = float(1.0 - (1.0 - r2[dv]) * (n - 1) / (n - len(ante) - 1))
    return PlsResult(
        spec=spec,
        items=items,
        constructs=names,
        nobs=n,
        missing=missing,
        scheme=scheme,
        consistent=plsc,
        iterations=iterations,
        converged=diff < tol,
        weights=w,
        loadings=loadings,
        paths=paths,
        construct_cor=cor,
        r2=r2,
        r2_adj=r2_adj,
        rho_a=rho,
        scores=scores,
        item_mean=mean,
        item_sd=sd,
        data=raw,
    )
