from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from app.instruments.registry import get_instrument
from app.stats.simulate import (
    CONSTRUCT_ITEMS,
    FRAME_COLUMNS,
    ITEM_CODES,
    PopulationModel,
    simulate_responses,
)

BRANCHES = [f"BR{i:02d}" for i in range(1, 9)]
START = datetime(2026, 1, 1, tzinfo=UTC)
NQ = CONSTRUCT_ITEMS["NQ"]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return simulate_responses(20_000, seed=7, branches=BRANCHES, start=START, months=12)


def scale_scores(df: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {c: df[items].astype("float64").mean(axis=1) for c, items in CONSTRUCT_ITEMS.items()}
    )


def test_item_codes_are_the_instruments() -> None:
    spec = get_instrument("telecom-pv")
    assert spec.item_codes == ITEM_CODES
    assert spec.construct_items == CONSTRUCT_ITEMS
    assert ["branch", "customer_type", "tenure", "submitted_at", *ITEM_CODES] == FRAME_COLUMNS


def test_seeded_reproducibility() -> None:
    a = simulate_responses(500, seed=3, branches=BRANCHES, start=START, months=6)
    b = simulate_responses(500, seed=3, branches=BRANCHES, start=START, months=6)
    c = simulate_responses(500, seed=4, branches=BRANCHES, start=START, months=6)
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
    df = simulate_responses(5000, seed=1, branches=BRANCHES, start=START, months=3, model=flat)
    r = scale_scores(df).corr()
    assert abs(r.loc["REL", "PV"]) < 0.1


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="branch"):
        simulate_responses(10, seed=1, branches=[], start=START, months=1)
    with pytest.raises(ValueError, match="n must be"):
        simulate_responses(-1, seed=1, branches=BRANCHES, start=START, months=1)
    with pytest.raises(ValueError, match="months"):
        simulate_responses(10, seed=1, branches=BRANCHES, start=START, months=0)
    assert len(simulate_responses(0, seed=1, branches=BRANCHES, start=START, months=1)) == 0
