"""Answers drawn from a population with the structure of a lavaan model (`simulate_model`):
positive loadings and paths at random, discretised to each item's scale. Generic statistical
simulation for tests and for demo data (`app.demo`), which adds survey columns around it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from app.stats.sem import ModelError, parse_model


def _model_structure(model: str) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Measurement blocks ``{latent: indicators}`` and regressions ``{outcome: predictors}``
    among latents, in syntax order."""
    parsed = parse_model(model)
    blocks: dict[str, list[str]] = {}
    for f in parsed.formulas:
        if f.op == "=~":
            blocks.setdefault(f.lhs, []).append(f.rhs)
    paths: dict[str, list[str]] = {}
    for f in parsed.formulas:
        if f.op != "~":
            continue
        if f.lhs not in blocks or f.rhs not in blocks:
            raise ModelError(f"cannot simulate {f.lhs} ~ {f.rhs}: only paths between latents")
        paths.setdefault(f.lhs, []).append(f.rhs)
    nested = sorted({i for items in blocks.values() for i in items} & set(blocks))
    if nested:
        raise ModelError(f"cannot simulate higher-order factors: {', '.join(nested)}")
    return blocks, paths


def _causal_order(latents: list[str], paths: dict[str, list[str]]) -> list[str]:
    """Exogenous latents first, then each outcome after all of its predictors."""
    order: list[str] = [x for x in latents if x not in paths]
    pending = [x for x in latents if x in paths]
    while pending:
        ready = [y for y in pending if all(x in order for x in paths[y])]
        if not ready:
            raise ModelError(f"cannot simulate a non-recursive model: {', '.join(pending)}")
        order += ready
        pending = [y for y in pending if y not in ready]
    return order


def simulate_model(
    model: str,
    n: int,
    *,
    seed: int,
    scales: Mapping[str, tuple[int, int]],
    extra_items: Mapping[str, str] | None = None,
    loading_range: tuple[float, float] = (0.70, 0.88),
    path_range: tuple[float, float] = (0.25, 0.50),
    exogenous_corr: float = 0.40,
    max_r2: float = 0.70,
) -> pd.DataFrame:
    """Draw `n` answers from a random population with the structure of a lavaan model.

    Exogenous latents are standard normal with correlation `exogenous_corr`; each regression
    coefficient is drawn from `path_range` (scaled down when a latent's R² would pass `max_r2`)
    and residual variances make every latent's variance 1. Each item loads on its latent with a
    loading from `loading_range`; the latent-plus-error score is centred a little above the
    midpoint of the item's scale, spread so that the range covers about 5.8 SDs, rounded and
    clipped. Covariances (``~~``), labels, fixed values and ``:=`` lines are accepted and
    ignored.

    Parameters
    ----------
    model : lavaan syntax; regressions only between latents, no higher-order factors.
    n : number of rows.
    seed : seed of the random generator; the same arguments give the same frame.
    scales : ``{item: (min, max)}`` for every indicator and every extra item.
    extra_items : ``{item: latent}``, items outside the model that reflect one of its latents
        (e.g. a 0-10 recommendation question reflecting loyalty).

    Returns
    -------
    DataFrame, shape (n, indicators + extra items): the indicators in model order, then the
    extra items, as nullable Int64 within each item's scale (no missing values).

    Raises
    ------
    ModelError
        Bad syntax, a path involving an observed variable, higher-order factors, a cycle.
    ValueError
        An item without a scale or with max <= min, an extra item of an unknown latent, bad
        ranges.
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    if not 0.0 <= exogenous_corr < 1.0 or not 0.0 < max_r2 < 1.0:
        raise ValueError("exogenous_corr must be in [0, 1) and max_r2 in (0, 1)")
    if not 0.0 < loading_range[0] <= loading_range[1] < 1.0:
        raise ValueError("loadings must lie in (0, 1)")
    blocks, paths = _model_structure(model)
    reflects = _reflected_latents(blocks, extra_items or {}, scales)
    rng = np.random.default_rng(seed)
    order = _causal_order(list(blocks), paths)
    pos = {lat: j for j, lat in enumerate(order)}
    eta, cov = _latent_scores(
        n, order, paths, rng, exogenous_corr=exogenous_corr, path_range=path_range, max_r2=max_r2
    )
    data: dict[str, object] = {}
    for code, lats in reflects.items():
        idx = [pos[lat] for lat in lats]
        lam = rng.uniform(*loading_range, size=len(idx))
        common = float(lam @ cov[np.ix_(idx, idx)] @ lam)
        unique = np.sqrt(max(1.0 - common, 1.0 - loading_range[1] ** 2))
        x = eta[:, idx] @ lam + unique * rng.standard_normal(n)
        lo, hi = scales[code]
        centre, spread = lo + 0.58 * (hi - lo), (hi - lo + 1) / 5.8
        values = np.clip(np.rint(centre + spread * x), lo, hi).astype(np.int64)
        data[code] = pd.arrays.IntegerArray(values, np.zeros(n, dtype=bool))
    return pd.DataFrame(data, columns=list(reflects), copy=False)


def _reflected_latents(
    blocks: Mapping[str, list[str]],
    extra_items: Mapping[str, str],
    scales: Mapping[str, tuple[int, int]],
) -> dict[str, list[str]]:
    """``{item: latents it reflects}``: indicators in model order, then the extra items;
    ValueError for an extra item of an unknown latent or an item without a usable scale."""
    unknown = sorted(lat for lat in extra_items.values() if lat not in blocks)
    if unknown:
        raise ValueError(f"extra items reflect unknown latents: {', '.join(unknown)}")
    reflects: dict[str, list[str]] = {}
    for lat, inds in blocks.items():
        for code in inds:
            reflects.setdefault(code, []).append(lat)
    for code, lat in extra_items.items():
        reflects.setdefault(code, []).append(lat)
    bad = [c for c in reflects if c not in scales or scales[c][1] <= scales[c][0]]
    if bad:
        raise ValueError(f"no scale (min < max) for: {', '.join(bad)}")
    return reflects


def _latent_scores(
    n: int,
    order: list[str],
    paths: Mapping[str, list[str]],
    rng: np.random.Generator,
    *,
    exogenous_corr: float,
    path_range: tuple[float, float],
    max_r2: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Latent scores ``(n, len(order))`` in causal order and their population covariance
    (unit variances): exogenous latents correlated ``exogenous_corr``, each endogenous one a
    regression on its predictors with coefficients from ``path_range`` (shrunk to R² <=
    ``max_r2``) plus a residual."""
    pos = {lat: j for j, lat in enumerate(order)}
    exo = [j for j, lat in enumerate(order) if lat not in paths]
    cov = np.eye(len(order))
    cov[np.ix_(exo, exo)] = exogenous_corr + (1.0 - exogenous_corr) * np.eye(len(exo))
    eta = np.zeros((n, len(order)))
    eta[:, exo] = rng.standard_normal((n, len(exo))) @ np.linalg.cholesky(cov[np.ix_(exo, exo)]).T
    for lat in order[len(exo) :]:
        y, xs = pos[lat], [pos[x] for x in paths[lat]]
        beta = rng.uniform(*path_range, size=len(xs))
        explained = float(beta @ cov[np.ix_(xs, xs)] @ beta)
        if explained > max_r2:
            beta *= np.sqrt(max_r2 / explained)
            explained = max_r2
        cov[y, :y] = cov[:y, y] = beta @ cov[xs, :y]
        eta[:, y] = eta[:, xs] @ beta + np.sqrt(1.0 - explained) * rng.standard_normal(n)
    return eta, cov
