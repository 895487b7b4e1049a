"""Exploratory factor analysis: KMO, Bartlett, eigenvalues, parallel analysis, loadings.

Extraction and rotation are factor_analyzer's (minres agrees with psych::fa to ~1e-5).
KMO and Bartlett follow psych::KMO and psych::cortest.bartlett. All statistics use the
complete cases of the items involved.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from factor_analyzer import FactorAnalyzer
from factor_analyzer.rotator import Rotator
from scipy import stats

from app.stats.validity import matrix_to_dict

log = logging.getLogger(__name__)

__all__ = [
    "EFAError",
    "EFAResult",
    "bartlett_sphericity",
    "kmo",
    "max_factors",
    "parallel_analysis",
    "run_efa",
]

Method = Literal["minres", "ml", "principal"]
Rotation = Literal["oblimin", "varimax", "promax", "none"]
METHODS: tuple[str, ...] = ("minres", "ml", "principal")
ROTATIONS: tuple[str, ...] = ("oblimin", "varimax", "promax", "none")
OBLIQUE = {"oblimin", "promax"}


class EFAError(ValueError):
    """An EFA request that cannot be computed; the message names the problem.

    ``param`` names the argument at fault (``"items"``, ``"factors"``, ``"method"``,
    ``"rotation"``) or is ``None`` when the data are (too few rows, singular matrix).
    """

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class EFAResult:
    """Result of :func:`run_efa`.

    ``loadings`` is the (p, k) pattern matrix, factors named ``F1..Fk`` in decreasing order
    of their sum of squared loadings, each signed so its largest-magnitude loading is
    positive. ``factor_correlations`` is (k, k), the identity for orthogonal rotations.
    """

    items: tuple[str, ...]
    n: int
    method: str
    rotation: str
    n_factors: int
    n_factors_source: str
    kmo: float
    kmo_items: dict[str, float]
    bartlett_chisq: float
    bartlett_df: int
    bartlett_p: float
    eigenvalues: tuple[float, ...]
    parallel_analysis_factors: int
    parallel_threshold: tuple[float, ...]
    loadings: pd.DataFrame
    communalities: dict[str, float]
    factor_correlations: pd.DataFrame
    missing: str = field(default="complete cases of the selected items")

    def to_dict(self) -> dict[str, object]:
        return {
            "items": list(self.items),
            "n": self.n,
            "method": self.method,
            "rotation": self.rotation,
            "factors": self.n_factors,
            "factors_source": self.n_factors_source,
            "missing": self.missing,
            "kmo": self.kmo,
            "kmo_items": dict(self.kmo_items),
            "bartlett": {
                "chisq": self.bartlett_chisq,
                "df": self.bartlett_df,
                "p": self.bartlett_p,
            },
            "eigenvalues": list(self.eigenvalues),
            "parallel_analysis_factors": self.parallel_analysis_factors,
            "parallel_analysis_threshold": list(self.parallel_threshold),
            "loadings": {
                item: {f: float(v) for f, v in row.items()}
                for item, row in self.loadings.iterrows()
            },
            "communalities": dict(self.communalities),
            "factor_correlations": matrix_to_dict(self.factor_correlations),
            "ss_loadings": {f: float(v) for f, v in (self.loadings**2).sum().items()},
        }


def kmo(corr: np.ndarray) -> tuple[float, np.ndarray]:
    """Kaiser-Meyer-Olkin measure of sampling adequacy (psych::KMO).

    Parameters
    ----------
    corr : ndarray, shape (p, p)
        Correlation matrix (non-singular).

    Returns
    -------
    (float, ndarray of shape (p,))
        Overall MSA and per-item MSA.
    """
    inv = np.linalg.inv(corr)
    d = np.sqrt(np.diag(inv))
    partial = -inv / np.outer(d, d)
    r2 = corr**2
    q2 = partial**2
    np.fill_diagonal(r2, 0.0)
    np.fill_diagonal(q2, 0.0)
    per_item = r2.sum(axis=0) / (r2.sum(axis=0) + q2.sum(axis=0))
    overall = r2.sum() / (r2.sum() + q2.sum())
    return float(overall), per_item


def bartlett_sphericity(corr: np.ndarray, n: int) -> tuple[float, int, float]:
    """Bartlett's test that ``corr`` (p, p) is an identity (psych::cortest.bartlett).

    Returns
    -------
    (chisq, df, p)
    """
    p = corr.shape[0]
    sign, logdet = np.linalg.slogdet(corr)
    if sign <= 0:
        raise EFAError("the item correlation matrix is singular")
    chisq = -logdet * (n - 1 - (2 * p + 5) / 6)
    df = p * (p - 1) // 2
    return float(chisq), int(df), float(stats.chi2.sf(chisq, df))


def parallel_analysis(
    eigenvalues: np.ndarray,
    n: int,
    *,
    n_iter: int = 100,
    quantile: float = 0.95,
    seed: int = 1,
) -> tuple[int, np.ndarray]:
    """Horn's parallel analysis on the eigenvalues of a correlation matrix.

    Random correlation matrices are those of ``n`` draws of ``p`` independent normal
    variables. Their covariance is Wishart(I, n - 1), sampled directly (Bartlett
    decomposition), so the cost is O(p^3) per replicate whatever ``n`` is.

    Parameters
    ----------
    eigenvalues : ndarray, shape (p,)
        Observed eigenvalues, decreasing.
    n : int
        Number of rows behind the observed correlations.
    n_iter : int
        Random replicates.
    quantile : float
        The observed eigenvalue must exceed this quantile of the random ones at its rank
        (Glorfeld's 95th percentile by default; 0.5 is close to Horn's mean).
    seed : int
        Seed of the random generator: the same seed gives the same answer.

    Returns
    -------
    (int, ndarray of shape (p,))
        Number of leading eigenvalues above the threshold (at least 1), and the thresholds.
    """
    p = eigenvalues.shape[0]
    rng = np.random.default_rng(seed)
    wishart = stats.wishart(df=n - 1, scale=np.eye(p))
    draws = np.atleast_3d(wishart.rvs(size=n_iter, random_state=rng))
    if draws.shape != (n_iter, p, p):
        draws = draws.reshape(n_iter, p, p)
    sd = np.sqrt(np.einsum("kii->ki", draws))
    corr = draws / (sd[:, :, None] * sd[:, None, :])
    random_ev = np.linalg.eigvalsh(corr)[:, ::-1]
    threshold = np.quantile(random_ev, quantile, axis=0)
    above = eigenvalues > threshold
    k = p if above.all() else int(np.argmin(above))
    return max(k, 1), threshold


def max_factors(p: int) -> int:
    """Largest k with non-negative degrees of freedom, ``(p - k)^2 >= p + k`` (Ledermann)."""
    k = 0
    while k + 1 < p and (p - k - 1) ** 2 >= p + k + 1:
        k += 1
    return k


def _complete(data: pd.DataFrame, items: Sequence[str]) -> np.ndarray:
    unknown = [c for c in items if c not in data.columns]
    if unknown:
        raise EFAError(f"unknown item(s): {', '.join(unknown)}", param="items")
    if len(set(items)) != len(items):
        raise EFAError("items are listed more than once", param="items")
    if len(items) < 3:
        raise EFAError(f"EFA needs at least 3 items, got {len(items)}", param="items")
    x = data[list(items)].to_numpy(dtype=float)
    x = x[~np.isnan(x).any(axis=1)]
    need = max(10, len(items) + 2)
    if x.shape[0] < need:
        raise EFAError(
            f"too few complete rows: {x.shape[0]} (need at least {need} for {len(items)} items)"
        )
    sd = x.std(axis=0)
    if np.any(sd == 0):
        flat = [items[int(j)] for j in np.flatnonzero(sd == 0)]
        raise EFAError(f"item(s) without variance: {', '.join(flat)}")
    return x


def _extract(
    x: np.ndarray, k: int, method: str, rotation: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rotated pattern (p, k), factor correlations (k, k) and communalities (p,).

    Communalities come from the unrotated loadings: they do not depend on the rotation in
    theory, and psych reports the unrotated row sums of squares.
    """
    if method == "principal":
        # Principal components, as factor_analyzer's "principal" (and psych::principal):
        # the correlation of each item with each component is v * sqrt(eigenvalue).
        # Computed from the eigen-decomposition; factor_analyzer's SVD path keeps all p
        # components and loops over rows.
        val, vec = np.linalg.eigh(np.corrcoef(x, rowvar=False))
        top = np.argsort(val)[::-1][:k]
        loadings = vec[:, top] * np.sqrt(val[top])
    else:
        fa = FactorAnalyzer(n_factors=k, rotation=None, method=method, svd_method="lapack")
        with warnings.catch_warnings():
            # factor_analyzer calls a renamed scikit-learn argument; nothing to act on.
            warnings.simplefilter("ignore", FutureWarning)
            fa.fit(x)
        loadings = np.asarray(fa.loadings_, dtype=float)
    h2 = (loadings**2).sum(axis=1)
    phi = np.eye(k)
    if rotation != "none" and k > 1:
        rot = Rotator(method=rotation)
        loadings = rot.fit_transform(loadings)
        if rotation in OBLIQUE and rot.phi_ is not None:
            phi = np.asarray(rot.phi_, dtype=float)
    return loadings, phi, h2


def _order_and_sign(loadings: np.ndarray, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(-(loadings**2).sum(axis=0), kind="stable")
    loadings = loadings[:, order]
    phi = phi[np.ix_(order, order)]
    peak = loadings[np.argmax(np.abs(loadings), axis=0), np.arange(loadings.shape[1])]
    sign = np.where(peak < 0, -1.0, 1.0)
    return loadings * sign, phi * np.outer(sign, sign)


def run_efa(
    data: pd.DataFrame,
    items: Sequence[str],
    *,
    n_factors: int | None = None,
    method: str = "minres",
    rotation: str = "oblimin",
    seed: int = 1,
    n_iter: int = 100,
) -> EFAResult:
    """Exploratory factor analysis of ``items`` on the complete cases.

    Parameters
    ----------
    data : DataFrame, shape (n, >= p)
        Item scores, NaN = missing.
    items : sequence of str, length p
    n_factors : int, optional
        Number of factors; ``None`` takes the parallel-analysis suggestion.
    method : {"minres", "ml", "principal"}
    rotation : {"oblimin", "varimax", "promax", "none"}
    seed, n_iter : int
        Parallel analysis' random seed and replicates.

    Returns
    -------
    EFAResult

    Raises
    ------
    EFAError
        Fewer than 3 items, unknown items, too few complete rows, a constant item, a
        singular correlation matrix, bad method/rotation, or more factors than the items
        can identify.
    """
    if method not in METHODS:
        raise EFAError(
            f"unknown method {method!r}; choose one of {', '.join(METHODS)}", param="method"
        )
    if rotation not in ROTATIONS:
        raise EFAError(
            f"unknown rotation {rotation!r}; choose one of {', '.join(ROTATIONS)}",
            param="rotation",
        )
    items = list(items)
    x = _complete(data, items)
    n, p = x.shape
    corr = np.corrcoef(x, rowvar=False)
    chisq, df, pval = bartlett_sphericity(corr, n)
    msa, msa_items = kmo(corr)
    eig = np.linalg.eigvalsh(corr)[::-1]
    pa_k, threshold = parallel_analysis(eig, n, n_iter=n_iter, seed=seed)
    limit = max_factors(p)
    source = "user"
    if n_factors is None:
        n_factors, source = min(pa_k, max(limit, 1)), "parallel_analysis"
    if n_factors < 1:
        raise EFAError("factors must be at least 1", param="factors")
    if n_factors > limit:
        raise EFAError(
            f"{n_factors} factors are more than {p} items can identify (at most {limit})",
            param="factors",
        )
    loadings, phi, h2 = _extract(x, n_factors, method, rotation)
    loadings, phi = _order_and_sign(loadings, phi)
    names = [f"F{j + 1}" for j in range(n_factors)]
    return EFAResult(
        items=tuple(items),
        n=int(n),
        method=method,
        rotation=rotation,
        n_factors=int(n_factors),
        n_factors_source=source,
        kmo=msa,
        kmo_items={c: float(v) for c, v in zip(items, msa_items, strict=True)},
        bartlett_chisq=chisq,
        bartlett_df=df,
        bartlett_p=pval,
        eigenvalues=tuple(float(v) for v in eig),
        parallel_analysis_factors=int(pa_k),
        parallel_threshold=tuple(float(v) for v in threshold),
        loadings=pd.DataFrame(loadings, index=items, columns=names),
        communalities={c: float(v) for c, v in zip(items, h2, strict=True)},
        factor_correlations=pd.DataFrame(phi, index=names, columns=names),
    )
