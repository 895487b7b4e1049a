"""Discriminant validity: HTMT / HTMT2 (semTools::htmt) and the Fornell-Larcker table.

HTMT compares the average correlation between items of two constructs with the geometric
mean of the average correlations within each construct (Henseler, Ringle & Sarstedt 2015).
HTMT2 (Roemer, Schuberth & Henseler 2021, semTools' default) uses geometric means
throughout. Like semTools, both use absolute correlations.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

__all__ = [
    "em_covariance",
    "FornellLarcker",
    "ValidityError",
    "fornell_larcker",
    "htmt",
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
        cov = em_covariance(x)
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


def _pattern_moments(x: np.ndarray) -> list[tuple[np.ndarray, int, np.ndarray, np.ndarray]]:
    """Per missingness pattern: observed indices, row count, mean (p_o,), cov (p_o, p_o).

    Rows are grouped by an integer code of their observed-variable mask (one sort), so
    the data are touched once; covariances use divisor n (ML).
    """
    observed = ~np.isnan(x)
    p = x.shape[1]
    if p <= 62:
        codes = observed.astype(np.int64) @ (np.int64(1) << np.arange(p, dtype=np.int64))
    else:
        codes = np.unique(observed, axis=0, return_inverse=True)[1].reshape(-1)
    order = np.argsort(codes, kind="stable")
    xs = x[order]  # one gather; each pattern is then a contiguous block of rows
    starts = np.concatenate([[0], np.flatnonzero(np.diff(codes[order])) + 1, [x.shape[0]]])
    out = []
    for a, b in zip(starts[:-1], starts[1:], strict=True):
        idx = np.flatnonzero(observed[order[a]])
        if idx.size == 0:
            continue  # lavaan ignores rows with every value missing
        y = xs[a:b] if idx.size == p else xs[a:b][:, idx]
        mean = y.mean(axis=0)
        yc = y - mean
        out.append((idx, int(b - a), mean, (yc.T @ yc) / (b - a)))
    return out


def em_covariance(x: np.ndarray, *, tol: float = 1e-10, max_iter: int = 10_000) -> np.ndarray:
    """EM estimate (divisor n) of the saturated normal covariance of data with NaN.

    This is lavaan's H1 estimate under ``missing="ml"`` (what ``lavCor(missing="ml")``
    correlates). The E-step works on each pattern's mean and covariance instead of its
    rows, so an iteration costs O(patterns * p^3) whatever n is.

    Parameters
    ----------
    x : ndarray, shape (n, p)
        NaN = missing.
    tol : float
        Stop when no mean or covariance element moves more than ``tol``.
    max_iter : int

    Returns
    -------
    ndarray, shape (p, p)
    """
    x = np.asarray(x, dtype=float)
    pats = _pattern_moments(x)
    p = x.shape[1]
    n = sum(k for _, k, _, _ in pats)
    if n == 0:
        raise ValidityError("no observed values")
    # The observed blocks' sums do not change between iterations: accumulate them once.
    t1_obs = np.zeros(p)
    t2_obs = np.zeros((p, p))
    counts = np.zeros(p)
    partial = []
    for o, k, ybar, s in pats:
        t1_obs[o] += k * ybar
        t2_obs[np.ix_(o, o)] += k * (s + np.outer(ybar, ybar))
        counts[o] += k
        m = np.setdiff1d(np.arange(p), o, assume_unique=True)
        if m.size:
            idx = (np.ix_(o, o), np.ix_(o, m), np.ix_(m, o), np.ix_(m, m))
            partial.append((o, m, *idx, k, ybar, s))
    # Start from available-case moments.
    mu = t1_obs / counts
    sigma = np.diag(np.diag(t2_obs) / counts - mu**2)
    with _one_blas_thread():
        return _em_iterate(partial, t1_obs, t2_obs, n, mu, sigma, tol=tol, max_iter=max_iter)


@contextlib.contextmanager
def _one_blas_thread() -> Iterator[None]:
    # The E-step solves many tiny systems; threaded BLAS only adds contention there.
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - comes with scikit-learn
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _em_iterate(
    partial: list[Any],
    t1_obs: np.ndarray,
    t2_obs: np.ndarray,
    n: int,
    mu: np.ndarray,
    sigma: np.ndarray,
    *,
    tol: float,
    max_iter: int,
) -> np.ndarray:
    """EM iterations from (mu (p,), sigma (p, p)); returns the covariance (p, p)."""
    for _ in range(max_iter):
        t1 = t1_obs.copy()
        t2 = t2_obs.copy()
        for o, m, oo, om, mo, mm, k, ybar, s in partial:
            b = np.linalg.solve(sigma[oo], sigma[om])  # (p_o, p_m): regression of m on o
            mbar = mu[m] + (ybar - mu[o]) @ b  # mean of the conditional expectations
            cond = sigma[mm] - sigma[om].T @ b
            t1[m] += k * mbar
            cross = k * (s @ b + np.outer(ybar, mbar))  # sum of y_o * E[y_m]'
            t2[om] += cross
            t2[mo] += cross.T
            t2[mm] += k * (cond + b.T @ s @ b + np.outer(mbar, mbar))
        new_mu = t1 / n
        new_sigma = t2 / n - np.outer(new_mu, new_mu)
        delta = max(np.abs(new_mu - mu).max(), np.abs(new_sigma - sigma).max())
        mu, sigma = new_mu, (new_sigma + new_sigma.T) / 2
        if delta < tol:
            return sigma
    log.warning("EM for the saturated covariance did not converge in %d iterations", max_iter)
    return sigma


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
