"""std.lv / std.nox, lavResiduals' raw and standardized residuals and fitted() against lavaan
0.6.14 (tests/data/lavaan_outputs2.R -> lavaan_outputs2.json): HS CFA (ML, FIML), political
democracy SEM, HS by school with equal loadings, HS with observed covariates (fixed.x); and the
standardized residuals of MLR (complete data and FIML) and of ML with FIML on HS and on the
telecom sample's missing cells (tests/data/residuals_std_robust.R -> residuals_std_robust.json).

Tolerances at the agreement measured (pvm's optimum and lavaan's differ by ~1e-6 in the
estimates): std.lv, std.all, std.nox 2e-5 absolute (8.7e-6 measured, hs_groups); raw residuals
and fitted moments 1e-5 absolute (6.5e-6 measured, PD); standardized residuals (residual over
its standard error: a small residual's error is magnified) 1e-4 absolute on HS (9.2e-5
measured, hs_x; 6.3e-5 measured with FIML), 3e-4 by school (2.1e-4 measured) and 5e-4 on PD (3.4e-4 measured, where
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
Z_ABS = {"hs_ml": 1e-4, "hs_groups": 3e-4, "hs_x": 1e-4, "pd_ml": 5e-4, "hs_fiml": 1e-4}
# FIML mean residuals are EM mean minus model mean, ~1e-3 here, agreeing to ~2e-6 (0.2%): their
# z statistics agree to 5.9e-4 measured
Z_MEAN_ABS = {"hs_fiml": 1e-3}
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
        assert _cells(part(resid["std"], g), b["std"]["cov"], Z_ABS[name]) > 0
        if b["std"]["mean"]:
            tol = Z_MEAN_ABS.get(name, Z_ABS[name])
            _cells(part(resid["std.mean"], g), b["std"]["mean"], tol)


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
        assert "residuals.std" in tables
    est = tables["estimates"]
    assert {"std.lv", "std.all", "std.nox"} <= set(est.columns)


# lavResiduals' cov.z / mean.z beyond ML on complete data (residuals_std_robust.json). Measured
# agreement, written beside each tolerance: (cov.z, mean.z). On telecom with FIML the raw
# residuals themselves (EM moments of NQ1, 71% missing, minus the model's) agree to 0.4%
# relative: the z statistics differ by the same relative amount, their standard errors by
# far less (checked by SE_REL below).
ROBUST = load_json("residuals_std_robust")
ROBUST_TOL = {
    "hs_mlr": (3e-5, None),  # 1.3e-5; no mean structure, as lavaan
    "hs_fiml_mlr": (1e-4, 1e-3),  # 6.1e-5, 5.8e-4
    "telecom_mlr": (1e-5, None),  # 4.4e-6 (listwise, n = 185)
    "telecom_fiml": (3e-3, 2e-3),  # 2.4e-3, 1.4e-3
    "telecom_fiml_mlr": (3e-3, 2e-3),  # 2.3e-3, 1.5e-3
}
# the residuals' standard errors implied by raw / z (cells with |z| > 0.5), relative: 3.2e-5
# measured (telecom_fiml_mlr), 2e-6 on HS
SE_REL = 1e-4


def robust_fit(name: str) -> dict[str, Any]:
    models = ROBUST["models"]
    hs = pd.read_csv(DATA / "holzinger_swineford_1939.csv")
    tc = pd.read_csv(DATA / "telecom_1500.csv")
    args: dict[str, tuple[pd.DataFrame, str, dict[str, Any]]] = {
        "hs_mlr": (hs, models["HS"], {"missing": "listwise"}),
        "hs_fiml_mlr": (hs_missing(), models["HS"], {"missing": "fiml"}),
        "telecom_mlr": (tc, models["TC"], {"missing": "listwise"}),
        "telecom_fiml": (tc, models["TC"], {"missing": "fiml"}),
        "telecom_fiml_mlr": (tc, models["TC"], {"missing": "fiml"}),
    }
    data, model, kw = args[name]
    estimator = "ML" if name == "telecom_fiml" else "MLR"
    return fit_model(data, model, estimator=estimator, **kw).to_dict()["residuals"]


@pytest.mark.parametrize("name", list(ROBUST_TOL))
def test_standardized_residuals_of_mlr_and_fiml_match_lavaan(name: str) -> None:
    resid, ref = robust_fit(name), ROBUST[name]
    cov_tol, mean_tol = ROBUST_TOL[name]
    assert _cells(resid["std"], ref["std"]["cov"], cov_tol) == len(ref["std"]["cov"]) ** 2
    if mean_tol is None:
        assert not ref["std"]["mean"] and "std.mean" not in resid
    else:
        assert _cells(resid["std.mean"], ref["std"]["mean"], mean_tol) > 0
    checked = 0
    for a, row in ref["std"]["cov"].items():
        for b, z in row.items():
            if abs(z) > 0.5:
                se_ref = ref["raw"]["cov"][a][b] / z
                se = resid["raw"][a][b] / resid["std"][a][b]
                assert se == pytest.approx(se_ref, rel=SE_REL), (a, b)
                checked += 1
    assert checked > 0


def test_no_standardized_residuals_beyond_the_pattern_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Observed information costs ~ sum of p_observed^4 over missing-data patterns: beyond
    MAX_Z_COST the result has raw residuals but no ``std`` (expected information unaffected)."""
    monkeypatch.setattr("app.stats.sem.fit.MAX_Z_COST", 0)
    hs = pd.read_csv(DATA / "holzinger_swineford_1939.csv")
    model = ROBUST["models"]["HS"]
    fiml = fit_model(hs_missing(), model, missing="fiml").to_dict()["residuals"]
    assert "raw" in fiml and "std" not in fiml and "std.mean" not in fiml
    ml = fit_model(hs, model, missing="listwise").to_dict()["residuals"]
    assert "std" in ml
