"""``ConstructScore.p_table``: each cell's Welch test against the rest of the sample, Holm-adjusted
across every shown cell of the table (the dashboard's colours). Checked against an independent
computation on the raw respondent scores: scipy's ``ttest_ind(equal_var=False)`` per cell and
Holm's step-down procedure written out as in Holm (1979). Agreement ~1e-12 (same arithmetic up
to summation order)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as sps

from app.stats.scores import group_scores, sufficient_stats


def holm_by_hand(p: list[float]) -> list[float]:
    """Holm (1979): sort ascending, multiply the i-th smallest by (m - i), keep it monotone."""
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    out = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def test_table_wide_holm_equals_scipy_and_holm_by_hand() -> None:
    rng = np.random.default_rng(7)
    groups = ["A", "B", "C", "D", "E"]
    shift = {"A": 0.0, "B": 0.4, "C": -0.3, "D": 0.05, "E": 0.0}
    rows = []
    for g in groups:
        n = int(rng.integers(30, 90))
        for _ in range(n):
            rows.append(
                {"g": g, "X": rng.normal(4 + shift[g], 1.1), "Y": rng.normal(5 - shift[g], 1.3)}
            )
    raw = pd.DataFrame(rows)
    raw.loc[raw.sample(frac=0.1, random_state=1).index, "Y"] = np.nan  # some missing scores
    cells = sufficient_stats(raw[["X", "Y"]], raw[["g"]], by=["g"])
    res = group_scores(cells, by="g", constructs=["X", "Y"], min_group_size=5)

    keys, raw_p = [], []
    for g in groups:
        for c in ("X", "Y"):
            mine = raw.loc[raw["g"] == g, c].dropna()
            rest = raw.loc[raw["g"] != g, c].dropna()
            raw_p.append(float(sps.ttest_ind(mine, rest, equal_var=False).pvalue))
            keys.append((g, c))
    expected = dict(zip(keys, holm_by_hand(raw_p), strict=True))
    by_group = {s.group: s for s in res.groups}
    for (g, c), p in expected.items():
        cell = by_group[g].constructs[c]
        assert cell.p_unadjusted is not None and cell.p_table is not None
        assert abs(cell.p_unadjusted - raw_p[keys.index((g, c))]) < 1e-12
        assert abs(cell.p_table - p) < 1e-12, (g, c, cell.p_table, p)
    # a table-wide family is stricter than the per-construct one
    assert all(
        by_group[g].constructs[c].p_table >= by_group[g].constructs[c].p - 1e-15 for g, c in keys
    )


def test_suppressed_groups_stay_out_of_the_family() -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"g": ["A"] * 40 + ["B"] * 40 + ["S"] * 3, "X": rng.normal(4, 1, 83)})
    cells = sufficient_stats(frame[["X"]], frame[["g"]], by=["g"])
    res = group_scores(cells, by="g", constructs=["X"], min_group_size=5)
    shown = {g.group: g for g in res.groups}
    assert shown["S"].suppressed and not shown["S"].constructs
    raw = [shown[g].constructs["X"].p_unadjusted for g in ("A", "B")]
    assert all(p is not None for p in raw)
    expected = holm_by_hand([float(p) for p in raw if p is not None])
    assert [shown[g].constructs["X"].p_table for g in ("A", "B")] == expected
