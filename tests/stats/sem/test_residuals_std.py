"""std.lv / std.nox, lavResiduals' raw and standardized residuals and fitted() against lavaan
0.6.14 (tests/data/lavaan_outputs2.R -> lavaan_outputs2.json): HS CFA (ML, FIML), political
democracy SEM, HS by school with equal loadings, HS with observed covariates (fixed.x).

Tolerances at the agreement measured (pvm's optimum and lavaan's differ by ~1e-6 in the
estimates): std.lv, std.all, std.nox 2e-5 absolute (8.7e-6 measured, hs_groups); raw residuals
and fitted moments 1e-5 absolute (6.5e-6 measured, PD); standardized residuals (residual over
its standard error: a small residual's error is magnified) 1e-4 absolute on HS (9.2e-5
measured, hs_x), 3e-4 by school (2.1e-4 measured) and 5e-4 on PD (3.4e-4 measured, where
its raw residuals agree to 6.5e-6).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from app.fits.tables import fit_tables
from app.stats.sem import fit_model
from tests.stats.sem.golden import DATA, load_json
from tests.stats.sem.test_diagnostics import hs_missing

REF = load_json("lavaan_outputs2")
STD_ABS, MOMENT_ABS = 2e-5, 1e-5
Z_ABS = {"hs_ml": 1e-4, "hs_groups": 3e-4, "hs_x": 1e-4, "pd_ml": 5e-4}
CASES = ["hs_ml", "hs_fiml", "pd_ml", "hs_groups", "hs_x"]


def fit(name: str) -> dict[str, Any]:
    hs = pd.read_csv(DATA / "holzinger_swineford_1939.csv")
    models = REF["models"]
    args: dict[str, tuple[pd.DataFrame, str, dict[str, Any]]] = {
        "hs_ml": (hs, models["HS"], {"missing": "listwise"}),
        "hs_fiml": (hs_missing(), models["HS"], {"missing": "fiml"}),
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
        "hs_x": (hs, models["HSX"], {"missing": "listwise"}),
    }
    data, model, kw = args[name]
    return fit_model(data, model, **kw).to_dict()


@pytest.fixture(scope="module", params=CASES)
def case(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any], dict[str, Any]]:
    return request.param, fit(request.param), REF[request.param]


def test_std_lv_all_nox_match_parameter_estimates(case: tuple[str, Any, Any]) -> None:
    name, res, ref = case
    mine = {(e["lhs"], e["op"], e["rhs"], e["group"]): e for e in res["estimates"]}
    rows = [r for r in ref["estimates"] if r["op"] != "=="]
    assert len(rows) == len(mine)
    differs = False
    for r in rows:
        e = mine[(r["lhs"], r["op"], r["rhs"], r["group"])]
        for k in ("std.lv", "std.all", "std.nox"):
            assert e[k] == pytest.approx(r[k], abs=STD_ABS), (k, r)
        differs |= abs(r["std.nox"] - r["std.all"]) > 1e-3
    assert differs == (name == "hs_x")  # std.nox differs only with covariates


def _cells(mine: dict[str, Any], ref: dict[str, Any], tol: float) -> int:
    assert set(mine) == set(ref)
    n = 0
    for a, row in ref.items():
        if isinstance(row, dict):
            n += _cells(mine[a], row, tol)
        elif row is None:
            assert mine[a] is None, a
        else:
            assert mine[a] == pytest.approx(row, abs=tol), a
            n += 1
    return n


def test_raw_and_standardized_residuals_and_fitted_match_lavaan(
    case: tuple[str, Any, Any],
) -> None:
    name, res, ref = case
    blocks = ref["blocks"]
    resid, fitted = res["residuals"], res["fitted"]

    def part(obj: dict[str, Any] | None, g: str) -> Any:
        return obj[g] if obj is not None and len(blocks) > 1 else obj

    for g, b in blocks.items():
        assert _cells(part(resid["raw"], g), b["raw"]["cov"], MOMENT_ABS) > 0
        assert _cells(part(fitted["cov"], g), b["fitted"]["cov"], MOMENT_ABS) > 0
        if b["raw"]["mean"]:
            _cells(part(resid["raw.mean"], g), b["raw"]["mean"], MOMENT_ABS)
            _cells(part(fitted["mean"], g), b["fitted"]["mean"], MOMENT_ABS)
        else:
            assert "raw.mean" not in resid and "mean" not in fitted
        if name == "hs_fiml":  # lavaan's formula is the normal-theory one of complete data
            assert "std" not in resid
            continue
        assert _cells(part(resid["std"], g), b["std"]["cov"], Z_ABS[name]) > 0
        if b["std"]["mean"]:
            _cells(part(resid["std.mean"], g), b["std"]["mean"], Z_ABS[name])


def test_residual_and_fitted_tables_are_downloadable(case: tuple[str, Any, Any]) -> None:
    name, res, _ref = case
    tables = {t.name: t for t in fit_tables(res)}
    if name == "hs_groups":
        assert {"residuals.raw.Pasteur", "residuals.std.Grant-White", "fitted.cov.Pasteur"} <= set(
            tables
        )
        assert tables["fitted.mean"].columns[0] == "group"
        assert tables["residuals.raw.mean"].columns[0] == "group"
        assert [r[0] for r in tables["residuals.std.mean"].rows] == ["Pasteur", "Grant-White"]
    else:
        raw = tables["residuals.raw"]
        assert raw.columns == ["variable", *res["residuals"]["raw"]]
        assert raw.rows[1][2] == res["residuals"]["raw"][raw.rows[1][0]][raw.columns[2]]
        assert tables["fitted.cov"].columns[0] == "variable"
        assert ("residuals.std" in tables) == (name != "hs_fiml")
    est = tables["estimates"]
    assert {"std.lv", "std.all", "std.nox"} <= set(est.columns)
