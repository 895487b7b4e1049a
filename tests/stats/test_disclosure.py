"""The pure protection of atomic cells (app.stats.disclosure): pooling order, thresholds, the
publication rule and the rounding of moments (exact arithmetic written out in the tests)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from app.stats.disclosure import (
    ALL,
    CELL_COLUMNS,
    COUNT,
    POOLED,
    STEP,
    cell_offset,
    pool,
    protect,
    round_shifted,
)

KEY = b"k" * 32


def test_pool_joins_values_below_k_then_the_smallest_until_k():
    # below k: B (1) and C (2) -> pool of 3 < 5, so the smallest remaining (D, 6) joins
    assert pool({"A": 50, "B": 1, "C": 2, "D": 6, "E": 9}, 5) == {
        "A": "A",
        "B": POOLED,
        "C": POOLED,
        "D": POOLED,
        "E": "E",
    }
    # two small values that are together large enough pool without help
    assert pool({"A": 50, "B": 2, "C": 3}, 5) == {"A": "A", "B": POOLED, "C": POOLED}
    # ties among the remaining go by code
    assert pool({"Z": 7, "Y": 7, "X": 3}, 5) == {"Z": "Z", "Y": POOLED, "X": POOLED}
    # everything ends in the pool when no value can stand alone
    assert pool({"A": 3, "B": 6}, 5) == {"A": POOLED, "B": POOLED}
    # nothing small: nothing pooled (exactly k stands alone)
    assert pool({"A": 5, "B": 6}, 5) == {"A": "A", "B": "B"}


def test_round_shifted_lands_on_the_shifted_grid_within_a_quarter():
    rng = np.random.default_rng(1)
    for value in rng.uniform(-3, 40, size=200):
        off = float(rng.uniform(0, STEP))
        r = round_shifted(float(value), off)
        assert abs(r - value) <= STEP / 2 + 1e-12
        j = (r + off) / STEP
        assert abs(j - round(j)) < 1e-9  # r = j * 0.5 - offset
    # a value on the plain grid is not kept exactly unless the offset is 0
    assert round_shifted(3.0, 0.0) == 3.0
    assert round_shifted(3.0, 0.2) == pytest.approx(2.8)


def test_cell_offset_is_secret_deterministic_and_moves_with_n():
    a = cell_offset(KEY, 1, "2026-10", "all", "", "REL", 12, "sum")
    assert a == cell_offset(KEY, 1, "2026-10", "all", "", "REL", 12, "sum")
    assert 0 <= a < STEP
    assert a != cell_offset(KEY, 1, "2026-10", "all", "", "REL", 13, "sum")
    assert a != cell_offset(b"other" * 8, 1, "2026-10", "all", "", "REL", 12, "sum")
    many = [cell_offset(KEY, i, "m", "d", "", "c", 5, "sum") for i in range(2000)]
    assert 0.2 < np.mean(many) < 0.3  # spread over [0, 0.5)


def _cells(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(CELL_COLUMNS))


def _person_cells(branch, month, people):
    """Raw cells of dims all and t from (value of t, score or None) per person."""
    rows = []
    for dim in (ALL, "t"):
        groups: dict[str, list] = {}
        for v, x in people:
            groups.setdefault("" if dim == ALL else v, []).append(x)
        for g, xs in groups.items():
            rows.append((branch, month, dim, g, COUNT, len(xs), 0.0, 0.0))
            xs = [x for x in xs if x is not None]
            if xs:
                rows.append(
                    (
                        branch,
                        month,
                        dim,
                        g,
                        "C",
                        len(xs),
                        float(sum(xs)),
                        float(sum(x * x for x in xs)),
                    )
                )
    return rows


def test_protect_leaves_out_small_branch_months_pools_and_rounds():
    people_1 = [("a", 7.0)] * 6 + [("b", 2.0)] * 2 + [("c", 4.0)] * 4  # 12 in (1, M)
    people_2 = [("a", 5.0)] * 3  # 3 in (2, M): below k
    cells = _cells(_person_cells(1, "M", people_1) + _person_cells(2, "M", people_2))
    res = protect(cells, k=5, scales={"C": (1.0, 7.0)}, key=KEY)
    counts = res.counts.set_index(["branch", "dim", "group"])
    # (2, M) stays counted but unpublished, in every dimension
    assert counts.loc[(2, ALL, ""), "n"] == 3 and not counts.loc[(2, ALL, ""), "published"]
    assert not counts.loc[(2, "t", POOLED), "published"]
    # (1, M): b (2) and c (4) are below 5 -> pooled together (6), a stands alone
    assert counts.loc[(1, "t", POOLED), "n"] == 6 and counts.loc[(1, "t", "a"), "n"] == 6
    moments = res.moments.set_index(["branch", "dim", "group"])
    assert 2 not in set(res.moments["branch"])
    for where, xs in (
        ((1, ALL, ""), [x for _, x in people_1]),
        ((1, "t", "a"), [7.0] * 6),
        ((1, "t", POOLED), [2.0] * 2 + [4.0] * 4),
    ):
        row = moments.loc[where]
        n = len(xs)
        y = [(x - 1) / 6 for x in xs]
        ident = (*where[:1], "M", *where[1:], "C", n)
        sy = round_shifted(sum(y), cell_offset(KEY, *ident, "sum"))
        ssy = round_shifted(sum(v * v for v in y), cell_offset(KEY, *ident, "sumsq"))
        assert row["n"] == n
        assert row["sum"] == pytest.approx(n * 1 + 6 * sy, abs=1e-9)
        assert row["sumsq"] == pytest.approx(36 * ssy + 2 * 1 * (n + 6 * sy) - n, abs=1e-9)
        assert abs(row["sum"] / n - np.mean(xs)) <= 6 * 0.25 / n + 1e-12


def test_protect_removes_a_construct_answered_by_fewer_than_k_in_a_cell():
    people = [("a", 5.0)] + [("a", None)] * 9  # one of ten answered C
    res = protect(_cells(_person_cells(1, "M", people)), k=5, scales={"C": (1.0, 7.0)}, key=KEY)
    assert res.moments.empty
    assert res.counts.loc[res.counts["dim"] == ALL, "n"].tolist() == [10]


def test_protect_of_nothing_is_empty():
    res = protect(_cells([]), k=5, scales={"C": (1.0, 7.0)}, key=KEY)
    assert res.moments.empty and res.counts.empty
    assert list(res.counts.columns) == ["branch", "month", "dim", "group", "n", "published"]


def test_nps_scores_round_off_the_plain_grid():
    # NPS scores -100/0/100 are 0, 0.5, 1 on the normalised scale: a plain 0.5 grid would
    # publish every cell's sum exactly; the shifted grid does not
    people = [("a", 100.0)] * 3 + [("a", 0.0)] * 2 + [("a", -100.0)] * 1
    res = protect(
        _cells(_person_cells(1, "M", people)), k=5, scales={"C": (-100.0, 100.0)}, key=KEY
    )
    row = res.moments[res.moments["dim"] == ALL].iloc[0]
    exact = sum(x for _, x in people)
    assert row["sum"] != pytest.approx(exact, abs=1e-6)
    assert abs(row["sum"] - exact) <= 200 * 0.25 + 1e-9
    assert math.isfinite(row["sumsq"])
