"""EFA that warns (issue 14 item 7): pairwise correlations as ``psych::fa(use = "pairwise")``,
what listwise deletion kept, and loadings sorted with small ones blanked.

Reference: tests/data/efa_pairwise.json (tests/data/efa_pairwise.R, psych 2.2.9) on
telecom_1500's TAN, REL and NQ items, of which only 185 of 1,500 rows are complete (the NQ items
allow "not applicable"). Tolerances: the pairwise correlations and KMO 1e-12 (the same
arithmetic); loadings and communalities 1e-4 after matching factors (minres / ml optimisers
differ: factor_analyzer's against psych's, measured 2e-5).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app.stats.efa import EFAError, kmo, run_efa
from tests.stats.test_efa import matched_max_error, ref_loadings

DATA = Path(__file__).resolve().parents[1] / "data"
REF = json.loads((DATA / "efa_pairwise.json").read_text())
LOAD_ABS = 1e-4


@pytest.fixture(scope="module")
def telecom() -> pd.DataFrame:
    return pd.read_csv(DATA / "telecom_1500.csv")


def test_pairwise_correlations_and_kmo_are_psychs(telecom: pd.DataFrame) -> None:
    items = REF["items"]
    corr = telecom[items].corr().to_numpy()
    np.testing.assert_allclose(corr, np.array(REF["cor"]), atol=1e-12)
    assert kmo(corr)[0] == pytest.approx(REF["kmo"], abs=1e-12)


@pytest.mark.parametrize(
    ("key", "method", "rotation"),
    [("minres_oblimin", "minres", "oblimin"), ("ml_varimax", "ml", "varimax")],
)
def test_pairwise_loadings_match_psych(
    telecom: pd.DataFrame, key: str, method: str, rotation: str
) -> None:
    theirs = ref_loadings(REF[key]["loadings"])
    res = run_efa(
        telecom, REF["items"], n_factors=3, method=method, rotation=rotation, use="pairwise"
    )
    assert matched_max_error(res.loadings, theirs) < LOAD_ABS
    for item, h2 in REF[key]["communalities"].items():
        assert res.communalities[item] == pytest.approx(h2, abs=LOAD_ABS)
    pairs = np.array(REF["pairwise_n"])
    out = res.to_dict()
    assert (out["use"], out["n_rows"], out["n_complete"]) == ("pairwise", 1500, 185)
    assert out["n_pairwise_min"] == res.n == int(pairs.min()) == 262
    assert out["warnings"] == [] and out["n_dropped"] == 0


def test_listwise_deletion_is_reported_and_warned(telecom: pd.DataFrame) -> None:
    res = run_efa(telecom, REF["items"], n_factors=3)
    out = res.to_dict()
    assert (out["n"], out["n_rows"], out["n_complete"], out["n_dropped"]) == (185, 1500, 185, 1315)
    missing = telecom[REF["items"]].isna().sum()
    assert out["missing_by_item"] == {c: int(missing[c]) for c in REF["items"]}
    (warning,) = out["warnings"]
    assert warning.startswith("listwise deletion kept 185 of 1500 rows (12%)")
    assert f"NQ1 ({int(missing['NQ1'])} missing)" in warning and "use=pairwise" in warning
    complete_only = run_efa(telecom, [f"TAN{k}" for k in (1, 2, 3)] + ["REL1", "REL2"], n_factors=1)
    assert complete_only.to_dict()["warnings"] == []


def test_sorted_loadings_blank_the_small_ones(telecom: pd.DataFrame) -> None:
    res = run_efa(telecom, REF["items"], n_factors=3, use="pairwise")
    rows = res.to_dict()["loadings_sorted"]
    assert rows["cut"] == 0.3
    table = res.loadings
    seen = []
    for row in rows["rows"]:
        full = table.loc[row["item"]]
        peak = int(np.argmax(np.abs(full.to_numpy())))
        seen.append((peak, -abs(float(full.iloc[peak]))))
        for f, v in full.items():
            assert row[f] == (float(v) if abs(v) >= 0.3 else None)
    assert seen == sorted(seen) and len(seen) == len(REF["items"])
    prefixes = [r["item"].rstrip("0123456789") for r in rows["rows"]]
    runs = [p for k, p in enumerate(prefixes) if k == 0 or p != prefixes[k - 1]]
    assert sorted(runs) == ["NQ", "REL", "TAN"]  # each construct's items together


def test_pairwise_refuses_pairs_with_too_few_rows() -> None:
    rng = np.random.default_rng(1)
    df = pd.DataFrame(rng.normal(size=(60, 4)), columns=list("abcd"))
    df.loc[:54, "a"] = np.nan
    df.loc[5:, "b"] = np.nan
    with pytest.raises(EFAError, match="too few rows with both a and b"):
        run_efa(df, list("abcd"), n_factors=1, use="pairwise")
    with pytest.raises(EFAError, match="unknown use"):
        run_efa(df, list("abcd"), n_factors=1, use="everything")
