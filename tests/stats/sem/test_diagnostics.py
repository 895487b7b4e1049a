"""modindices, lavResiduals and standardizedSolution's se against lavaan 0.6.14
(tests/data/lavaan_outputs.R -> lavaan_outputs.json): HS CFA (ML, FIML, MLR), political
democracy SEM, HS by school with equal loadings.

Tolerances at the agreement measured (pvm's optimum and lavaan's differ by ~1e-6 in the
estimates, and these statistics are derivatives at the optimum): mi 3e-6 relative plus 2e-4
absolute (1.5e-4 measured, on mi up to 36); epc and sepc.all 3e-5 absolute (1.9e-5 measured, PD);
correlation residuals 5e-6 absolute (3.7e-6 measured); se.std 3e-6 absolute (1.7e-6, MLR).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from app.stats.sem import SemResult, fit_model
from tests.stats.sem.golden import DATA, load_json

REF = load_json("lavaan_outputs")
MI_ABS, MI_REL, EPC_ABS, RESID_ABS, SE_STD_ABS = 2e-4, 3e-6, 3e-5, 5e-6, 3e-6


def hs_missing() -> pd.DataFrame:
    """HS with the cells lavaan_outputs.R sets missing (every 7th x1 from row 1, every 11th x5
    from row 3)."""
    d = pd.read_csv(DATA / "holzinger_swineford_1939.csv")
    d.loc[d.index[::7], "x1"] = np.nan
    d.loc[d.index[2::11], "x5"] = np.nan
    return d


def case(name: str) -> tuple[SemResult, dict[str, Any]]:
    hs = pd.read_csv(DATA / "holzinger_swineford_1939.csv")
    models = REF["models"]
    args: dict[str, tuple[pd.DataFrame, str, dict[str, Any]]] = {
        "hs_ml": (hs, models["HS"], {"missing": "listwise"}),
        "hs_fiml": (hs_missing(), models["HS"], {"missing": "fiml"}),
        "hs_mlr": (hs, models["HS"], {"missing": "listwise", "estimator": "MLR"}),
        "pd_ml": (
            pd.read_csv(DATA / "political_democracy.csv"),
            models["PD"],
            {"missing": "listwise"},
        ),
        "hs_groups": (
            hs,
            models["HS"],
            {"missing": "listwise", "group": "school", "group_equal": ("loadings",)},
        ),
    }
    data, model, kw = args[name]
    return fit_model(data, model, **kw), REF[name]


CASES = ["hs_ml", "hs_fiml", "hs_mlr", "pd_ml", "hs_groups"]


def key(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["lhs"], row["op"], row["rhs"], row.get("group"))


@pytest.mark.parametrize("name", CASES)
def test_modification_indices_match_lavaan(name: str) -> None:
    res, ref = case(name)
    mine = res.to_dict()["modindices"]
    theirs = ref["modindices"]
    # the same rows, sorted by mi (rows whose mi tie may come in either order)
    assert sorted(map(key, mine), key=str) == sorted(map(key, theirs), key=str)
    for a, b in zip(mine, theirs, strict=True):
        assert a["mi"] == pytest.approx(b["mi"], rel=MI_REL, abs=MI_ABS)
    by_key = {key(r): r for r in theirs}
    for a in mine:
        b = by_key[key(a)]
        assert a["mi"] == pytest.approx(b["mi"], rel=MI_REL, abs=MI_ABS), key(a)
        assert a["epc"] == pytest.approx(b["epc"], abs=EPC_ABS), key(a)
        assert a["sepc.all"] == pytest.approx(b["sepc.all"], abs=EPC_ABS), key(a)
        assert set(a) == {"lhs", "op", "rhs", "mi", "epc", "sepc.all"} | (
            {"group"} if "group" in b else set()
        )


@pytest.mark.parametrize("name", CASES)
def test_correlation_residuals_match_lav_residuals(name: str) -> None:
    res, ref = case(name)
    mine = res.to_dict()["residuals"]
    theirs = ref["residuals"]
    pairs = (
        [(mine["cor"], theirs["cor"], mine.get("mean"), theirs.get("mean"))]
        if name != "hs_groups"
        else [
            (mine["cor"][g], theirs[g]["cor"], mine["mean"][g], theirs[g]["mean"]) for g in theirs
        ]
    )
    for cor, ref_cor, mean, ref_mean in pairs:
        assert set(cor) == set(ref_cor)
        for a in ref_cor:
            for b, value in ref_cor[a].items():
                assert cor[a][b] == pytest.approx(value, abs=RESID_ABS), (a, b)
        assert (mean is None) == (not ref_mean)
        for v, value in (ref_mean or {}).items():
            assert mean[v] == pytest.approx(value, abs=RESID_ABS), v


@pytest.mark.parametrize("name", CASES)
def test_standardized_solution_se_matches_lavaan(name: str) -> None:
    res, ref = case(name)
    rows = {
        (r["lhs"], r["op"], r["rhs"], r["group"]): r for r in ref["standardized"] if r["op"] != "=="
    }
    estimates = res.to_dict()["estimates"]
    assert len(estimates) == len(rows)
    for e in estimates:
        r = rows[(e["lhs"], e["op"], e["rhs"], e["group"])]
        assert e["est.std"] == e["std.all"]
        assert e["est.std"] == pytest.approx(r["est.std"], abs=2e-5)
        if r["se.std"] is None or math.isnan(r["se.std"]):
            assert e["se.std"] in (None, 0.0)
        else:
            assert e["se.std"] == pytest.approx(r["se.std"], abs=SE_STD_ABS), key(e)
