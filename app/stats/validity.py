"""Discriminant validity: HTMT / HTMT2 (semTools::htmt) and the Fornell-Larcker table.

HTMT compares the average correlation between items of two constructs with the geometric
mean of the average correlations within each construct (Henseler, Ringle & Sarstedt 2015).
HTMT2 (Roemer, Schuberth & Henseler 2021, semTools' default) uses geometric means
throughout. Like semTools, both use absolute correlations. :func:`htmt_bootstrap` gives both
percentile intervals from resampled rows (lavaan's percentile rule, ``norm.inter``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from app.stats.sem import percentile_interval, saturated_em

log = logging.getLogger(__name__)

__all__ = [
    "HTMT_MAX_DRAWS",
    "FornellLarcker",
    "HTMTBootstrap",
    "ValidityError",
    "fornell_larcker",
    "htmt",
    "htmt_bootstrap",
    "bootstrap_rows",
    "cov_to_corr",
    "item_correlations",
]


class ValidityError(ValueError):
    """Raised when a validity statistic cannot be computed from the given input."""


def matrix_to_dict(frame: pd.DataFrame) -> dict[str, dict[str, float | None]]:
    """A labelled square matrix as ``{row: {column: value}}`` (NaN -> None)."""
    return {
        str(r): {
            str(c): (None if not np.isfinite(v) else float(v))
            for c, v in zip(frame.columns, frame.loc[r].to_numpy(), strict=True)
        }
        for r in frame.index
    }


def item_correlations(
    data: pd.DataFrame,
    items: Sequence[str],
    *,
    missing: Literal["ml", "listwise"] = "ml",
) -> tuple[pd.DataFrame, str]:
    """Correlation matrix of ``items``, as semTools' htmt obtains it from lavCor.

    Complete data give the sample correlations. With missing values the correlations come
    from the EM estimate of the saturated covariance matrix (``lavCor(missing="ml")``)
    or from the complete cases (``missing="listwise"``).

    Parameters
    ----------
    data : DataFrame, shape (n, >= p)
    items : sequence of str, length p
    missing : {"ml", "listwise"}

    Returns
    -------
    (DataFrame, shape (p, p), str)
        The correlations and how missing data were handled: ``"none"``, ``"ml"`` or
        ``"listwise"``.
    """
    x = data[list(items)].to_numpy(dtype=float)
    incomplete = np.isnan(x).any(axis=1)
    if not incomplete.any():
        how = "none"
        cov = _cov(x)
    elif missing == "ml":
        how = "ml"
        if np.isnan(x).all():
            raise ValidityError("no observed values")
        cov = saturated_em(x).cov  # lavaan's H1 (EM) estimate, as lavCor(missing="ml")
    else:
        how = "listwise"
        x = x[~incomplete]
        if x.shape[0] < 3:
            raise ValidityError(f"only {x.shape[0]} complete cases for the correlation matrix")
        cov = _cov(x)
    return cov_to_corr(cov, list(items)), how


def cov_to_corr(cov: np.ndarray, items: list[str]) -> pd.DataFrame:
    """Correlation matrix (p, p) labelled by ``items`` from a covariance matrix (p, p)."""
    sd = np.sqrt(np.diag(cov))
    if np.any(sd <= 0):
        const = [items[int(j)] for j in np.flatnonzero(sd <= 0)]
        raise ValidityError(f"item(s) without variance: {', '.join(const)}")
    return pd.DataFrame(cov / np.outer(sd, sd), index=items, columns=items)


def _cov(x: np.ndarray) -> np.ndarray:
    # Correlations do not depend on the divisor; a single centred product is fastest.
    xc = x - x.mean(axis=0)
    return (xc.T @ xc) / (x.shape[0] - 1)


def htmt(
    corr: pd.DataFrame,
    constructs: Mapping[str, Sequence[str]],
    *,
    htmt2: bool = False,
) -> pd.DataFrame:
    """Heterotrait-monotrait ratio of correlations between constructs.

    Parameters
    ----------
    corr : DataFrame, shape (p, p)
        Item correlation matrix labelled by item (see :func:`item_correlations`).
    constructs : mapping of str to sequence of str
        Construct -> its items (m constructs).
    htmt2 : bool
        False: arithmetic means (Henseler et al. 2015, semTools ``htmt2=FALSE``);
        True: geometric means (HTMT2, semTools' default).

    Returns
    -------
    DataFrame, shape (m, m)
        Symmetric, 1 on the diagonal; NaN where a construct has a single item (its
        monotrait mean is undefined).
    """
    names = list(constructs)
    r = np.abs(corr.to_numpy(dtype=float))
    pos = {code: j for j, code in enumerate(corr.index)}
    idx = []
    for name in names:
        try:
            idx.append(np.array([pos[c] for c in constructs[name]], dtype=int))
        except KeyError as exc:
            raise ValidityError(f"construct {name!r}: item {exc.args[0]!r} not in corr") from None
    if htmt2 and np.any(r[np.triu_indices_from(r, 1)] == 0):
        raise ValidityError("HTMT2 needs non-zero correlations (it takes logarithms)")

    def mean(block: np.ndarray) -> float:
        if block.size == 0:
            return float("nan")
        return float(np.exp(np.log(block).mean())) if htmt2 else float(block.mean())

    within = np.empty(len(names))
    for a, ia in enumerate(idx):
        block = r[np.ix_(ia, ia)]
        within[a] = mean(block[np.triu_indices(len(ia), 1)])
    out = np.eye(len(names))
    for a in range(len(names)):
        for b in range(a + 1, len(names)):
            between = mean(r[np.ix_(idx[a], idx[b])])
            out[a, b] = out[b, a] = between / np.sqrt(within[a] * within[b])
    return pd.DataFrame(out, index=names, columns=names)


@dataclass(frozen=True)
class FornellLarcker:
    """Fornell-Larcker criterion: sqrt(AVE) on the diagonal, latent correlations off it.

    A construct passes when its sqrt(AVE) exceeds the absolute value of each of its
    correlations with other constructs.
    """

    matrix: pd.DataFrame
    passed: dict[str, bool | None]

    def to_dict(self) -> dict[str, object]:
        return {"matrix": matrix_to_dict(self.matrix), "passed": dict(self.passed)}


def fornell_larcker(ave: Mapping[str, float | None], latent_cor: pd.DataFrame) -> FornellLarcker:
    """Build the Fornell-Larcker table.

    Parameters
    ----------
    ave : mapping of str to float or None
        AVE per construct (m constructs).
    latent_cor : DataFrame, shape (>= m, >= m)
        Correlations between the latent variables, labelled by construct.

    Returns
    -------
    FornellLarcker
        ``passed`` is ``None`` for a construct without AVE.
    """
    names = list(ave)
    mat = latent_cor.loc[names, names].to_numpy(dtype=float).copy()
    root = np.array([np.sqrt(v) if v is not None and v >= 0 else np.nan for v in ave.values()])
    np.fill_diagonal(mat, root)
    passed: dict[str, bool | None] = {}
    for a, name in enumerate(names):
        if not np.isfinite(root[a]):
            passed[name] = None
            continue
        others = np.abs(np.delete(mat[a], a))
        passed[name] = bool(np.all(root[a] > others))
    return FornellLarcker(matrix=pd.DataFrame(mat, index=names, columns=names), passed=passed)


HTMT_MAX_DRAWS = 5000


@dataclass(frozen=True)
class HTMTBootstrap:
    """Bootstrap of HTMT and HTMT2: draws requested, succeeded and dropped (by reason), and per
    pair of constructs the estimate, the bootstrap se (sd of the draws, divisor R - 1) and the
    percentile interval."""

    draws: int
    succeeded: int
    dropped: dict[str, int]
    seed: int
    level: float
    missing: str
    pairs: list[dict[str, object]]

    def to_dict(self) -> dict[str, object]:
        return {
            "draws": self.draws,
            "succeeded": self.succeeded,
            "dropped": dict(self.dropped),
            "seed": self.seed,
            "interval": "perc",
            "level": self.level,
            "missing": self.missing,
            "pairs": [dict(p) for p in self.pairs],
        }


def bootstrap_rows(x: np.ndarray, draws: int, seed: int) -> np.ndarray:
    """Row numbers of ``x`` (n, p) drawn for each bootstrap replicate, shape (draws, n).

    The rows are first put in a canonical order (sorted by their values, missing last), so
    the same seed on the same rows gives the same draws whatever their storage order; then
    ``numpy.random.default_rng(seed).integers(0, n, (draws, n))`` picks from that order.
    """
    n = x.shape[0]
    idx = np.random.default_rng(seed).integers(0, n, size=(draws, n))
    return canonical_order(x)[idx]


def canonical_order(x: np.ndarray) -> np.ndarray:
    """Row order of ``x`` (n, p) sorted by the values, first column first, missing last."""
    keyed = np.where(np.isnan(x), np.inf, x)
    return np.lexsort(keyed.T[::-1]) if x.shape[1] else np.arange(x.shape[0])


def _num(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


def htmt_bootstrap(
    data: pd.DataFrame,
    constructs: Mapping[str, Sequence[str]],
    *,
    draws: int,
    seed: int = 1,
    missing: Literal["ml", "listwise"] = "ml",
    level: float = 0.95,
) -> HTMTBootstrap:
    """Percentile bootstrap intervals of HTMT and HTMT2 between every pair of constructs.

    Each replicate resamples the rows used (``"ml"``: every row with an item; ``"listwise"``:
    the complete rows) with :func:`bootstrap_rows`, recomputes the item correlations as
    :func:`item_correlations` does (EM under missing data, as semTools' ``htmt(missing =
    "ml")``) and both ratios. A replicate where an item has no variance or the correlations
    cannot be estimated is dropped and counted by reason; an HTMT2 that needs the log of a
    zero correlation is left out of that ratio's draws only.

    Parameters
    ----------
    data : DataFrame
    constructs : mapping of str to sequence of str
        Construct -> items (at least two constructs).
    draws : int
        Replicates, 1..``HTMT_MAX_DRAWS``.
    seed : int
    missing : {"ml", "listwise"}
    level : float
        Interval coverage.

    Returns
    -------
    HTMTBootstrap
    """
    if not 1 <= draws <= HTMT_MAX_DRAWS:
        raise ValidityError(f"draws must be between 1 and {HTMT_MAX_DRAWS}")
    names = list(constructs)
    items = [i for its in constructs.values() for i in its]
    x = data[items].to_numpy(dtype=float)
    x = x[~np.isnan(x).any(axis=1)] if missing == "listwise" else x[~np.isnan(x).all(axis=1)]
    if x.shape[0] < 3:
        raise ValidityError(f"only {x.shape[0]} rows for the bootstrap")
    x = x[canonical_order(x)]  # every sum in the same order whatever the storage order
    frame = pd.DataFrame(x, columns=items)
    corr, _ = item_correlations(frame, items, missing=missing)
    est = htmt(corr, constructs)
    try:
        est2 = htmt(corr, constructs, htmt2=True)
    except ValidityError:  # a zero correlation: no HTMT2
        est2 = est * np.nan
    pairs = [(a, b) for k, a in enumerate(names) for b in names[k + 1 :]]
    t = np.full((draws, len(pairs)), np.nan)
    t2 = np.full((draws, len(pairs)), np.nan)
    dropped: dict[str, int] = {}
    ok = np.zeros(draws, dtype=bool)
    for r, rows in enumerate(bootstrap_rows(x, draws, seed)):
        try:
            c, _ = item_correlations(frame.iloc[rows], items, missing=missing)
        except ValidityError:
            dropped["item without variance"] = dropped.get("item without variance", 0) + 1
            continue
        except (ValueError, np.linalg.LinAlgError):
            dropped["correlations not estimable"] = dropped.get("correlations not estimable", 0) + 1
            continue
        ok[r] = True
        h = htmt(c, constructs)
        t[r] = [h.loc[a, b] for a, b in pairs]
        try:
            h2 = htmt(c, constructs, htmt2=True)
        except ValidityError:
            continue
        t2[r] = [h2.loc[a, b] for a, b in pairs]
    out: list[dict[str, object]] = []
    for k, (a, b) in enumerate(pairs):
        row: dict[str, object] = {"construct1": a, "construct2": b}
        for name, point, draws_k in (("htmt", est, t[:, k]), ("htmt2", est2, t2[:, k])):
            good = draws_k[np.isfinite(draws_k)]
            lo, hi = percentile_interval(good, level) if good.size else (np.nan, np.nan)
            se = float(np.std(good, ddof=1)) if good.size > 1 else np.nan
            prefix = "" if name == "htmt" else "htmt2."
            row[name] = _num(float(point.loc[a, b]))
            row[f"{prefix}se"] = _num(se)
            row[f"{prefix}ci.lower"] = _num(lo)
            row[f"{prefix}ci.upper"] = _num(hi)
        out.append(row)
    return HTMTBootstrap(
        draws=draws,
        succeeded=int(ok.sum()),
        dropped=dropped,
        seed=seed,
        level=level,
        missing=missing,
        pairs=out,
    )
