"""Bootstrap inference for PLS path models: seeded, percentile or BCa intervals.

Draw b resamples ``n`` rows with replacement (numpy PCG64 seeded with ``seed``: the whole
``(draws, n)`` index matrix comes from one generator, so a run is reproducible and seminr can
be handed the very same resamples). Each draw re-standardises its rows and reruns the
algorithm on their correlation matrix. No sign-change correction is applied (seminr's and
SmartPLS's default "no sign changes"): a weight whose sign flips across draws widens its
interval, which is the honest report. Draws whose algorithm fails (a constant item in the
resample, a singular block) are dropped and counted. The draws run in worker processes
(``n_jobs``): this process draws each chunk's row counts from the one generator and the
workers estimate them, so the samples are the same for any number of workers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats
from threadpoolctl import threadpool_limits

from app.stats.parallel import mp_context, run_tasks, worker_count, worker_state
from app.stats.pls.estimate import PlsResult, solve_pls
from app.stats.pls.evaluate import htmt_matrix
from app.stats.sem import ModelError

Interval = Literal["perc", "bca"]
JACKKNIFE_GROUPS = 200
# Draws per task, and at most this many row counts per task (int32: 8 MB), so memory stays
# small at any n: the parent draws a task's counts just before it is sent.
CHUNK = 100
CHUNK_CELLS = 2_000_000


@dataclass(frozen=True)
class PlsBootstrap:
    """Bootstrap distribution of the model's statistics.

    ``keys`` name the statistics as ``(lhs, op, rhs)``: ``<=`` weights (construct, item), ``=~``
    loadings, ``~`` paths (target, source), ``total`` total effects (target, source) and
    ``htmt`` (construct, construct). ``samples`` is (succeeded, k).
    """

    keys: list[tuple[str, str, str]]
    estimate: np.ndarray
    samples: np.ndarray
    draws: int
    seed: int
    interval: str
    level: float
    lower: np.ndarray
    upper: np.ndarray

    @property
    def succeeded(self) -> int:
        return int(self.samples.shape[0])

    @property
    def mean(self) -> np.ndarray:
        return self.samples.mean(axis=0)

    @property
    def se(self) -> np.ndarray:
        return self.samples.std(axis=0, ddof=1)

    def index(self, lhs: str, op: str, rhs: str) -> int:
        return self.keys.index((lhs, op, rhs))


def statistic_keys(res: PlsResult) -> list[tuple[str, str, str]]:
    spec = res.spec
    keys = [(c.name, "<=", i) for c in spec.constructs for i in c.items]
    keys += [(c.name, "=~", i) for c in spec.constructs for i in c.items]
    keys += [(t, "~", s) for s, t in spec.paths]
    te = _total(res.paths)
    keys += [
        (t, "total", s)
        for i, s in enumerate(res.constructs)
        for j, t in enumerate(res.constructs)
        if te[i, j] != 0
    ]
    keys += [(a, "htmt", b) for k, a in enumerate(res.constructs) for b in res.constructs[k + 1 :]]
    return keys


def _total(paths: np.ndarray) -> np.ndarray:
    m = paths.shape[0]
    return np.linalg.inv(np.eye(m) - paths) - np.eye(m)


def _gather(res: PlsResult, keys: list[tuple[str, str, str]]) -> list[tuple[int, int, int]]:
    """For each key: (source matrix 0-4, row, column), the matrices being weights, loadings,
    paths, total effects and HTMT."""
    items, names = res.items, res.constructs
    out = []
    for lhs, op, rhs in keys:
        if op == "<=":
            out.append((0, items.index(rhs), names.index(lhs)))
        elif op == "=~":
            out.append((1, items.index(rhs), names.index(lhs)))
        elif op == "~":
            out.append((2, names.index(rhs), names.index(lhs)))
        elif op == "total":
            out.append((3, names.index(rhs), names.index(lhs)))
        else:
            out.append((4, names.index(lhs), names.index(rhs)))
    return out


def _statistics(
    res: PlsResult, R_items: np.ndarray, where: list[tuple[int, int, int]]
) -> np.ndarray:
    core = solve_pls(R_items, res.spec, scheme=res.scheme, consistent=res.consistent)
    mats = (
        core.weights,
        core.loadings,
        core.paths,
        _total(core.paths),
        htmt_matrix(R_items, res.spec),
    )
    return np.array([mats[s][i, j] for s, i, j in where])


def _resample_cor(centred: np.ndarray, full_var: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Correlation matrix of the resample that takes row i ``counts[i]`` times, from the
    column-centred data (a weighted cross-product: no copy of the resampled rows)."""
    n = counts.sum()
    mean = counts @ centred / n
    cov = (centred * counts[:, None]).T @ centred / n - np.outer(mean, mean)
    var = np.diag(cov)
    if np.any(var <= 1e-12 * full_var):
        raise ModelError("an item is constant in this resample")
    sd = np.sqrt(var)
    return cov / np.outer(sd, sd)


def _cor(x: np.ndarray) -> np.ndarray:
    if np.any(x.std(axis=0) == 0):
        raise ModelError("an item is constant in this resample")
    return np.corrcoef(x, rowvar=False)


def _draw_chunk(
    res: PlsResult,
    centred: np.ndarray,
    full_var: np.ndarray,
    where: list[tuple[int, int, int]],
    counts: np.ndarray,
) -> np.ndarray:
    """The statistics of each resample in ``counts`` (draws, n), shape (draws, k); NaN rows
    for draws whose algorithm failed."""
    out = np.full((counts.shape[0], len(where)), np.nan)
    with threadpool_limits(1):  # small matrices: one BLAS thread beats several fighting
        for k, c in enumerate(counts):
            try:
                with np.errstate(invalid="ignore", divide="ignore"):
                    out[k] = _statistics(
                        res, _resample_cor(centred, full_var, c.astype(float)), where
                    )
            except (ModelError, np.linalg.LinAlgError):
                continue
    return out


def _worker_chunk(lo: int, counts: np.ndarray) -> np.ndarray:
    w = worker_state()
    return _draw_chunk(w["res"], w["centred"], w["full_var"], w["where"], counts)


def bootstrap_pls(
    res: PlsResult,
    *,
    draws: int = 5000,
    seed: int = 1,
    interval: Interval = "perc",
    level: float = 0.95,
    progress: Callable[[float], None] | None = None,
    n_jobs: int | None = None,
) -> PlsBootstrap:
    """Bootstrap ``res`` (a :func:`fit_pls` result) with ``draws`` resamples.

    Intervals: ``perc`` (percentile, R's quantile type 7) or ``bca`` (bias-corrected and
    accelerated; the acceleration from a grouped jackknife over at most 200 groups of rows).
    ``n_jobs`` worker processes run the draws (None: every usable CPU; 1: this process); the
    result does not depend on it. ``progress`` is called with the fraction of draws done.

    Raises
    ------
    ModelError
        Fewer than two draws succeeded, or bad options.
    """
    if draws < 2:
        raise ModelError("draws must be at least 2")
    if interval not in ("perc", "bca"):
        raise ModelError("interval must be 'perc' or 'bca'")
    keys = statistic_keys(res)
    where = _gather(res, keys)
    estimate = _statistics(res, _cor(res.data), where)
    n = res.nobs
    centred = res.data - res.data.mean(axis=0)
    full_var = centred.var(axis=0)
    size = max(1, min(CHUNK, CHUNK_CELLS // n))
    bounds = [(lo, min(lo + size, draws)) for lo in range(0, draws, size)]
    chunks: dict[int, np.ndarray] = {}

    def resamples() -> Iterator[tuple[int, np.ndarray]]:
        # draw by draw from one generator: the same numbers as one (draws, n) index matrix,
        # whatever the chunks and workers; a chunk's counts are drawn here, just before it runs
        rng = np.random.default_rng(seed)
        for lo, hi in bounds:
            counts = np.empty((hi - lo, n), dtype=np.int32)
            for k in range(hi - lo):
                counts[k] = np.bincount(rng.integers(0, n, size=n), minlength=n)
            yield lo, counts

    def run_here(lo: int, counts: np.ndarray) -> np.ndarray:
        return _draw_chunk(res, centred, full_var, where, counts)

    def collect(task: tuple[int, ...], values: np.ndarray) -> None:
        chunks[task[0]] = values
        if progress is not None:
            progress(sum(len(v) for v in chunks.values()) / draws)

    workers = worker_count(n_jobs, len(bounds))
    run_tasks(
        resamples(),
        run=run_here,
        remote=_worker_chunk,
        state={"res": res, "centred": centred, "full_var": full_var, "where": where},
        collect=collect,
        workers=workers,
        context=mp_context(preload=("app.stats.pls.bootstrap",)) if workers > 1 else None,
    )
    values = np.concatenate([chunks[lo] for lo, _ in bounds])  # in draw order
    rows = values[np.all(np.isfinite(values), axis=1)]
    if len(rows) < 2:
        raise ModelError(f"only {len(rows)} of {draws} bootstrap draws could be estimated")
    samples = rows
    alpha = (1 - level) / 2
    if interval == "perc":
        lower = np.quantile(samples, alpha, axis=0, method="linear")
        upper = np.quantile(samples, 1 - alpha, axis=0, method="linear")
    else:
        accel = _acceleration(res, where)
        lower, upper = _bca(samples, estimate, accel, alpha)
    if progress is not None:
        progress(1.0)
    return PlsBootstrap(keys, estimate, samples, draws, seed, interval, level, lower, upper)


def _acceleration(res: PlsResult, where: list[tuple[int, int, int]]) -> np.ndarray:
    """Jackknife acceleration (Efron 1987): every row left out once, or, past 200 rows,
    200 contiguous groups of rows left out in turn."""
    n = res.nobs
    groups = np.array_split(np.arange(n), min(n, JACKKNIFE_GROUPS))
    jack = []
    for g in groups:
        keep = np.ones(n, dtype=bool)
        keep[g] = False
        jack.append(_statistics(res, _cor(res.data[keep]), where))
    values = np.array(jack)
    d = values.mean(axis=0) - values
    num = (d**3).sum(axis=0)
    den = 6.0 * ((d**2).sum(axis=0)) ** 1.5
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, 0.0)


def _bca(
    samples: np.ndarray, estimate: np.ndarray, accel: np.ndarray, alpha: float
) -> tuple[np.ndarray, np.ndarray]:
    below = (samples < estimate).mean(axis=0)
    z0 = stats.norm.ppf(np.clip(below, 1e-12, 1 - 1e-12))
    lower, upper = np.empty_like(estimate), np.empty_like(estimate)
    for k in range(estimate.size):
        qs = []
        for a in (alpha, 1 - alpha):
            z = stats.norm.ppf(a)
            adj = z0[k] + (z0[k] + z) / (1 - accel[k] * (z0[k] + z))
            p = float(stats.norm.cdf(adj))
            qs.append(np.quantile(samples[:, k], p if math.isfinite(p) else a, method="linear"))
        lower[k], upper[k] = qs
    return lower, upper
