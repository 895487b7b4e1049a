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

from collections.abc import Collection
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

import numpy as np
import pandas as pd

from app.stats.pls.spec import PlsSpec, parse_pls
from app.stats.sem import ModelError, require_variables

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


def _rho_a(block_cor: np.ndarray, w: np.ndarray) -> float:
    """Dijkstra-Henseler rho_A of one block from its item correlations (k, k) and weights."""
    s = block_cor.copy()
    np.fill_diagonal(s, 0.0)
    ww = np.outer(w, w)
    np.fill_diagonal(ww, 0.0)
    return float((w @ w) ** 2 * (w @ s @ w) / (w @ ww @ w))


def check_pls(
    data: pd.DataFrame,
    model: str | PlsSpec,
    *,
    missing: str = "mean",
    variables: Collection[str] | None = None,
) -> PlsSpec:
    """The checks `fit_pls` starts with, without estimating: the syntax, the items (in `data`,
    and among `variables` when given), the missing-data rule and enough rows under it.

    Raises
    ------
    ModelError
        ``field`` ``missing`` for an unknown rule, else ``model``; ``variables`` lists unknown
        items.
    """
    spec = model if isinstance(model, PlsSpec) else parse_pls(model)
    if missing not in ("mean", "listwise"):
        raise ModelError("missing must be 'mean' or 'listwise'", field="missing")
    known = set(data.columns) if variables is None else set(variables) & set(data.columns)
    require_variables(spec.items, known)
    observed = data[spec.items].notna().to_numpy()
    if missing == "listwise":
        n = int(observed.all(axis=1).sum())
    else:
        if not observed.any(axis=0).all():
            raise ModelError("an item has no answers")
        n = len(data)
    if n < 3:
        raise ModelError(f"too few rows: {n}")
    return spec


def _prepare(data: pd.DataFrame, model: str | PlsSpec, missing: str) -> tuple[PlsSpec, np.ndarray]:
    """The checked spec and the item matrix after the missing-data rule, shape (n, p)."""
    spec = check_pls(data, model, missing=missing)
    try:
        x = data[spec.items].apply(pd.to_numeric, errors="raise").to_numpy(float)
    except (ValueError, TypeError) as exc:
        raise ModelError(f"model variables must be numeric: {exc}") from exc
    if missing == "listwise":
        return spec, x[~np.isnan(x).any(axis=1)]
    return spec, np.where(np.isnan(x), np.nanmean(x, axis=0), x)


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
    if scheme not in SCHEMES:
        raise ModelError(f"scheme must be one of {SCHEMES}", field="scheme")
    spec, raw = _prepare(data, model, missing)
    n = raw.shape[0]
    mean, sd = raw.mean(axis=0), raw.std(axis=0, ddof=1)
    if np.any(sd == 0):
        bad = [i for i, s in zip(spec.items, sd, strict=True) if s == 0]
        raise ModelError(f"constant item(s): {', '.join(bad)}")
    z = (raw - mean) / sd
    core = solve_pls(
        np.cov(z, rowvar=False),
        spec,
        scheme=scheme,
        consistent=consistent,
        max_iter=max_iter,
        tol=tol,
    )
    names = spec.names
    r2, r2_adj = {}, {}
    for dv in spec.endogenous:
        j = names.index(dv)
        ante = [names.index(a) for a in spec.antecedents(dv)]
        sub = np.linalg.inv(core.cor[np.ix_([*ante, j], [*ante, j])])
        r2[dv] = float(1.0 - 1.0 / sub[-1, -1])
        r2_adj[dv] = float(1.0 - (1.0 - r2[dv]) * (n - 1) / (n - len(ante) - 1))
    return PlsResult(
        spec=spec,
        items=spec.items,
        constructs=names,
        nobs=n,
        missing=missing,
        scheme=scheme,
        consistent=core.plsc,
        iterations=core.iterations,
        converged=core.diff < tol,
        weights=core.weights,
        loadings=core.loadings,
        paths=core.paths,
        construct_cor=core.cor,
        r2=r2,
        r2_adj=r2_adj,
        rho_a=core.rho,
        scores=z @ core.weights,
        item_mean=mean,
        item_sd=sd,
        data=raw,
    )


@dataclass(frozen=True)
class Core:
    """What the PLS algorithm yields from an item correlation matrix alone."""

    weights: np.ndarray  # (p, m)
    loadings: np.ndarray  # (p, m); PLSc loadings of reflective blocks under PLSc
    cor: np.ndarray  # (m, m) construct correlations (disattenuated under PLSc)
    paths: np.ndarray  # (m, m) paths[i, j]: constructs[i] -> constructs[j]
    rho: dict[str, float]
    plsc: bool  # whether PLSc was applied
    iterations: int
    diff: float


@dataclass(frozen=True)
class Layout:
    """Index structures of a spec, built once per spec (:func:`layout`) so the iterations
    and every bootstrap draw skip Python-level look-ups."""

    blocks: tuple[np.ndarray, ...]  # item indices of each construct
    mask: np.ndarray  # (p, m) 1 where item i belongs to construct j
    P: np.ndarray  # (m, m) 1 for a path i -> j
    mode_b: tuple[bool, ...]  # mode-B weights (formative, more than one item)
    block_ix: tuple[tuple[np.ndarray, ...], ...]  # np.ix_ of each block
    ante: tuple[tuple[int, np.ndarray, tuple[np.ndarray, ...]], ...]  # (j, antecedents,
    # np.ix_(antecedents, antecedents)) of each endogenous construct
    plsc_blocks: tuple[bool, ...]  # reflective with more than one item


@lru_cache(maxsize=64)
def layout(spec: PlsSpec) -> Layout:
    items, names = spec.items, spec.names
    p, m = len(items), len(names)
    blocks = tuple(np.array([items.index(i) for i in c.items]) for c in spec.constructs)
    mask = np.zeros((p, m))
    for j, idx in enumerate(blocks):
        mask[idx, j] = 1.0
    P = np.zeros((m, m))
    for s, t in spec.paths:
        P[names.index(s), names.index(t)] = 1.0
    ante = []
    for dv in spec.endogenous:
        a = np.array([names.index(x) for x in spec.antecedents(dv)])
        ante.append((names.index(dv), a, np.ix_(a, a)))
    return Layout(
        blocks=blocks,
        mask=mask,
        P=P,
        mode_b=tuple(not c.reflective and len(c.items) > 1 for c in spec.constructs),
        block_ix=tuple(np.ix_(idx, idx) for idx in blocks),
        ante=tuple(ante),
        plsc_blocks=tuple(c.reflective and len(c.items) > 1 for c in spec.constructs),
    )


def solve_pls(
    R: np.ndarray,
    spec: PlsSpec,
    *,
    scheme: str = "path",
    consistent: bool = True,
    max_iter: int = MAX_ITER,
    tol: float = TOL,
) -> Core:
    """Lohmöller's iterations on the correlation matrix ``R`` (p, p) of ``spec.items``.

    Every step of the algorithm is linear in the standardised data Z, so it runs on
    R = Z'Z/(n-1): scores Z W have covariance W'RW, mode-A weights are R W, mode-B weights
    solve a block of R. Bootstrap draws then cost one correlation matrix each.
    """
    lay = layout(spec)
    names = spec.names
    mask, P = lay.mask, lay.P
    m = len(names)

    w = mask.copy()
    iterations, diff = 0, np.inf
    while True:
        w1 = w / _sd(w, R)
        inner = _inner_weights(scheme, w1.T @ R @ w1, P, lay)
        w2 = w1 @ inner
        w2 = w2 / _sd(w2, R)
        new = (R @ w2) * mask  # mode A: covariances of the items with the inner proxy
        for j, idx in enumerate(lay.blocks):
            if lay.mode_b[j]:
                new[idx, j] = np.linalg.solve(R[lay.block_ix[j]], new[idx, j])
        last, w = w, new / _sd(new, R)
        diff = float(np.abs(w - last).sum())
        if diff < tol or iterations >= max_iter:
            break
        iterations += 1

    raw_loadings = (R @ w) * mask
    raw_cor = w.T @ R @ w
    rho = {
        c.name: _rho_a(R[lay.block_ix[j]], w[lay.blocks[j], j]) if lay.plsc_blocks[j] else 1.0
        for j, c in enumerate(spec.constructs)
    }
    plsc = consistent and any(lay.plsc_blocks)
    cor, loadings = raw_cor, raw_loadings
    if plsc:
        r = np.array([rho[c] for c in names])
        cor = raw_cor / np.sqrt(np.outer(r, r))
        np.fill_diagonal(cor, 1.0)
        loadings = raw_loadings.copy()
        for j, c in enumerate(spec.constructs):
            if c.reflective:
                idx = lay.blocks[j]
                wj = w[idx, j]
                loadings[idx, j] = wj * np.sqrt(rho[c.name]) / (wj @ wj)
    paths = np.zeros((m, m))
    for j, ante, ix in lay.ante:
        paths[ante, j] = np.linalg.solve(cor[ix], cor[ante, j])
    return Core(w, loadings, cor, paths, rho, plsc, iterations, diff)


def _sd(w: np.ndarray, R: np.ndarray) -> np.ndarray:
    var = np.einsum("ij,ik,kj->j", w, R, w)
    if np.any(var <= 0) or not np.all(np.isfinite(var)):
        raise ModelError("a construct score has no variance")
    return np.sqrt(var)


def _inner_weights(scheme: str, cor: np.ndarray, P: np.ndarray, lay: Layout) -> np.ndarray:
    """Inner weights E (m, m): the proxy of construct j is sum_i score_i E[i, j]."""
    if scheme == "factorial":
        return cor * (P + P.T)
    if scheme == "centroid":
        return np.sign(cor) * (P + P.T)
    inner = cor * P.T  # successors: their correlation
    for j, ante, ix in lay.ante:
        inner[ante, j] = np.linalg.solve(cor[ix], cor[ante, j])  # regression
    return inner
