"""Bootstrap confidence intervals of the PLS-weighted index (``scores?index=pls&ci=true``).

The draws come from :func:`app.stats.pls.index_draws`: respondents resampled with
replacement *within the finest atomic cells of the disclosure control* (branch x month x every
attribute's value x which constructs the respondent has a score for), the PLS weights refitted
on each resample and the resampled respondents scored with them. Because every cell of every
dimension keeps its exact counts (per construct too) in every draw, the disclosure control
pools, publishes and suppresses exactly the same cells as for the published table; each draw's
table is built by the same door (:func:`app.reporting.disclosure.protected_cells`, through the
``table_of`` callable the service passes) from the members of published cells only. A group's
``ci_boot`` is the percentile interval (:func:`app.stats.pls.percentile_interval`) of its
index over the draws, so it carries the sampling error of the respondents and of the weights
and reveals nothing the protected cells do not.

Results are cached per request shape and data fingerprint.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from app.reporting.plsindex import PlsIndex
from app.stats.disclosure import ALL
from app.stats.pls import index_draws, percentile_interval
from app.stats.scores import GroupScores

DEFAULT_DRAWS = 200
MIN_DRAWS, MAX_DRAWS = 100, 2000  # each draw refits and re-protects: ~0.1-0.3 s
LEVEL = 0.95
CACHE_SIZE = 16
OVERALL = "\0overall"  # the benchmark row's key (no group can be named so)


@dataclass(frozen=True)
class IndexCis:
    """Percentile intervals per (group, construct): ``lower``/``upper`` and the draws whose
    table had the cell."""

    draws: int
    succeeded: int
    seed: int
    level: float
    intervals: dict[tuple[str, str], tuple[float, float, int]]

    def info(self) -> dict[str, Any]:
        return {
            "interval": "perc",
            "draws": self.draws,
            "succeeded": self.succeeded,
            "seed": self.seed,
            "level": self.level,
            "method": "respondents resampled within the disclosure control's atomic cells "
            "(branch, month, attribute values, constructs answered), PLS weights refitted on "
            "each resample, each draw's table from its protected cells; percentile interval",
        }

    def annotate(self, body: dict[str, Any]) -> dict[str, Any]:
        """``body`` (a scores JSON) with ``ci_boot: [lower, upper]`` on every shown construct
        and ``ci_boot_draws`` (the draws behind it)."""
        for key, group in [(OVERALL, body["overall"])] + [(g["group"], g) for g in body["groups"]]:
            for code, cs in (group.get("constructs") or {}).items():
                lo, hi, count = self.intervals.get((key, code), (np.nan, np.nan, 0))
                ok = bool(np.isfinite(lo) and np.isfinite(hi))
                cs["ci_boot"] = [float(lo), float(hi)] if ok else None
                cs["ci_boot_draws"] = int(count)
        return body


_cache: OrderedDict[Hashable, IndexCis] = OrderedDict()
_lock = threading.Lock()


def clear_cache() -> None:
    with _lock:
        _cache.clear()


def strata(weighted: PlsIndex) -> np.ndarray:
    """Each respondent's finest cell: branch, month, every attribute value and the constructs
    with a score (a codes array, (n,))."""
    answered = pd.Series([""] * len(weighted.items))
    for row in weighted.weights.values():
        has = weighted.items[list(row)].notna().any(axis=1).to_numpy()
        answered = answered + np.where(has, "1", "0")
    keys = weighted.keys.reset_index(drop=True).astype(str).agg("\x1f".join, axis=1)
    return pd.factorize(keys + "\x1f" + answered)[0]


@dataclass(frozen=True)
class _Layout:
    """The raw cells of the published data (``template``) and, per row of it, the strata it
    sums (``members``, rows x strata) and its construct's column (``column``, -1: the count)."""

    labels: np.ndarray
    template: pd.DataFrame
    members: sparse.csr_matrix
    column: np.ndarray


def _layout(weighted: PlsIndex) -> _Layout:
    labels = strata(weighted)
    first = pd.Series(np.arange(len(labels))).groupby(labels).first().to_numpy()
    keys = weighted.keys.reset_index(drop=True).iloc[first].reset_index(drop=True)
    of: dict[tuple[object, ...], list[int]] = {}
    dims = [c.removeprefix("attr:") for c in keys.columns[2:]]
    for s_, row in enumerate(keys.itertuples(index=False, name=None)):
        b, m, values = row[0], row[1], row[2:]
        of.setdefault((ALL, b, m, ""), []).append(s_)
        for d, v in zip(dims, values, strict=True):
            of.setdefault((d, b, m, v), []).append(s_)
    template = weighted.raw.reset_index(drop=True)
    rows, cols = [], []
    for r, ident in enumerate(
        template[["dim", "branch", "month", "value"]].itertuples(index=False, name=None)
    ):
        for s_ in of[ident]:
            rows.append(r)
            cols.append(s_)
    members = sparse.csr_matrix(
        (np.ones(len(rows)), (rows, cols)), shape=(len(template), len(first))
    )
    constructs = list(weighted.weights)
    column = np.array(
        [constructs.index(c) if c in constructs else -1 for c in template["construct"]]
    )
    return _Layout(labels, template, members, column)


def _draw_cells(layout: _Layout, scores: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    """The raw cells of one draw: each cell's sums over its strata's resampled respondents
    (counts are those of the template: the resample keeps every stratum's answered counts)."""
    x = scores.to_numpy(dtype=float)
    ok = ~np.isnan(x)
    x = np.where(ok, x, 0.0)
    n_strata = layout.members.shape[1]
    labels = layout.labels[rows]
    per = np.stack(
        [np.bincount(labels, weights=x[:, j], minlength=n_strata) for j in range(x.shape[1])], 1
    )
    per_sq = np.stack(
        [np.bincount(labels, weights=x[:, j] ** 2, minlength=n_strata) for j in range(x.shape[1])],
        1,
    )
    sums, sumsq = layout.members @ per, layout.members @ per_sq
    r = np.arange(len(layout.column))
    c = np.maximum(layout.column, 0)
    count = layout.column < 0
    return layout.template.assign(
        sum=np.where(count, 0.0, sums[r, c]), sumsq=np.where(count, 0.0, sumsq[r, c])
    )


def bootstrap_cis(
    weighted: PlsIndex,
    table: GroupScores,
    *,
    table_of: Callable[[pd.DataFrame], GroupScores],
    request_key: Hashable,
    draws: int = DEFAULT_DRAWS,
    seed: int = 1,
) -> IndexCis:
    """Percentile intervals of every shown index of ``table`` over ``draws`` bootstrap draws;
    ``table_of(raw cells)`` builds the same request's table from a draw's raw cells."""
    key = (weighted.fingerprint, request_key, draws, seed)
    with _lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    shown = [
        (name, c)
        for name, g in [(OVERALL, table.overall), *[(g.group, g) for g in table.groups]]
        if not g.suppressed
        for c in table.constructs
        if c in g.constructs
    ]
    where = {k: j for j, k in enumerate(shown)}
    samples = np.full((draws, len(shown)), np.nan)
    layout = _layout(weighted)
    succeeded = 0
    for b, draw in enumerate(
        index_draws(
            weighted.items,
            weighted.fit.spec,
            weighted.scale,
            strata=layout.labels,
            draws=draws,
            seed=seed,
        )
    ):
        if draw is None:
            continue
        succeeded += 1
        res = table_of(_draw_cells(layout, draw.scores, draw.rows))
        for name, g in [(OVERALL, res.overall), *[(g.group, g) for g in res.groups]]:
            if g.suppressed:
                continue
            for c, cs in g.constructs.items():
                j = where.get((name, c))
                if j is not None and cs.index is not None:
                    samples[b, j] = cs.index
    lower, upper, counts = percentile_interval(samples, LEVEL)
    intervals = {k: (float(lower[j]), float(upper[j]), int(counts[j])) for k, j in where.items()}
    out = IndexCis(draws, succeeded, seed, LEVEL, intervals)
    with _lock:
        _cache[key] = out
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return out
