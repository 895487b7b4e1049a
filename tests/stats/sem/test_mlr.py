"""estimator="MLR": Huber-White se and the Yuan-Bentler (Mplus) scaled test, against lavaan.

Tolerances: those of tests/stats/sem/golden.py (the measured agreement with a margin).
"""

import pytest

from tests.stats.sem.golden import (
    estimate_mismatches,
    fit_golden,
    fit_mismatches,
)


@pytest.fixture(scope="module")
def hs_mlr():
    ref, res = fit_golden(
        "hs_cfa_mlr", "holzinger_swineford_1939.csv", estimator="MLR", missing="listwise"
    )
    return ref, res.to_dict()


def test_robust_se(hs_mlr):
    ref, out = hs_mlr
    assert out["estimator"] == "MLR"
    assert estimate_mismatches(out["estimates"], ref["estimates"]) == []


def test_robust_object_names_the_method_and_repeats_fit(hs_mlr):
    _, out = hs_mlr
    robust = dict(out["robust"])
    assert robust.pop("se") == "robust.huber.white"
    assert robust.pop("test") == "yuan.bentler.mplus"
    assert list(robust) == [
        "chisq.scaled",
        "df.scaled",
        "pvalue.scaled",
        "chisq.scaling.factor",
        "baseline.chisq.scaling.factor",
        "cfi.robust",
        "tli.robust",
        "rmsea.robust",
        "rmsea.ci.lower.robust",
        "rmsea.ci.upper.robust",
        "rmsea.pvalue.robust",
    ]
    assert robust == {k: out["fit"][k] for k in robust}
    assert "bootstrap" not in out and "ordinal" not in out


def test_scaled_test_and_robust_indices(hs_mlr):
    ref, out = hs_mlr
    fit = out["fit"]
    assert fit_mismatches(fit, ref["fit"]) == []
    assert fit_mismatches(fit, ref["robust"]) == []
    assert fit["df.scaled"] == ref["fit"]["df"]
    assert 0 < fit["pvalue.scaled"] < 1e-6  # lavaan: 3.4e-09 level; unscaled p is 8.5e-09
