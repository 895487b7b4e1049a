"""Reliability of multi-item constructs, as R's psych and semTools compute it.

Two families of coefficients live here:

* classical, data-only statistics per construct (psych::alpha): Cronbach's alpha
  (``raw_alpha``), corrected item-total correlation (``r.drop``), alpha if the item is
  deleted, item mean and sd. They use the complete cases of the construct's own items.
* model-based coefficients from a congeneric CFA (semTools 0.5-6 defaults): omega
  (``compRelSEM(obs.var=TRUE)``), composite reliability with model-implied denominators
  (``compRelSEM(obs.var=FALSE)``) and AVE (``AVE(obs.var=TRUE)``). They take the CFA's
  matrices as input, so any engine that yields lambda, the factor covariance and the
  observed (or EM) covariance can feed them.

The assembled report (with HTMT and Fornell-Larcker from :mod:`app.stats.validity`) is
built by :func:`reliability_report` in :mod:`app.stats.reliability_report`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "ConstructReliability",
    "ItemStatistics",
    "ReliabilityError",
    "average_variance_extracted",
    "composite_reliability",
    "construct_reliability",
]


class ReliabilityError(ValueError):
    """Raised when a reliability coefficient cannot be computed from the given input."""


@dataclass(frozen=True)
class ItemStatistics:
    """Per-item statistics of one construct (psych::alpha ``item.stats``/``alpha.drop``)."""

    code: str
    mean: float
    sd: float
    item_total_r: float | None
    alpha_if_deleted: float | None

    def to_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "mean": self.mean,
            "sd": self.sd,
            "item_total_r": self.item_total_r,
            "alpha_if_deleted": self.alpha_if_deleted,
        }


@dataclass(frozen=True)
class ConstructReliability:
    """Reliability of one construct.

    ``alpha`` and ``items`` use the ``n`` complete cases of the construct's items;
    ``omega``, ``cr`` and ``ave`` come from the measurement model (``None`` when no model
    was given, or the construct has a single item, as semTools' ``dropSingle``).
    """

    construct: str
    n: int
    alpha: float | None
    omega: float | None
    cr: float | None
    ave: float | None
    items: tuple[ItemStatistics, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "construct": self.construct,
            "n": self.n,
            "alpha": self.alpha,
            "omega": self.omega,
            "cr": self.cr,
            "ave": self.ave,
            "items": [item.to_dict() for item in self.items],
        }


def _alpha_from_cov(cov: np.ndarray) -> float:
    """Cronbach's alpha from a (k, k) covariance matrix, ``k >= 2``."""
    k = cov.shape[0]
    total = cov.sum()
    if total <= 0:
        raise ReliabilityError("the sum of the item covariances is not positive")
    return float(k / (k - 1) * (1.0 - np.trace(cov) / total))


def _drop_one_item(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Item-rest correlation (psych's ``r.drop``) and alpha of the rest, item by item.

    Both come from the sum of the (k-1, k-1) submatrix left when an item is dropped (the
    variance of the rest score), computed without forming it: O(k^2) overall.

    Parameters
    ----------
    cov : ndarray, shape (k, k)

    Returns
    -------
    r_drop : ndarray, shape (k,)
        Correlation of each item with the sum of the other items.
    alpha_drop : ndarray, shape (k,)
        Alpha of the remaining items; NaN when fewer than two items remain.
    """
    k = cov.shape[0]
    row = cov.sum(axis=1)
    diag = np.diag(cov)
    var_rest = cov.sum() - 2.0 * row + diag
    with np.errstate(invalid="ignore", divide="ignore"):
        r_drop = (row - diag) / np.sqrt(diag * var_rest)
    if k < 3:
        return r_drop, np.full(k, np.nan)
    traces = np.trace(cov) - diag
    return r_drop, (k - 1) / (k - 2) * (1.0 - traces / var_rest)


def _opt(value: float) -> float | None:
    return None if not np.isfinite(value) else float(value)


def construct_reliability(
    data: pd.DataFrame,
    items: Sequence[str],
    *,
    construct: str = "",
    omega: float | None = None,
    cr: float | None = None,
    ave: float | None = None,
) -> ConstructReliability:
    """Alpha and item statistics of one construct on the complete cases of its items.

    Parameters
    ----------
    data : DataFrame, shape (n_rows, >= k)
        Item scores as float columns; NaN is missing.
    items : sequence of str, length k
        The construct's item columns.
    construct : str
        Name to carry in the result.
    omega, cr, ave : float, optional
        Model-based coefficients computed elsewhere, copied into the result.

    Returns
    -------
    ConstructReliability
        ``alpha``, ``item_total_r`` and ``alpha_if_deleted`` are ``None`` where undefined
        (a single item; alpha-if-deleted with two items).
    """
    missing = [c for c in items if c not in data.columns]
    if missing:
        raise ReliabilityError(f"construct {construct!r}: unknown item(s) {', '.join(missing)}")
    x = data[list(items)].to_numpy(dtype=float)
    x = x[~np.isnan(x).any(axis=1)]
    n, k = x.shape
    if n < 2:
        raise ReliabilityError(f"construct {construct!r}: fewer than 2 complete cases ({n})")
    mean = x.mean(axis=0)
    # One centred cross-product gives every statistic psych::alpha reports: (n-1) divisor.
    xc = x - mean
    cov = (xc.T @ xc) / (n - 1)
    sd = np.sqrt(np.diag(cov))
    if k >= 2:
        alpha: float | None = _alpha_from_cov(cov)
        r_drop, a_drop = _drop_one_item(cov)
    else:
        alpha = None
        r_drop = a_drop = np.full(k, np.nan)
    stats = tuple(
        ItemStatistics(
            code=code,
            mean=float(mean[j]),
            sd=float(sd[j]),
            item_total_r=_opt(r_drop[j]),
            alpha_if_deleted=_opt(a_drop[j]),
        )
        for j, code in enumerate(items)
    )
    return ConstructReliability(
        construct=construct, n=int(n), alpha=alpha, omega=omega, cr=cr, ave=ave, items=stats
    )


def _factor_items(loadings: pd.DataFrame, factor: str) -> list[str]:
    col = loadings[factor]
    return list(col.index[col.to_numpy() != 0])


def _check_simple_structure(loadings: pd.DataFrame) -> pd.Series:
    # semTools skips AVE for factors whose items cross-load (rounded to 5 decimals).
    return (loadings.round(5) != 0).sum(axis=1) > 1


def composite_reliability(
    loadings: pd.DataFrame,
    factor_cov: pd.DataFrame,
    total_cov: pd.DataFrame,
) -> dict[str, float | None]:
    """Omega (composite reliability) of each factor's unit-weighted composite.

    ``omega_f = (sum_i lambda_if)^2 * phi_ff / 1' S_f 1`` where ``S_f`` is ``total_cov``
    restricted to the factor's indicators. With ``total_cov`` the observed (or, under
    FIML, the EM saturated) covariance this is semTools::compRelSEM's default
    (``obs.var=TRUE``); with the model-implied covariance it is the classical
    composite reliability ``(sum lambda)^2 phi / ((sum lambda)^2 phi + sum theta)``
    (``obs.var=FALSE``) for congeneric models without residual covariances.

    Parameters
    ----------
    loadings : DataFrame, shape (p, m)
        Lambda: indicators as rows, factors as columns, 0 where an item does not load.
    factor_cov : DataFrame, shape (m, m)
        Covariance matrix of the factors (lavaan's ``cov.lv``).
    total_cov : DataFrame, shape (>= p, >= p)
        Covariance matrix of the indicators, labelled by item.

    Returns
    -------
    dict
        Factor -> omega; ``None`` for single-indicator factors (semTools' ``dropSingle``).
    """
    out: dict[str, float | None] = {}
    for factor in loadings.columns:
        idx = _factor_items(loadings, factor)
        if len(idx) < 2:
            out[factor] = None
            continue
        lam = loadings.loc[idx, factor].to_numpy()
        common = lam.sum() ** 2 * float(factor_cov.loc[factor, factor])
        total = float(total_cov.loc[idx, idx].to_numpy().sum())
        out[factor] = common / total
    return out


def average_variance_extracted(
    loadings: pd.DataFrame,
    factor_cov: pd.DataFrame,
    total_cov: pd.DataFrame,
) -> dict[str, float | None]:
    """Average variance extracted of each factor (semTools::AVE, ``obs.var=TRUE``).

    ``AVE_f = sum_i lambda_if^2 * phi_ff / sum_i s_ii`` over the factor's indicators.

    Parameters
    ----------
    loadings : DataFrame, shape (p, m)
    factor_cov : DataFrame, shape (m, m)
    total_cov : DataFrame, shape (>= p, >= p)
        Observed (EM under missing data) covariance of the indicators.

    Returns
    -------
    dict
        Factor -> AVE; ``None`` for single-indicator factors and for factors with a
        cross-loading indicator (AVE is undefined for them, as in semTools).
    """
    cross = _check_simple_structure(loadings)
    out: dict[str, float | None] = {}
    for factor in loadings.columns:
        idx = _factor_items(loadings, factor)
        if len(idx) < 2 or bool(cross.loc[idx].any()):
            out[factor] = None
            continue
        lam = loadings.loc[idx, factor].to_numpy()
        common = float((lam**2).sum()) * float(factor_cov.loc[factor, factor])
        out[factor] = common / float(np.diag(total_cov.loc[idx, idx].to_numpy()).sum())
    return out


def check_constructs(data: pd.DataFrame, constructs: Mapping[str, Sequence[str]]) -> None:
    """Raise :class:`ReliabilityError` when the construct map does not fit ``data``."""
    if not constructs:
        raise ReliabilityError("no constructs given")
    seen: dict[str, str] = {}
    for name, items in constructs.items():
        if not items:
            raise ReliabilityError(f"construct {name!r} has no items")
        for item in items:
            if item not in data.columns:
                raise ReliabilityError(f"construct {name!r}: unknown item {item!r}")
            if item in seen:
                raise ReliabilityError(f"item {item!r} belongs to both {seen[item]!r} and {name!r}")
            seen[item] = name
