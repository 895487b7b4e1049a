"""lavTestLRT tables from fit measures against lavaan 0.6.14 (tests/data/lavaan_outputs.R):
1 vs 3 factors on HS (ML, MLR with the Satorra-Bentler 2001 scaled difference, FIML) and
configural vs metric by school (ML, MLR).

Tolerances: chi-squares and their ML differences 1e-6 relative (the fit measures' own tolerance
in golden.py); AIC/BIC 1e-6 relative; RMSEA and p-values 1e-6 absolute; Df exact. The scaled
(MLR) difference 5e-5 relative (1.7e-5 measured): ``cd = (df1 c1 - df0 c0) / (df1 - df0)``
multiplies the scaling factors' 3e-6 agreement by df1 / (df1 - df0), 9 for 1 vs 3 factors.
"""

from __future__ import annotations

from typing import Any

import pytest

from app.stats.sem import fit_model, lrt_table
from tests.stats.sem.golden import DATA, load_json
from tests.stats.sem.test_diagnostics import hs_missing

REF = load_json("lavaan_outputs")["lrt"]
MODELS = load_json("lavaan_outputs")["models"]


def hs() -> Any:
    import pandas as pd

    return pd.read_csv(DATA / "holzinger_swineford_1939.csv")


CASES: dict[str, tuple[list[dict[str, Any]], dict[str, Any]]] = {
    "one_vs_three_ml": ([{"model": "HS1"}, {"model": "HS"}], {"missing": "listwise"}),
    "one_vs_three_mlr": (
        [{"model": "HS1"}, {"model": "HS"}],
        {"missing": "listwise", "estimator": "MLR"},
    ),
    "one_vs_three_fiml": ([{"model": "HS1"}, {"model": "HS"}], {"missing": "fiml"}),
    "configural_vs_metric_ml": (
        [{"model": "HS"}, {"model": "HS", "group_equal": ("loadings",)}],
        {"missing": "listwise", "group": "school"},
    ),
    "configural_vs_metric_mlr": (
        [{"model": "HS"}, {"model": "HS", "group_equal": ("loadings",)}],
        {"missing": "listwise", "group": "school", "estimator": "MLR"},
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_lrt_table_matches_lavaan(name: str) -> None:
    specs, common = CASES[name]
    data = hs_missing() if common["missing"] == "fiml" else hs()
    results = [
        fit_model(
            data,
            MODELS[s["model"]],
            group_equal=s.get("group_equal", ()),
            **common,
        )
        for s in specs
    ]
    scaled = common.get("estimator") == "MLR"
    rows = lrt_table(
        [r.to_dict()["fit"] for r in results],
        scaled=scaled,
        nobs=results[0].nobs,
        ngroups=len(results[0].groups),
        names=["a", "b"],
    )
    ref = REF[name]
    assert [r["model"] for r in rows] == ref["rows"]
    assert [k for k in rows[0] if k != "model"] == ref["columns"]
    for k, row in enumerate(rows):
        assert row["Df"] == ref["Df"][k]
        assert row["Chisq"] == pytest.approx(ref["Chisq"][k], rel=1e-6)
        assert row["AIC"] == pytest.approx(ref["AIC"][k], rel=1e-6)
        assert row["BIC"] == pytest.approx(ref["BIC"][k], rel=1e-6)
    first, second = rows
    assert first["Chisq diff"] is None and first["Df diff"] is None
    rel = 5e-5 if scaled else 1e-6
    assert second["Chisq diff"] == pytest.approx(ref["Chisq diff"][1], rel=rel)
    assert second["Df diff"] == ref["Df diff"][1]
    assert second["Pr(>Chisq)"] == pytest.approx(ref["Pr(>Chisq)"][1], rel=rel * 10, abs=1e-6)
    if not scaled:
        assert second["RMSEA"] == pytest.approx(ref["RMSEA"][1], abs=1e-6)
