"""Group scores from sufficient statistics against a direct computation on raw telecom_1500.csv.

Tolerances: 1e-9 absolute on means, indices, CIs and t statistics (the same doubles computed two
ways); 1e-9 relative on p-values (scipy's t distribution in both paths).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from app.instruments.registry import get_instrument
from app.stats.scores import (
    SMALL_GROUP,
    group_scores,
    holm,
    respondent_scores,
    sufficient_stats,
    trend_scores,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "telecom_1500.csv"
CONSTRUCTS = get_instrument("telecom-pv", version=1).construct_items
ABS = 1e-9


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return pd.read_csv(DATA)


@pytest.fixture(scope="module")
def scores(raw: pd.DataFrame) -> pd.DataFrame:
    return respondent_scores(raw, CONSTRUCTS)


def naive_holm(p: list[float]) -> list[float]:
    """Holm written out the textbook way, independent of the vectorised implementation."""
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted


def test_respondent_score_is_mean_of_answered_items(raw: pd.DataFrame, scores: pd.DataFrame):
    row = raw.iloc[0]
    nq = [row[c] for c in CONSTRUCTS["NQ"] if not pd.isna(row[c])]
    assert scores.iloc[0]["NQ"] == pytest.approx(np.mean(nq), abs=ABS)
    assert scores.iloc[0]["EMP"] == pytest.approx(row[CONSTRUCTS["EMP"]].mean(), abs=ABS)
    all_na = pd.DataFrame({"NQ1": [np.nan], "NQ2": [np.nan], "NQ3": [np.nan], "NQ4": [np.nan]})
    assert np.isnan(respondent_scores(all_na, {"NQ": CONSTRUCTS["NQ"]}).iloc[0]["NQ"])


def test_holm_matches_textbook():
    p = [0.01, 0.04, 0.03, 0.005, 0.5, 0.2]
    assert holm(p) == pytest.approx(naive_holm(p), abs=1e-15)
    assert np.isnan(holm([np.nan, 0.01])[0])
    assert holm([np.nan, 0.01])[1] == pytest.approx(0.01, abs=1e-15)


@pytest.mark.parametrize("by", ["branch", "customer_type", "tenure"])
def test_group_scores_match_direct_computation(raw: pd.DataFrame, scores: pd.DataFrame, by: str):
    cells = sufficient_stats(scores, raw, by=[by])
    res = group_scores(cells, by=by, constructs=list(CONSTRUCTS), min_group_size=5)
    groups = sorted(raw[by].unique())
    assert [g.group for g in res.groups] == groups
    for c in CONSTRUCTS:
        raw_p = []
        for g in groups:
            x = scores.loc[raw[by] == g, c].dropna().to_numpy()
            y = scores.loc[raw[by] != g, c].dropna().to_numpy()
            got = next(r for r in res.groups if r.group == g).constructs[c]
            assert got.n == len(x)
            assert got.index == pytest.approx((x.mean() - 1) / 6 * 100, abs=ABS)
            lo, hi = sps.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=sps.sem(x))
            assert got.ci == pytest.approx(((lo - 1) / 6 * 100, (hi - 1) / 6 * 100), abs=ABS)
            assert got.diff == pytest.approx((x.mean() - y.mean()) / 6 * 100, abs=ABS)
            ref = sps.ttest_ind(x, y, equal_var=False)
            assert got.t == pytest.approx(ref.statistic, abs=ABS)
            assert got.p_unadjusted == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-300)
            raw_p.append(ref.pvalue)
        adjusted = naive_holm(raw_p)
        for g, p in zip(groups, adjusted, strict=True):
            got = next(r for r in res.groups if r.group == g).constructs[c]
            assert got.p == pytest.approx(p, rel=1e-9, abs=1e-300)


def test_cells_split_by_month_sum_to_the_same_result(raw: pd.DataFrame, scores: pd.DataFrame):
    keys = raw.assign(month=np.where(np.arange(len(raw)) % 3 == 0, "2026-01", "2026-02"))
    fine = sufficient_stats(scores, keys, by=["branch", "month"])
    coarse = sufficient_stats(scores, keys, by=["branch"])
    a = group_scores(fine, by="branch", min_group_size=5).to_dict()
    b = group_scores(coarse, by="branch", min_group_size=5).to_dict()
    assert a["groups"][0]["constructs"]["NQ"]["index"] == pytest.approx(
        b["groups"][0]["constructs"]["NQ"]["index"], abs=ABS
    )
    assert a["groups"][3]["constructs"]["LOY"]["vs_rest"]["p"] == pytest.approx(
        b["groups"][3]["constructs"]["LOY"]["vs_rest"]["p"], rel=1e-9
    )


def test_suppressed_groups_show_count_only_and_leave_the_holm_family(
    raw: pd.DataFrame, scores: pd.DataFrame
):
    counts = raw["branch"].value_counts().to_dict()
    threshold = int(raw["branch"].value_counts().min()) + 1  # suppresses exactly the smallest
    cells = sufficient_stats(scores, raw, by=["branch"])
    res = group_scores(cells, by="branch", min_group_size=threshold, group_counts=counts)
    small = [g for g in res.groups if g.suppressed]
    by_size = raw["branch"].value_counts().sort_values(kind="mergesort")
    # only the smallest: complementary suppression is the disclosure control's job (cells)
    assert [g.group for g in small] == [by_size.index[0]]
    assert small[0].to_dict() == {
        "group": small[0].group,
        "n": counts[small[0].group],
        "suppressed": True,
        "suppressed_reason": SMALL_GROUP,
    }
    # Holm over the 7 remaining groups only
    shown = [g for g in res.groups if not g.suppressed]
    assert len(shown) == 7
    raw_p = [g.constructs["REL"].p_unadjusted for g in shown]
    assert [g.constructs["REL"].p for g in shown] == pytest.approx(naive_holm(raw_p), rel=1e-9)
    # the suppressed group is still part of everyone else's "rest"
    g0 = shown[0].group
    x = scores.loc[raw["branch"] == g0, "REL"]
    y = scores.loc[raw["branch"] != g0, "REL"]
    assert shown[0].constructs["REL"].t == pytest.approx(
        sps.ttest_ind(x, y, equal_var=False).statistic, abs=ABS
    )


def test_overall_benchmark_and_only(raw: pd.DataFrame, scores: pd.DataFrame):
    cells = sufficient_stats(scores, raw, by=["branch"])
    res = group_scores(cells, by="branch", min_group_size=5)
    assert res.overall.constructs["SAT"].index == pytest.approx(
        (scores["SAT"].mean() - 1) / 6 * 100, abs=ABS
    )
    assert res.overall.n == len(raw)
    sub = res.only(["BR02"])
    assert [g.group for g in sub.groups] == ["BR02"]
    assert sub.groups[0] == next(g for g in res.groups if g.group == "BR02")


def test_trend_scores_have_cis_and_no_tests(raw: pd.DataFrame, scores: pd.DataFrame):
    keys = raw.assign(month=np.where(np.arange(len(raw)) < 1000, "2026-01", "2026-02"))
    res = trend_scores(sufficient_stats(scores, keys, by=["month"]), min_group_size=5)
    d = res.to_dict()
    assert [g["group"] for g in d["groups"]] == ["2026-01", "2026-02"]
    assert "vs_rest" not in d["groups"][0]["constructs"]["PV"]
    x = scores["PV"].iloc[1000:]
    lo, _ = sps.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=sps.sem(x))
    assert d["groups"][1]["constructs"]["PV"]["ci"][0] == pytest.approx((lo - 1) / 6 * 100, abs=ABS)


def test_degenerate_cells_give_none_not_nan():
    cells = pd.DataFrame(
        {
            "group": ["A", "B"],
            "construct": ["X", "X"],
            "n": [1, 3],
            "sum": [4.0, 12.0],
            "sumsq": [16.0, 48.0],
        }
    )
    d = group_scores(cells, min_group_size=1).to_dict()
    a = d["groups"][0]["constructs"]["X"]
    assert a["index"] == pytest.approx(50.0, abs=ABS)
    assert a["ci"] is None and a["vs_rest"]["p"] is None
    b = d["groups"][1]["constructs"]["X"]
    assert b["sd"] == pytest.approx(0.0, abs=ABS) and b["vs_rest"]["t"] is None


# ---- published counts, scales per construct, NPS and gaps -------------------------------------
def _cells(sizes: dict[str, int], mean: float = 4.0) -> pd.DataFrame:
    """One construct X; the i-th group has mean ``mean + i / 2``: scores m - 1, m + 1, ...
    (and one m when the group's size is odd)."""
    rows = []
    for i, (g, n) in enumerate(sizes.items()):
        m = mean + i * 0.5
        x = np.array([m + (1 if k % 2 else -1) for k in range(n - n % 2)] + [m] * (n % 2))
        rows.append({"group": g, "construct": "X", "n": n, "sum": x.sum(), "sumsq": (x**2).sum()})
    return pd.DataFrame(rows)


def test_groups_are_suppressed_by_their_published_respondents():
    # B has 30 respondents, but only 3 stand in published cells: count shown, metrics not
    cells = _cells({"A": 40, "B": 3, "C": 12})
    res = group_scores(
        cells,
        min_group_size=5,
        group_counts={"A": 40, "B": 30, "C": 12},
        published={"A": 40, "B": 3, "C": 12},
    )
    assert [(g.group, g.suppressed) for g in res.groups] == [
        ("A", False),
        ("B", True),
        ("C", False),
    ]
    assert res.groups[1].to_dict() == {
        "group": "B",
        "n": 30,
        "n_published": 3,
        "suppressed": True,
        "suppressed_reason": SMALL_GROUP,
    }
    assert res.overall.n == 82 and res.overall.n_published == 55
    # the shown groups' tests exclude the suppressed one from the Holm family (2 tests)
    shown = [g.constructs["X"] for g in res.groups if not g.suppressed]
    assert [c.p for c in shown] == pytest.approx(naive_holm([c.p_unadjusted for c in shown]))


def test_index_uses_each_constructs_own_scale_and_nps_and_gaps():
    x5 = np.array([1, 2, 5, 5, 4, 3], dtype=float)  # a 1-5 construct
    x10 = np.array([0, 10, 7, 3, 9, 8], dtype=float)  # a 0-10 construct
    nps = np.array([100, 100, 0, -100, 100, 0], dtype=float)  # 3 promoters, 1 detractor
    rows = [
        {"group": "G", "construct": c, "n": 6, "sum": v.sum(), "sumsq": (v**2).sum()}
        for c, v in (("P", x5), ("E", x10), ("R1", nps))
    ]
    res = group_scores(
        pd.DataFrame(rows),
        constructs=["P", "E"],
        scales={"P": (1.0, 5.0), "E": (0.0, 10.0)},
        nps=["R1"],
        gaps=[("GAP", "P", "E")],
        compare=False,
    )
    g = res.to_dict()["groups"][0]
    assert g["constructs"]["P"]["index"] == pytest.approx((x5.mean() - 1) / 4 * 100, abs=ABS)
    assert g["constructs"]["E"]["index"] == pytest.approx(x10.mean() * 10, abs=ABS)
    assert "R1" not in g["constructs"]
    assert g["nps"]["R1"]["nps"] == pytest.approx((3 - 1) / 6 * 100, abs=ABS)
    lo, hi = sps.t.interval(0.95, 5, loc=nps.mean(), scale=sps.sem(nps))
    assert g["nps"]["R1"]["ci"] == pytest.approx([lo, hi], abs=1e-9)
    gap = (x5.mean() - 1) / 4 * 100 - x10.mean() * 10
    assert g["gaps"]["GAP"]["gap"] == pytest.approx(gap, abs=ABS)


def test_no_small_group_hides_nothing():
    res = group_scores(_cells({"A": 5, "B": 6, "C": 100}), min_group_size=5)
    assert not any(g.suppressed or g.reason for g in res.groups)
    assert all("suppressed_reason" not in g.to_dict() for g in res.groups)


def test_trend_periods_get_the_same_rule():
    data = _cells({"2026-01": 30, "2026-02": 2, "2026-03": 20, "2026-04": 40})
    res = trend_scores(data, key="group", min_group_size=5)
    assert [(g.group, g.reason) for g in res.groups] == [
        ("2026-01", None),
        ("2026-02", SMALL_GROUP),
        ("2026-03", None),
        ("2026-04", None),
    ]
    assert "constructs" not in res.to_dict()["groups"][1]
