"""Exploratory factor analysis: KMO, Bartlett, eigenvalues, parallel analysis, loadings.

Extraction and rotation are factor_analyzer's (minres agrees with psych::fa to ~1e-5).
KMO and Bartlett follow psych::KMO and psych::cortest.bartlett. The statistics use the
complete cases of the items involved (``use="complete"``, psych's default) or, as
``psych::fa(use="pairwise")``, the correlation of each pair of items over the rows that have
both, or (``use="fiml"``) the correlations of the EM (full-information ML) estimate of the
saturated normal model over every row with an item, as lavaan's ``lavCor(missing="ml")``
(``app.stats.sem.saturated_em``); the result says how many rows listwise deletion keeps and
which items lose most, and warns when it keeps fewer than half.
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

from app.stats.sem import saturated_em
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
Use = Literal["complete", "pairwise", "fiml"]
USES: tuple[str, ...] = ("complete", "pairwise", "fiml")
MISSING_TEXT = {
    "complete": "complete cases of the selected items",
    "pairwise": "pairwise: each correlation over the rows with both items",
    "fiml": "fiml: correlations of the EM (full-information ML) estimate over every row with "
    "an item",
}
LOADING_CUT = 0.3
# listwise deletion keeping less than this share of the rows is worth a warning
KEEP_WARNING = 0.5
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
    use: str = "complete"
    n_rows: int = 0
    n_complete: int = 0
    missing_by_item: dict[str, int] = field(default_factory=dict)
    n_pairwise_min: int = 0
    warnings: tuple[str, ...] = ()

    def sorted_loadings(self, cut: float = LOADING_CUT) -> list[dict[str, object]]:
        """Loadings as psych's ``fa.sort`` and ``print(cut=)`` show them: items grouped by the
        factor of their largest absolute loading (factor order), within a group by that
        loading's size (largest first); loadings below ``cut`` in absolute value are None."""
        table = self.loadings
        peak = table.abs().to_numpy().argmax(axis=1)
        size = table.abs().to_numpy().max(axis=1)
        order = sorted(range(len(table)), key=lambda i: (peak[i], -size[i]))
        rows: list[dict[str, object]] = []
        for i in order:
            row: dict[str, object] = {"item": table.index[i]}
            for f, v in table.iloc[i].items():
                row[str(f)] = float(v) if abs(v) >= cut else None
            rows.append(row)
        return rows

    def to_dict(self) -> dict[str, object]:
        return {
            "items": list(self.items),
            "n": self.n,
            "use": self.use,
            "n_rows": self.n_rows,
            "n_complete": self.n_complete,
            "n_dropped": self.n_rows - self.n_complete if self.use == "complete" else 0,
            "missing_by_item": dict(self.missing_by_item),
            "n_pairwise_min": self.n_pairwise_min,
            "warnings": list(self.warnings),
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
            "loadings_sorted": {"cut": LOADING_CUT, "rows": self.sorted_loadings()},
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


def _check_items(data: pd.DataFrame, items: Sequence[str]) -> None:
    unknown = [c for c in items if c not in data.columns]
    if unknown:
        raise EFAError(f"unknown item(s): {', '.join(unknown)}", param="items")
    if len(set(items)) != len(items):
        raise EFAError("items are listed more than once", param="items")
    if len(items) < 3:
        raise EFAError(f"EFA needs at least 3 items, got {len(items)}", param="items")


@dataclass(frozen=True)
class _Input:
    """What the statistics start from: the correlation matrix, the n behind it, the complete
    rows (for ``use="complete"``) and what missing data did."""

    corr: np.ndarray
    n: int
    x: np.ndarray | None
    n_rows: int
    n_complete: int
    missing_by_item: dict[str, int]
    n_pairwise_min: int


def _input(data: pd.DataFrame, items: Sequence[str], use: str) -> _Input:
    _check_items(data, items)
    raw = data[list(items)].to_numpy(dtype=float)
    observed = ~np.isnan(raw)
    raw = raw[observed.any(axis=1)]  # rows without any of the items say nothing
    observed = observed[observed.any(axis=1)]
    complete = observed.all(axis=1)
    missing = {c: int((~observed[:, j]).sum()) for j, c in enumerate(items)}
    pairs = observed.T.astype(float) @ observed.astype(float)
    need = max(10, len(items) + 2)
    sd_check = raw
    if use == "complete":
        x = raw[complete]
        if x.shape[0] < need:
            raise EFAError(
                f"too few complete rows: {x.shape[0]} of {raw.shape[0]} (need at least {need} "
                f"for {len(items)} items); fewer items or use=pairwise may help"
            )
        sd_check = x
        corr, n = np.corrcoef(x, rowvar=False), int(x.shape[0])
    elif use == "fiml":
        x = None
        if raw.shape[0] < need or pairs.min() < 2:
            raise EFAError(
                f"too few rows for FIML correlations: {raw.shape[0]} rows with an item (need "
                f"at least {need}), and every pair of items observed together at least twice"
            )
        with np.errstate(invalid="ignore"):
            sd = np.nanstd(raw, axis=0)
        if np.any(~(sd > 0)):
            flat = [items[int(j)] for j in np.flatnonzero(~(sd > 0))]
            raise EFAError(f"item(s) without variance: {', '.join(flat)}")
        cov = saturated_em(raw).cov
        d = np.sqrt(np.diag(cov))
        corr, n = cov / np.outer(d, d), int(raw.shape[0])
    else:
        x = None
        if pairs.min() < need:
            i, j = (int(k) for k in np.unravel_index(int(np.argmin(pairs)), pairs.shape))
            raise EFAError(
                f"too few rows with both {items[i]} and {items[j]}: {int(pairs[i, j])} "
                f"(need at least {need})"
            )
        corr = pd.DataFrame(raw).corr(method="pearson").to_numpy()
        n = int(pairs.min())
    with np.errstate(invalid="ignore"):
        sd = np.nanstd(sd_check, axis=0)
    if np.any(~(sd > 0)):
        flat = [items[int(j)] for j in np.flatnonzero(~(sd > 0))]
        raise EFAError(f"item(s) without variance: {', '.join(flat)}")
    if use != "complete" and np.linalg.eigvalsh(corr).min() <= 0:
        raise EFAError(
            f"the {use} correlation matrix is not positive definite (pairs observed on "
            "different rows disagree): use=complete or fewer items"
        )
    return _Input(corr, n, x, int(raw.shape[0]), int(complete.sum()), missing, int(pairs.min()))


def _warnings(inp: _Input, use: str, items: Sequence[str]) -> tuple[str, ...]:
    if use != "complete" or inp.n_complete >= KEEP_WARNING * inp.n_rows:
        return ()
    worst = sorted(inp.missing_by_item.items(), key=lambda kv: -kv[1])[:3]
    named = ", ".join(f"{c} ({k} missing)" for c, k in worst if k)
    share = inp.n_complete / inp.n_rows if inp.n_rows else 0.0
    return (
        f"listwise deletion kept {inp.n_complete} of {inp.n_rows} rows ({share:.0%}); most "
        f"missing: {named}. Choose fewer items (items= or constructs=), use=pairwise or "
        "use=fiml.",
    )


def _extract(
    corr: np.ndarray, k: int, method: str, rotation: str
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
        val, vec = np.linalg.eigh(corr)
        top = np.argsort(val)[::-1][:k]
        loadings = vec[:, top] * np.sqrt(val[top])
    else:
        fa = FactorAnalyzer(
            n_factors=k, rotation=None, method=method, svd_method="lapack", is_corr_matrix=True
        )
        with warnings.catch_warnings():
            # factor_analyzer calls a renamed scikit-learn argument; nothing to act on.
            warnings.simplefilter("ignore", FutureWarning)
            fa.fit(corr)
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
    use: str = "complete",
) -> EFAResult:
    """Exploratory factor analysis of ``items`` on the complete cases (or pairwise).

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
    use : {"complete", "pairwise", "fiml"}
        psych's ``use``: the complete cases of the items, or each correlation over the rows
        that have both items (Bartlett's test and the parallel analysis then take the smallest
        pairwise count as n); "fiml": the correlations of the EM estimate of the saturated
        normal model (lavaan's ``lavCor(missing="ml")``) over every row with an item (n = those
        rows).

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
    _check_options(method, rotation, use)
    items = list(items)
    inp = _input(data, items, use)
    n, p, corr = inp.n, len(items), inp.corr
    chisq, df, pval = bartlett_sphericity(corr, n)
    msa, msa_items = kmo(corr)
    eig = np.linalg.eigvalsh(corr)[::-1]
    pa_k, threshold = parallel_analysis(eig, n, n_iter=n_iter, seed=seed)
    n_factors, source = _number_of_factors(n_factors, pa_k, p)
    loadings, phi, h2 = _extract(corr, n_factors, method, rotation)
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
        missing=MISSING_TEXT[use],
        use=use,
        n_rows=inp.n_rows,
        n_complete=inp.n_complete,
        missing_by_item=inp.missing_by_item,
        n_pairwise_min=inp.n_pairwise_min,
        warnings=_warnings(inp, use, items),
    )


def _check_options(method: str, rotation: str, use: str) -> None:
    """EFAError naming the option when the method, rotation or missing-data rule is unknown."""
    if method not in METHODS:
        raise EFAError(
            f"unknown method {method!r}; choose one of {', '.join(METHODS)}", param="method"
        )
    if rotation not in ROTATIONS:
        raise EFAError(
            f"unknown rotation {rotation!r}; choose one of {', '.join(ROTATIONS)}",
            param="rotation",
        )
    if use not in USES:
        raise EFAError(f"unknown use {use!r}; choose one of {', '.join(USES)}", param="use")


def _number_of_factors(n_factors: int | None, pa_k: int, p: int) -> tuple[int, str]:
    """``(factors, source)``: the number asked for (``"user"``), else parallel analysis'
    suggestion capped at what ``p`` items can identify (``"parallel_analysis"``).

    Raises
    ------
    EFAError
        Fewer than 1 factor, or more than ``p`` items can identify.
    """
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
    return n_factors, source
