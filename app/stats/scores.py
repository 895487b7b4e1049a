"""Construct scores per group from sufficient statistics: 0-100 index, t-based CI, Welch vs rest.

Every function past :func:`sufficient_stats` works on per-cell sufficient statistics of
respondent construct scores (``n``, ``sum``, ``sumsq``), so the same numbers come from raw
data in a notebook and from maintained aggregate tables in the service.

A respondent's construct score is the mean of that construct's answered items; a respondent
who answered none of them (all N/A) has no score for it and does not count in its ``n``.
The index maps the scale linearly onto 0-100: ``(mean - scale_min) / (scale_max - scale_min)
* 100``, i.e. ``(mean - 1) / 6 * 100`` on the 7-point scale.

Suppression: a group whose *published* respondents (those in cells that the disclosure
control, :mod:`app.stats.disclosure`, lets out) are fewer than ``min_group_size`` shows its count
only. The cells themselves are protected before they get here, so a table needs no
complementary suppression: differencing tables only ever yields sums of whole protected cells.

nps items are scored per respondent as 100 (9-10), 0 (7-8) or -100 (0-6), so the NPS of a group
(% promoters - % detractors) is the mean of that score and is computed like a construct on the
scale -100..100. Gap scores are the perception index minus the expectation index.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

MOMENT_COLUMNS = ("n", "sum", "sumsq")
SMALL_GROUP = "fewer than min_group_size responses"
NPS_SCALE = (-100.0, 100.0)
Gap = tuple[str, str, str]  # (code, perception construct, expectation construct)


def respondent_scores(items: pd.DataFrame, constructs: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """Per-respondent construct scores, shape (n_respondents, n_constructs).

    ``items`` holds item codes as float columns (NaN = not answered / N/A). A construct whose
    items are all NaN for a respondent scores NaN for that respondent.
    """
    out = {}
    for code, item_codes in constructs.items():
        present = [c for c in item_codes if c in items.columns]
        if not present:
            out[code] = np.full(len(items), np.nan)
            continue
        block = items[present].to_numpy(dtype=float)
        answered = np.sum(~np.isnan(block), axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[code] = np.where(answered > 0, np.nansum(block, axis=1) / answered, np.nan)
    return pd.DataFrame(out, index=items.index)


def sufficient_stats(
    scores: pd.DataFrame, keys: pd.DataFrame | None = None, *, by: Sequence[str] = ()
) -> pd.DataFrame:
    """Long table of sufficient statistics: ``by``, ``construct``, ``n``, ``sum``, ``sumsq``.

    ``scores`` is the output of :func:`respondent_scores`; ``keys`` (same index) holds the
    grouping columns named in ``by``. Cells with ``n == 0`` are dropped.
    """
    by = list(by)
    long = scores.stack(future_stack=True).rename("score").reset_index(level=-1)
    long = long.rename(columns={long.columns[0]: "construct"})
    long = long[long["score"].notna()]
    if by:
        assert keys is not None, "keys are required when grouping"
        long = long.join(keys[by])
    long["sq"] = long["score"] ** 2
    grouped = long.groupby([*by, "construct"], sort=True, observed=True, dropna=False)
    out = grouped.agg(n=("score", "size"), sum=("score", "sum"), sumsq=("sq", "sum"))
    return out.reset_index()


def holm(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm (1979) step-down adjusted p-values; NaN entries are left out of the family."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = ok.size
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="mergesort")]
    scaled = (m - np.arange(m)) * p[order]
    out[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return out


def _moments(n: np.ndarray, s: np.ndarray, ss: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased variance from (n, sum, sumsq); NaN where undefined."""
    n = n.astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, s / n, np.nan)
        var = np.where(n > 1, (ss - s * s / n) / (n - 1), np.nan)
    return mean, np.maximum(var, 0.0)  # rounding can push an exact 0 slightly negative


def welch(
    m1: np.ndarray, v1: np.ndarray, n1: np.ndarray, m2: np.ndarray, v2: np.ndarray, n2: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Welch's two-sample t test from moments: (t, df, two-sided p); NaN where undefined."""
    with np.errstate(invalid="ignore", divide="ignore"):
        a, b = v1 / n1, v2 / n2
        se2 = a + b
        t = (m1 - m2) / np.sqrt(se2)
        df = se2**2 / (a**2 / (n1 - 1) + b**2 / (n2 - 1))
        bad = (n1 < 2) | (n2 < 2) | ~(se2 > 0)
        t = np.where(bad, np.nan, t)
        df = np.where(bad, np.nan, df)
        p = np.where(bad, np.nan, 2.0 * sps.t.sf(np.abs(t), df))
    return t, df, p


def _num(x: float | None) -> float | None:
    """JSON-safe float: None for missing or non-finite values, full precision otherwise."""
    return None if x is None or not math.isfinite(x) else float(x)


@dataclass(frozen=True)
class ConstructScore:
    """One construct in one group: mean on the item scale and the 0-100 index with its CI."""

    n: int
    mean: float
    sd: float
    index: float
    ci: tuple[float, float] | None
    diff: float | None = None  # index points, group minus rest of the sample
    t: float | None = None
    df: float | None = None
    p_unadjusted: float | None = None
    p: float | None = None  # Holm-adjusted across the groups of this construct
    # Holm-adjusted across every shown cell of the table (all groups x constructs, nps items
    # left out): the family of a table read as a whole, e.g. its colours.
    p_table: float | None = None

    def to_dict(self, *, vs_rest: bool = True) -> dict[str, Any]:
        d: dict[str, Any] = {
            "n": self.n,
            "mean": _num(self.mean),
            "sd": _num(self.sd),
            "index": _num(self.index),
            "ci": None if self.ci is None else [_num(self.ci[0]), _num(self.ci[1])],
        }
        if vs_rest:
            d["vs_rest"] = {
                "diff": _num(self.diff),
                "t": _num(self.t),
                "df": _num(self.df),
                "p_unadjusted": _num(self.p_unadjusted),
                "p": _num(self.p),
            }
        return d


@dataclass(frozen=True)
class GroupScore:
    group: str
    n: int
    suppressed: bool
    constructs: Mapping[str, ConstructScore] = field(default_factory=dict)
    reason: str | None = None  # why it is suppressed (SMALL_GROUP)
    n_published: int | None = None  # respondents in published cells (None: all of ``n``)

    def to_dict(
        self, *, vs_rest: bool = True, nps: Sequence[str] = (), gaps: Sequence[Gap] = ()
    ) -> dict[str, Any]:
        d: dict[str, Any] = {"group": self.group, "n": self.n, "suppressed": self.suppressed}
        if self.n_published is not None:
            d["n_published"] = self.n_published
        if self.suppressed:
            d["suppressed_reason"] = self.reason or SMALL_GROUP
            return d
        skip = set(nps)
        d["constructs"] = {
            k: v.to_dict(vs_rest=vs_rest) for k, v in self.constructs.items() if k not in skip
        }
        if nps:
            d["nps"] = {k: _nps_dict(c) for k in nps if (c := self.constructs.get(k))}
        if gaps:
            d["gaps"] = {
                code: {"gap": p.index - e.index, "perception": p.index, "expectation": e.index}
                for code, pc, ec in gaps
                if (p := self.constructs.get(pc)) and (e := self.constructs.get(ec))
            }
        return d


def _nps_dict(c: ConstructScore) -> dict[str, Any]:
    """NPS of one group: the mean -100/0/100 score, its CI on that scale."""
    lo, hi = NPS_SCALE
    ci = None if c.ci is None else [_num(lo + (hi - lo) * x / 100) for x in c.ci]
    return {"n": c.n, "nps": _num(c.mean), "ci": ci}


@dataclass(frozen=True)
class GroupScores:
    """Scores of every group plus the overall benchmark (all groups pooled)."""

    by: str
    min_group_size: int
    level: float
    groups: tuple[GroupScore, ...]
    overall: GroupScore
    constructs: tuple[str, ...]
    compare: bool = True  # False for trends: periods are not tested against each other
    nps: tuple[str, ...] = ()  # nps item codes scored like constructs (scale NPS_SCALE)
    gaps: tuple[Gap, ...] = ()

    def only(self, keep: Sequence[str]) -> GroupScores:
        """The same result restricted to some groups (tests and p-values stay those of all)."""
        wanted = set(keep)
        kept = tuple(g for g in self.groups if g.group in wanted)
        return replace(self, groups=kept)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "scale": "0-100",
            "by": self.by,
            "min_group_size": self.min_group_size,
            "ci_level": self.level,
        }
        if self.compare:
            d["test"] = "welch_vs_rest"
            d["p_adjust"] = "holm"
        d["constructs"] = list(self.constructs)
        if self.nps:
            d["nps_items"] = list(self.nps)
        if self.gaps:
            d["gaps"] = [{"code": c, "perception": p, "expectation": e} for c, p, e in self.gaps]
        kw: dict[str, Any] = {"nps": self.nps, "gaps": self.gaps}
        d["overall"] = self.overall.to_dict(vs_rest=False, **kw)
        d["groups"] = [g.to_dict(vs_rest=self.compare, **kw) for g in self.groups]
        return d


def _index(x: np.ndarray, lo: np.ndarray | float, hi: np.ndarray | float) -> np.ndarray:
    return (x - lo) / (hi - lo) * 100.0


def _cells_arrays(
    cells: pd.DataFrame, key: str, constructs: Sequence[str]
) -> tuple[list[str], np.ndarray]:
    """Pivot long cells into an array of shape (n_groups, n_constructs, 3) of (n, sum, sumsq)."""
    grouped = cells.groupby([key, "construct"], sort=True, observed=True)[list(MOMENT_COLUMNS)]
    summed = grouped.sum()
    groups = sorted({str(g) for g in summed.index.get_level_values(0)})
    arr = np.zeros((len(groups), len(constructs), 3))
    gpos = {g: i for i, g in enumerate(groups)}
    cpos = {c: j for j, c in enumerate(constructs)}
    for (g, c), row in zip(summed.index, summed.to_numpy(dtype=float), strict=True):
        if str(c) in cpos:
            arr[gpos[str(g)], cpos[str(c)]] = row
    return groups, arr


def _score_block(
    arr: np.ndarray, level: float, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(n, mean, variance, index, CI half-width in index points) of an (..., 3) moments array;
    ``lo``/``hi`` per construct (the last axis but one)."""
    n, s, ss = arr[..., 0], arr[..., 1], arr[..., 2]
    mean, var = _moments(n, s, ss)
    with np.errstate(invalid="ignore", divide="ignore"):
        half = sps.t.ppf(0.5 + level / 2, n - 1) * np.sqrt(var / n)
    half = np.where(n > 1, half, np.nan)
    return n, mean, var, _index(mean, lo, hi), half / (hi - lo) * 100.0


def group_scores(
    cells: pd.DataFrame,
    *,
    by: str = "group",
    key: str | None = None,
    constructs: Sequence[str] | None = None,
    group_counts: Mapping[str, int] | None = None,
    published: Mapping[str, int] | None = None,
    min_group_size: int = 1,
    level: float = 0.95,
    scale: tuple[float, float] = (1.0, 7.0),
    scales: Mapping[str, tuple[float, float]] | None = None,
    nps: Sequence[str] = (),
    gaps: Sequence[Gap] = (),
    compare: bool = True,
) -> GroupScores:
    """Index, CI and Welch test against the rest of the sample, per group and construct.

    Parameters
    ----------
    cells : DataFrame with columns ``key`` (default: ``by``), ``construct``, ``n``, ``sum``,
        ``sumsq``; several rows for one (group, construct) are summed (e.g. months of
        maintained aggregates).
    by : name of the grouping, reported in the result.
    group_counts : respondents per group (reported ``n``); defaults to the largest construct
        ``n`` of the group.
    published : respondents per group that ``cells`` stand on (default: ``group_counts``).
        Groups with fewer than ``min_group_size`` of them are suppressed: count only, and they
        stay out of the Holm family.
    scale, scales : ``(min, max)`` of the item scale, per construct in ``scales`` (default
        ``scale``); the index is ``(mean - min) / (max - min) * 100``.
    nps : nps item codes among the cells' constructs (reported apart, scale -100..100).
    gaps : ``(code, perception, expectation)`` constructs of gap scores.
    compare : False leaves out the tests against the rest (see :data:`trend_scores`).
    """
    if constructs is None:
        constructs = sorted({str(c) for c in cells["construct"]} - set(nps))
    constructs = list(constructs)
    keys = constructs + [c for c in nps if c not in constructs]
    groups, arr = _cells_arrays(cells, key or by, keys)
    lo, hi = _scale_bounds(keys, scale, scales, nps)
    counts = np.array(
        [
            group_counts.get(g, 0) if group_counts is not None else int(arr[i, :, 0].max(initial=0))
            for i, g in enumerate(groups)
        ],
        dtype=int,
    )
    stands_on = (
        counts if published is None else np.array([published.get(g, 0) for g in groups], dtype=int)
    )
    suppressed = stands_on < min_group_size
    total = arr.sum(axis=0, keepdims=True)
    table = _against_rest(arr, total - arr, suppressed, len(constructs), level, lo, hi)
    out_groups = []
    for i, g in enumerate(groups):
        per = {} if suppressed[i] else _construct_scores(table, i, keys)
        reason = SMALL_GROUP if suppressed[i] else None
        shown_n = None if published is None else int(stands_on[i])
        out_groups.append(GroupScore(g, int(counts[i]), bool(suppressed[i]), per, reason, shown_n))

    overall = _overall(
        total[0],
        int(counts.sum()),
        None if published is None else int(stands_on.sum()),
        min_group_size,
        keys,
        level,
        lo,
        hi,
    )
    res = GroupScores(
        by,
        min_group_size,
        level,
        tuple(out_groups),
        overall,
        tuple(constructs),
        nps=tuple(nps),
        gaps=tuple(gaps),
    )
    return res if compare else _without_tests(res)


def _scale_bounds(
    keys: Sequence[str],
    scale: tuple[float, float],
    scales: Mapping[str, tuple[float, float]] | None,
    nps: Sequence[str],
) -> tuple[np.ndarray, np.ndarray]:
    """``(lo, hi)`` per key: the construct's own scale, NPS's -100..100 scale for nps items,
    else ``scale``."""
    own = dict(scales or {})
    own.update({c: NPS_SCALE for c in nps})
    lo = np.array([own.get(c, scale)[0] for c in keys], dtype=float)
    hi = np.array([own.get(c, scale)[1] for c in keys], dtype=float)
    return lo, hi


def _against_rest(
    arr: np.ndarray,
    rest: np.ndarray,
    suppressed: np.ndarray,
    k: int,
    level: float,
    lo: np.ndarray,
    hi: np.ndarray,
) -> dict[str, list[list[float]]]:
    """Each group's index, CI half-width and Welch test against the rest of the sample, as
    nested lists ``[group][key]``. ``p_adj`` is Holm-adjusted per construct across groups,
    ``p_tab`` across the whole table of the first ``k`` (non-nps) keys; suppressed groups stay
    out of both families."""
    n1, m1, v1, idx1, half = _score_block(arr, level, lo, hi)
    n2, m2, v2, idx2, _ = _score_block(rest, level, lo, hi)
    t, df, p_raw = welch(m1, v1, n1, m2, v2, n2)
    p_raw = np.where(suppressed[:, None], np.nan, p_raw)
    p_adj = np.apply_along_axis(holm, 0, p_raw) if p_raw.size else p_raw
    p_tab = np.full(p_raw.shape, np.nan)
    if p_raw.size:
        p_tab[:, :k] = holm(p_raw[:, :k].ravel()).reshape(p_raw[:, :k].shape)
    # Plain Python floats: building thousands of cells from numpy scalars dominates otherwise.
    columns = {
        "n": n1,
        "m": m1,
        "v": np.sqrt(v1),
        "idx": idx1,
        "half": half,
        "diff": idx1 - idx2,
        "t": t,
        "df": df,
        "p_raw": p_raw,
        "p_adj": p_adj,
        "p_tab": p_tab,
    }
    return {name: values.tolist() for name, values in columns.items()}


def _construct_scores(
    table: Mapping[str, list[list[float]]], i: int, keys: Sequence[str]
) -> dict[str, ConstructScore]:
    """Group ``i``'s row of :func:`_against_rest`'s table; keys nobody answered left out."""
    per: dict[str, ConstructScore] = {}
    for j, c in enumerate(keys):
        if table["n"][i][j] == 0:
            continue
        idx = table["idx"][i][j]
        per[c] = ConstructScore(
            n=int(table["n"][i][j]),
            mean=table["m"][i][j],
            sd=table["v"][i][j],
            index=idx,
            ci=_ci(idx, table["half"][i][j]),
            diff=_opt(table["diff"][i][j]),
            t=_opt(table["t"][i][j]),
            df=_opt(table["df"][i][j]),
            p_unadjusted=_opt(table["p_raw"][i][j]),
            p=_opt(table["p_adj"][i][j]),
            p_table=_opt(table["p_tab"][i][j]),
        )
    return per


def _opt(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _ci(index: float, half: float) -> tuple[float, float] | None:
    return (float(index - half), float(index + half)) if math.isfinite(half) else None


def _overall(
    arr: np.ndarray,
    count: int,
    published: int | None,
    min_group_size: int,
    constructs: Sequence[str],
    level: float,
    lo: np.ndarray,
    hi: np.ndarray,
) -> GroupScore:
    stands_on = count if published is None else published
    if stands_on < min_group_size:
        return GroupScore("overall", count, True, {}, SMALL_GROUP, published)
    n, m, v, idx, half = _score_block(arr[None, ...], level, lo, hi)
    per = {
        c: ConstructScore(
            n=int(n[0, j]),
            mean=float(m[0, j]),
            sd=float(np.sqrt(v[0, j])),
            index=float(idx[0, j]),
            ci=_ci(idx[0, j], half[0, j]),
        )
        for j, c in enumerate(constructs)
        if n[0, j] > 0
    }
    return GroupScore("overall", count, False, per, None, published)


trend_scores = partial(group_scores, by="month", compare=False)
"""Index and CI per period (e.g. ``YYYY-MM`` or survey slug), in period order, no tests."""


def _without_tests(res: GroupScores) -> GroupScores:
    plain = tuple(
        replace(g, constructs={k: _plain(v) for k, v in g.constructs.items()}) for g in res.groups
    )
    return replace(res, groups=plain, compare=False)


def _plain(c: ConstructScore) -> ConstructScore:
    return ConstructScore(n=c.n, mean=c.mean, sd=c.sd, index=c.index, ci=c.ci)
