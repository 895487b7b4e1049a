"""Demo data (app/demo.py): the telecom population model read from the instrument (both
versions of telecom-pv), and the fallback for any instrument."""

from datetime import UTC, datetime
from functools import partial

import numpy as np
import pandas as pd
import pytest

from app.demo import (
    DEMO_BRANCHES,
    PopulationModel,
    demo_frame,
    population_problems,
    simulate_responses,
)
from app.instruments.registry import get_instrument

BRANCHES = [f"BR{i:02d}" for i in range(1, 9)]
START = datetime(2026, 1, 1, tzinfo=UTC)
V1 = get_instrument("telecom-pv", version=1)
V2 = get_instrument("telecom-pv", version=2)
CONSTRUCT_ITEMS = V1.construct_items
ITEM_CODES = V1.item_codes
FRAME_COLUMNS = ["branch", "customer_type", "tenure", "submitted_at", *ITEM_CODES]
NQ = CONSTRUCT_ITEMS["NQ"]
simulate_v1 = partial(simulate_responses, V1)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return simulate_v1(20_000, seed=7, branches=BRANCHES, start=START, months=12)


def scale_scores(df: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {c: df[items].astype("float64").mean(axis=1) for c, items in CONSTRUCT_ITEMS.items()}
    )


def test_both_telecom_versions_fit_the_population_model() -> None:
    assert population_problems(V1) == [] and population_problems(V2) == []
    retail = get_instrument("retail-pv")
    assert "no construct TAN" in population_problems(retail)
    with pytest.raises(ValueError, match="does not fit the population model"):
        simulate_responses(retail, 10, seed=1, branches=BRANCHES, start=START)


def test_version_2_items_and_networks() -> None:
    df = simulate_responses(V2, 20_000, seed=7, branches=BRANCHES, start=START)
    assert list(df.columns) == ["branch", "customer_type", "tenure", "submitted_at", *V2.item_codes]
    missing = df[V2.item_codes].isna().mean()
    na_able = [c for c in V2.item_codes if V2.items_by_code[c].allow_na]
    assert sorted(missing[missing > 0].index) == sorted(na_able)
    use = PopulationModel().use_p
    for code in na_able:  # the share not using a network, within 3 binomial SDs
        p = 1 - use[code]
        assert abs(missing[code] - p) < 3 * np.sqrt(p * (1 - p) / 20_000), code
    r = df[V2.construct_items["PV"]].astype("float64").corr().to_numpy()
    assert r[np.triu_indices(3, 1)].min() > 0.35


def test_demo_frame_picks_the_generator() -> None:
    frame = demo_frame(V2, 50, seed=1, start=START)
    assert set(frame["branch"]) <= {code for code, _, _ in DEMO_BRANCHES}
    assert frame["submitted_at"].map(type).eq(str).all()
    assert list(frame.columns)[4:] == V2.item_codes
    retail = get_instrument("retail-pv")
    other = demo_frame(retail, 50, seed=1, start=START)
    assert set(retail.item_codes) <= set(other.columns) and len(other) == 50


def test_seeded_reproducibility() -> None:
    a = simulate_v1(500, seed=3, branches=BRANCHES, start=START, months=6)
    b = simulate_v1(500, seed=3, branches=BRANCHES, start=START, months=6)
    c = simulate_v1(500, seed=4, branches=BRANCHES, start=START, months=6)
    pd.testing.assert_frame_equal(a, b)
    assert not a[ITEM_CODES].equals(c[ITEM_CODES])


def test_columns_types_and_ranges(frame: pd.DataFrame) -> None:
    assert list(frame.columns) == FRAME_COLUMNS
    assert len(frame) == 20_000
    for code in ITEM_CODES:
        assert str(frame[code].dtype) == "Int64"
        values = frame[code].dropna()
        assert values.between(1, 7).all()
        # every scale point is used
        assert set(values.unique()) == set(range(1, 8)), code
    assert set(frame["branch"]) == set(BRANCHES)
    assert set(frame["customer_type"]) == {"key_account", "business", "consumer"}
    assert set(frame["tenure"]) == {"first_time", "short_term", "long_term", "lapsed"}


def test_submitted_at_within_window_and_sorted(frame: pd.DataFrame) -> None:
    ts = frame["submitted_at"]
    assert str(ts.dt.tz) == "UTC"
    assert ts.min() >= pd.Timestamp(START)
    assert ts.max() < pd.Timestamp(datetime(2027, 1, 1, tzinfo=UTC))
    assert ts.is_monotonic_increasing
    # spread over the whole year, not bunched at the start
    assert ts.dt.month.nunique() == 12


def test_na_only_on_nq_with_a_plausible_share(frame: pd.DataFrame) -> None:
    missing = frame[ITEM_CODES].isna()
    assert not missing.drop(columns=NQ).any().any()
    share = missing[NQ].mean()
    # PHS is rare, mobile almost universal (as in telecom_1500.csv)
    assert share["NQ1"] > 0.5 and share["NQ4"] < 0.15
    assert share["NQ1"] > share["NQ2"] > share["NQ3"] > share["NQ4"]
    complete = (~missing[NQ].any(axis=1)).mean()
    assert 0.05 < complete < 0.25
    assert frame["customer_type"].notna().all() and frame["tenure"].notna().all()


def test_structural_paths_hold(frame: pd.DataFrame) -> None:
    s = scale_scores(frame)
    r = s.corr()
    assert r.loc["PV", "LOY"] > 0.3
    assert r.loc["PV", "SAT"] > 0.4
    assert r.loc["PV", "CCI"] > 0.3
    assert r.loc["CCI", "LOY"] > 0.3
    # PV on the six drivers: every coefficient positive, R² substantial
    drivers = ["TAN", "REL", "RES", "ASS", "EMP", "NQ"]
    sub = s[[*drivers, "PV"]].dropna()
    x = np.column_stack([np.ones(len(sub)), sub[drivers].to_numpy()])
    coef, *_ = np.linalg.lstsq(x, sub["PV"].to_numpy(), rcond=None)
    assert (coef[1:] > 0).all()
    # LOY on CCI, SAT, PV: all positive (mediation path and direct paths)
    x = np.column_stack([np.ones(len(s)), s[["CCI", "SAT", "PV"]].to_numpy()])
    coef, *_ = np.linalg.lstsq(x, s["LOY"].to_numpy(), rcond=None)
    assert (coef[1:] > 0).all()


def test_items_load_on_their_construct(frame: pd.DataFrame) -> None:
    r = frame[ITEM_CODES].astype("float64").corr()
    for items in CONSTRUCT_ITEMS.values():
        within = r.loc[items, items].to_numpy()[np.triu_indices(len(items), 1)]
        assert within.min() > 0.35


def test_groups_differ(frame: pd.DataFrame) -> None:
    s = scale_scores(frame).assign(branch=frame["branch"], tenure=frame["tenure"])
    by_branch = s.groupby("branch")["REL"].mean()
    assert by_branch.max() - by_branch.min() > 0.2
    by_tenure = s.groupby("tenure")["LOY"].mean()
    assert by_tenure["lapsed"] < by_tenure["long_term"] - 0.2


def test_model_parameters_matter() -> None:
    flat = PopulationModel(beta_pv=(0.0,) * 6)
    df = simulate_v1(5000, seed=1, branches=BRANCHES, start=START, months=3, model=flat)
    r = scale_scores(df).corr()
    assert abs(r.loc["REL", "PV"]) < 0.1


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="branch"):
        simulate_v1(10, seed=1, branches=[], start=START, months=1)
    with pytest.raises(ValueError, match="n must be"):
        simulate_v1(-1, seed=1, branches=BRANCHES, start=START, months=1)
    with pytest.raises(ValueError, match="months"):
        simulate_v1(10, seed=1, branches=BRANCHES, start=START, months=0)
    assert len(simulate_v1(0, seed=1, branches=BRANCHES, start=START, months=1)) == 0
