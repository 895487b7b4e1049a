"""Disclosure control of aggregate score tables: protected atomic cells (pure).

Every published score table is a sum over *atomic cells* ``(branch, month, dim, value)`` of ONE
dimension ``dim`` (:data:`ALL`, the whole branch-month, whose single value is ``""``, or an
attribute code). This module
turns the raw cells into protected ones, and nothing is computed from the raw cells afterwards:

1. A ``(branch, month)`` with fewer than ``k`` respondents is left out of every dimension.
2. Pooling inside ``(branch, month, dim)``: values with fewer than ``k`` respondents go to the
   bucket :data:`POOLED`; while that bucket holds 1..k-1 respondents the smallest remaining value
   (ties: value code) joins it, until it reaches ``k`` or everything is pooled.
3. Inside a published cell, a construct answered by fewer than ``k`` respondents is removed
   (for that construct only).
4. Each remaining cell's moments of the normalised scores ``y = (x - lo) / (hi - lo)`` in [0, 1]
   are rounded to a step of ``step`` (0.5: half of one respondent's largest contribution) on a
   grid shifted by a secret, cell-specific offset in ``[0, step)`` (:func:`cell_offset`); they
   are then mapped back to the item scale. A plain grid would reproduce exactly every sum that
   lies on it, and with it the difference of two cells whose symmetric difference is one
   respondent at a scale end or midpoint (or any NPS respondent: -100/0/100 are 0/0.5/1).

Counts ``n`` (respondents per cell and per construct) are exact: existence is not protected.
See app/security/README.md, "Disclosure control", for the argument and the residual risks.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

COUNT = "*"  # pseudo-construct whose ``n`` counts the respondents of a cell
ALL = "*"  # the dimension without a breakdown (no attribute code can be "*"); its value is ""
POOLED = "other"
STEP = 0.5
KEYS = ("branch", "month", "dim", "value")
CELL_COLUMNS = (*KEYS, "construct", "n", "sum", "sumsq")


@dataclass(frozen=True)
class ProtectedCells:
    """``moments``: published cells, columns :data:`CELL_COLUMNS` with ``value`` renamed to
    ``group`` (after pooling), constructs only (no :data:`COUNT` rows), protected sums.
    ``counts``: respondents per ``(branch, month, dim, group)``, exact, with ``published``
    (False for a ``(branch, month)`` below ``k``)."""

    moments: pd.DataFrame
    counts: pd.DataFrame


def cell_offset(key: bytes, *parts: object) -> float:
    """Secret offset in ``[0, STEP)`` of one cell's moment: keyed BLAKE2b of its identity.

    ``parts`` name the cell and moment (branch, month, dim, group, construct, n, "sum"|"sumsq");
    ``n`` is part of it so that the cell's next state (one more respondent) is rounded on an
    unrelated grid.
    """
    message = "\x1f".join(str(p) for p in parts).encode("utf-8")
    digest = hashlib.blake2b(message, key=key[:64], digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64 * STEP


def round_shifted(value: float, offset: float, step: float = STEP) -> float:
    """``value`` rounded to the nearest point of the grid ``{j * step - offset}``."""
    return math.floor((value + offset) / step + 0.5) * step - offset


def pool(counts: Mapping[str, int], k: int) -> dict[str, str]:
    """Group of each value of one ``(branch, month, dim)``: itself or :data:`POOLED`.

    Values below ``k`` are pooled; while the pool holds 1..k-1 respondents the smallest
    remaining value (ties: by code) joins it.
    """
    out = {v: (POOLED if c < k else v) for v, c in counts.items()}
    pooled = sum(c for v, c in counts.items() if out[v] == POOLED)
    rest = sorted((c, v) for v, c in counts.items() if out[v] != POOLED)
    while 0 < pooled < k and rest:
        c, v = rest.pop(0)
        out[v] = POOLED
        pooled += c
    return out


def protect(
    cells: pd.DataFrame,
    *,
    k: int,
    scales: Mapping[str, tuple[float, float]],
    key: bytes,
) -> ProtectedCells:
    """Protected cells of raw cells (columns :data:`CELL_COLUMNS`, moments of raw scores ``x``).

    ``cells`` must hold every value of each ``(branch, month, dim)`` it covers (pooling looks at
    all of them) and the :data:`ALL` cells of the ``(branch, month)`` it covers (the publication
    rule reads their counts). ``scales`` maps each construct to its ``(lo, hi)``; constructs
    without a scale are dropped.
    """
    cells = cells.loc[:, list(CELL_COLUMNS)]
    is_count = cells["construct"] == COUNT
    counts = cells.loc[is_count, [*KEYS, "n"]].copy()
    totals = counts[counts["dim"] == ALL].set_index(["branch", "month"])["n"]
    published_bm = {bm for bm, n in totals.items() if n >= k}
    group_of: dict[tuple[object, ...], str] = {}
    for (b, m, d), part in counts.groupby(["branch", "month", "dim"], sort=False):
        if d == ALL:
            group_of.update({(b, m, d, v): str(v) for v in part["value"]})
            continue
        for v, g in pool(dict(zip(part["value"], part["n"].astype(int), strict=True)), k).items():
            group_of[(b, m, d, v)] = g
    counts["group"] = [group_of[t] for t in counts[list(KEYS)].itertuples(index=False, name=None)]
    counts = (
        counts.groupby(["branch", "month", "dim", "group"], as_index=False, sort=True)["n"]
        .sum()
        .astype({"n": np.int64})
    )
    counts["published"] = _in(counts, published_bm)
    moments = cells.loc[~is_count]
    moments = moments.loc[_in(moments, published_bm)]
    moments = moments[moments["construct"].isin(list(scales))]
    groups = [
        group_of.get(t, str(t[3])) for t in moments[list(KEYS)].itertuples(index=False, name=None)
    ]
    moments = (
        moments.assign(group=groups)
        .groupby(["branch", "month", "dim", "group", "construct"], as_index=False, sort=True)[
            ["n", "sum", "sumsq"]
        ]
        .sum()
    )
    moments = moments[moments["n"] >= k].reset_index(drop=True)
    moments["n"] = moments["n"].astype(np.int64)
    return ProtectedCells(_rounded(moments, scales, key), counts.reset_index(drop=True))


def _in(frame: pd.DataFrame, pairs: set[tuple[object, object]]) -> np.ndarray:
    """Boolean mask of the rows whose (branch, month) is in ``pairs`` (an array even when
    empty: an empty list would select columns)."""
    found = ((b, m) in pairs for b, m in zip(frame["branch"], frame["month"], strict=True))
    return np.fromiter(found, dtype=bool, count=len(frame))


def _rounded(
    moments: pd.DataFrame, scales: Mapping[str, tuple[float, float]], key: bytes
) -> pd.DataFrame:
    """Moments rounded on the normalised scale (shifted grid), mapped back to the item scale."""
    if moments.empty:
        return moments
    lo = moments["construct"].map(lambda c: scales[c][0]).to_numpy(dtype=float)
    width = moments["construct"].map(lambda c: scales[c][1] - scales[c][0]).to_numpy(dtype=float)
    n = moments["n"].to_numpy(dtype=float)
    s = moments["sum"].to_numpy(dtype=float)
    ss = moments["sumsq"].to_numpy(dtype=float)
    sy = (s - n * lo) / width
    ssy = (ss - 2 * lo * s + n * lo * lo) / (width * width)
    ids = moments[["branch", "month", "dim", "group", "construct", "n"]].itertuples(
        index=False, name=None
    )
    ry, rssy = np.empty_like(sy), np.empty_like(ssy)
    for i, ident in enumerate(ids):
        ry[i] = round_shifted(sy[i], cell_offset(key, *ident, "sum"))
        rssy[i] = round_shifted(ssy[i], cell_offset(key, *ident, "sumsq"))
    out = moments.copy()
    out["sum"] = n * lo + width * ry
    out["sumsq"] = width * width * rssy + 2 * lo * out["sum"].to_numpy() - n * lo * lo
    return out
