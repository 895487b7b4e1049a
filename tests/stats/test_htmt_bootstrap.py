"""Bootstrap of HTMT / HTMT2 with percentile intervals (issue 14 item 6).

Reference: tests/data/htmt_bootstrap.json (tests/data/htmt_bootstrap.R, semTools 0.5-6 on
lavaan 0.6.14): semTools::htmt on each resample of the rows that pvm's ``bootstrap_rows`` drew
(tests/data/htmt_bootstrap_rows.py writes them, 1-based), then lavaan's percentile rule (boot's
norm.inter) and the sd of the draws, for the Holzinger-Swineford three factors, complete and
with missing cells (``missing = "ml"``). Tolerances at the agreement measured: complete data
1e-12 (the same arithmetic; 1.1e-13 measured); missing data 2e-6 (semTools' EM stops at
lavaan's default tolerance; 9e-7 measured).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app.stats.reliability_report import reliability_report
from app.stats.validity import ValidityError, bootstrap_rows, htmt_bootstrap

DATA = Path(__file__).resolve().parents[1] / "data"
REF = json.loads((DATA / "htmt_bootstrap.json").read_text())
ROWS = json.loads((DATA / "htmt_bootstrap_rows.json").read_text())
CONSTRUCTS = {
    "visual": ["x1", "x2", "x3"],
    "textual": ["x4", "x5", "x6"],
    "speed": ["x7", "x8", "x9"],
}
TOL = {"hs_complete": 1e-12, "hs_missing": 2e-6}


def hs(missing: bool) -> pd.DataFrame:
    d = pd.read_csv(DATA / "holzinger_swineford_1939.csv")
    if missing:
        d.loc[d.index[::7], "x1"] = np.nan
        d.loc[d.index[2::11], "x5"] = np.nan
    return d


@pytest.mark.parametrize("name", ["hs_complete", "hs_missing"])
def test_htmt_bootstrap_matches_semtools_on_the_same_resamples(name: str) -> None:
    case = ROWS[name]
    data = hs(case["missing"])
    items = [i for its in CONSTRUCTS.values() for i in its]
    rows = bootstrap_rows(data[items].to_numpy(dtype=float), case["draws"], case["seed"])
    assert (rows + 1).tolist() == case["rows"]  # the draws R used are the ones pvm makes
    res = htmt_bootstrap(data, CONSTRUCTS, draws=case["draws"], seed=case["seed"])
    out = res.to_dict()
    assert (out["draws"], out["succeeded"], out["dropped"]) == (case["draws"], case["draws"], {})
    assert (out["interval"], out["level"], out["seed"]) == ("perc", 0.95, case["seed"])
    ref = REF[name]
    assert [[p["construct1"], p["construct2"]] for p in out["pairs"]] == ref["pairs"]
    tol = TOL[name]
    for k, pair in enumerate(out["pairs"]):
        for key, prefix in (("htmt", ""), ("htmt2", "htmt2.")):
            r = ref[key]
            assert pair[key] == pytest.approx(r["est"][k], abs=tol)
            assert pair[f"{prefix}se"] == pytest.approx(r["se"][k], abs=tol)
            assert pair[f"{prefix}ci.lower"] == pytest.approx(r["lower"][k], abs=tol)
            assert pair[f"{prefix}ci.upper"] == pytest.approx(r["upper"][k], abs=tol)
            assert pair[f"{prefix}ci.lower"] <= pair[key] <= pair[f"{prefix}ci.upper"]


def test_same_seed_same_numbers_whatever_the_row_order() -> None:
    data = hs(True)
    a = htmt_bootstrap(data, CONSTRUCTS, draws=20, seed=5).to_dict()
    shuffled = data.sample(frac=1.0, random_state=11).reset_index(drop=True)
    b = htmt_bootstrap(shuffled, CONSTRUCTS, draws=20, seed=5).to_dict()
    assert a == b
    c = htmt_bootstrap(data, CONSTRUCTS, draws=20, seed=6).to_dict()
    assert c["pairs"] != a["pairs"]


def test_dropped_draws_are_counted_and_bad_counts_refused() -> None:
    rng = np.random.default_rng(2)
    d = pd.DataFrame(rng.normal(size=(12, 4)), columns=["a", "b", "c", "d"])
    d.loc[1:, "a"] = 0.0  # one non-zero value: resamples without that row have a constant a
    res = htmt_bootstrap(d, {"A": ["a", "b"], "C": ["c", "d"]}, draws=30, seed=1)
    assert res.dropped == {"item without variance": 30 - res.succeeded}
    assert 0 < res.succeeded < 30
    with pytest.raises(ValidityError, match="draws must be between 1 and"):
        htmt_bootstrap(d, {"A": ["a", "b"], "C": ["c", "d"]}, draws=0)


def test_reliability_report_carries_the_bootstrap() -> None:
    data = hs(True)
    report = reliability_report(data, CONSTRUCTS, htmt_draws=10, seed=3).to_dict()
    boot = report["htmt_bootstrap"]
    pair = boot["pairs"][0]
    assert pair["htmt"] == pytest.approx(report["htmt"]["visual"]["textual"], abs=1e-8)
    assert pair["htmt2"] == pytest.approx(report["htmt2"]["visual"]["textual"], abs=1e-8)
    assert boot["missing"] == "ml" and boot["succeeded"] == 10
    assert "htmt_bootstrap" not in reliability_report(data, CONSTRUCTS).to_dict()
