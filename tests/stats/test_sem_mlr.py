"""estimator="MLR": Huber-White se and the Yuan-Bentler (Mplus) scaled test, against lavaan.

Tolerances: est 1e-3 abs, robust se 1% rel, chisq.scaled 1e-3 rel, scaling factor and robust
cfi/tli/rmsea 1e-3 abs.
"""

import math

import pytest

from app.stats.sem import fit_model
from tests.stats._sem_golden import (
    estimate_mismatches,
    fit_golden,
    fit_mismatches,
    load_csv,
    load_json,
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


def test_scaled_test_and_robust_indices(hs_mlr):
    ref, out = hs_mlr
    fit = out["fit"]
    assert fit_mismatches(fit, ref["fit"]) == []
    assert fit_mismatches(fit, ref["robust"]) == []
    assert fit["df.scaled"] == ref["fit"]["df"]
    assert 0 < fit["pvalue.scaled"] < 1e-6  # lavaan: 3.4e-09 level; unscaled p is 8.5e-09


def test_mlr_with_fiml_runs_and_is_sane():
    # no lavaan reference stored for FIML+MLR: the ML point estimates must be unchanged
    # (1e-9) and the scaling factor close to 1 for these near-normal synthetic data (0.1).
    ref = load_json("telecom_cfa_fiml")
    d = load_csv("telecom_1500.csv")
    mlr = fit_model(d, ref["model"], estimator="MLR")
    ml = fit_model(d, ref["model"])
    assert abs(mlr.theta - ml.theta).max() < 1e-9
    assert mlr.fit["chisq.scaling.factor"] == pytest.approx(1.0, abs=0.1)
    assert math.isfinite(mlr.fit["cfi.robust"])
