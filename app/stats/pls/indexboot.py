"""Bootstrap of ACSI-style PLS-weighted indices: seeded, stratified, percentile intervals.

Each draw resamples the respondents with replacement *within strata* (the caller's labels; the
service passes the disclosure control's finest cells, so every cell keeps its size), refits
the PLS model on the resample, recomputes the normalized index weights
(:func:`~app.stats.pls.index_weights`) and scores the resampled respondents with them
(:func:`~app.stats.pls.respondent_index`). A group's index over the draws then carries both
the sampling error of its respondents and that of the weights. The ``(draws, n)`` resample
indices come row by row from one numpy PCG64 generator seeded with ``seed`` (reproducible).
Draws whose refit fails (a constant item in the resample) are skipped and counted.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from app.stats.pls.estimate import Missing, Scheme, fit_pls
from app.stats.pls.ipma import index_weights, respondent_index
from app.stats.pls.spec import PlsSpec, parse_pls
from app.stats.sem import ModelError


@dataclass(frozen=True)
class IndexDraw:
    """One bootstrap draw: ``rows`` (n,) the resampled respondents (positions in the data),
    ``weights`` the refitted normalized index weights, ``scores`` (n, constructs) the
    resampled respondents' 0-100 scores in the order of ``rows``."""

    rows: np.ndarray
    weights: dict[str, dict[str, float]]
    scores: pd.DataFrame


def stratified_rows(strata: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Positions of a resample that draws, within each stratum, as many rows as it has, with
    replacement; the result lists the strata in the order of their first row."""
    codes, first = np.unique(strata, return_index=True)
    out = []
    for code in codes[np.argsort(first)]:
        members = np.flatnonzero(strata == code)
        out.append(members[rng.integers(0, len(members), size=len(members))])
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def index_draws(
    items: pd.DataFrame,
    model: str | PlsSpec,
    scale: Mapping[str, tuple[float, float]],
    *,
    strata: np.ndarray | None = None,
    draws: int = 1000,
    seed: int = 1,
    scheme: Scheme = "path",
    missing: Missing = "mean",
) -> Iterator[IndexDraw | None]:
    """Yield ``draws`` bootstrap draws of the index weights and respondent scores (None for a
    draw whose refit failed). ``strata`` (n,) labels the rows (None: one stratum).

    Raises
    ------
    ModelError
        Fewer than 2 draws asked for, or ``strata`` of the wrong length.
    """
    if draws < 2:
        raise ModelError("draws must be at least 2", field="bootstrap")
    n = len(items)
    labels = np.zeros(n, dtype=np.int64) if strata is None else np.asarray(strata)
    if labels.shape != (n,):
        raise ModelError("strata must label every row")
    spec = model if isinstance(model, PlsSpec) else parse_pls(model)
    rng = np.random.default_rng(seed)
    frame = items.reset_index(drop=True)
    for _ in range(draws):
        rows = stratified_rows(labels, rng)
        sample = frame.iloc[rows].reset_index(drop=True)
        try:
            # small matrices: one BLAS thread beats several fighting (2-3x faster here)
            with threadpool_limits(1), np.errstate(invalid="ignore", divide="ignore"):
                res = fit_pls(sample, spec, scheme=scheme, consistent=False, missing=missing)
                weights = index_weights(res, scale)
        except (ModelError, np.linalg.LinAlgError):
            yield None
            continue
        yield IndexDraw(rows, weights, respondent_index(sample, weights, scale))


def percentile_interval(
    samples: np.ndarray, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Percentile bounds (R's quantile type 7) of each column of ``samples`` (draws, k),
    ignoring NaN, and the number of finite draws per column; NaN bounds below 2 draws."""
    samples = np.asarray(samples, dtype=float)
    finite = np.isfinite(samples)
    counts = finite.sum(axis=0)
    alpha = (1 - level) / 2
    lower = np.full(samples.shape[1], np.nan)
    upper = np.full(samples.shape[1], np.nan)
    for j in np.flatnonzero(counts >= 2):
        col = samples[finite[:, j], j]
        lower[j], upper[j] = np.quantile(col, [alpha, 1 - alpha], method="linear")
    return lower, upper, counts
