"""The typed parts of a SemResult (robust test, bootstrap account, ordinal info) and their JSON."""

import dataclasses
import math

import pytest

from app.stats.sem import BootstrapInfo, OrdinalInfo, RobustTest, fit_model
from tests.stats.sem.golden import load_csv

MODEL = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6"


@pytest.fixture(scope="module")
def hs_mlr():
    return fit_model(load_csv("holzinger_swineford_1939.csv"), MODEL, estimator="MLR")


def test_ml_has_no_robust_bootstrap_or_ordinal_part():
    res = fit_model(load_csv("holzinger_swineford_1939.csv"), MODEL)
    assert (res.robust, res.bootstrap, res.ordinal) == (None, None, None)
    assert not {"robust", "bootstrap", "ordinal"} & set(res.to_dict())


def test_robust_fields_are_the_fit_measures(hs_mlr):
    rob = hs_mlr.robust
    assert isinstance(rob, RobustTest)
    assert rob.chisq_scaled == hs_mlr.fit["chisq.scaled"]
    assert rob.scaling_factor == hs_mlr.fit["chisq.scaling.factor"]
    assert rob.baseline_scaling_factor == hs_mlr.fit["baseline.chisq.scaling.factor"]
    assert rob.rmsea_ci_upper_robust == hs_mlr.fit["rmsea.ci.upper.robust"]
    assert rob.cfi_scaled is None and "cfi.scaled" not in hs_mlr.fit  # MLM's, not MLR's
    assert rob.chisq_scaled == pytest.approx(hs_mlr.fit["chisq"] / rob.scaling_factor)


def test_not_converged_robust_measures_are_null(hs_mlr):
    out = dataclasses.replace(hs_mlr, converged=False).to_dict()
    assert out["robust"]["se"] == "robust.huber.white"
    assert {k: v for k, v in out["robust"].items() if k not in ("se", "test")} == dict.fromkeys(
        hs_mlr.robust.fit_measures()
    )
    assert out["fit"]["chisq.scaled"] is None


def test_non_finite_measures_serialise_as_null():
    rob = RobustTest("robust.sem", "satorra.bentler", *([math.nan] * 8))
    d = rob.to_dict()
    assert d["chisq.scaled"] is None and d["cfi.robust"] is None
    assert "rmsea.ci.lower.robust" not in d and "cfi.scaled" not in d


def test_bootstrap_and_ordinal_to_dict():
    info = BootstrapInfo(100, 98, 2, 7, 0.95, [0.1, math.inf], "bca", {"not converged": 2}, 1)
    assert info.to_dict() == {
        "draws": 100,
        "succeeded": 98,
        "dropped": {"not converged": 2},
        "inadmissible": 1,
        "interval": "bca",
        "seed": 7,
        "level": 0.95,
        "B": 100,
        "n_ok": 98,
        "n_failed": 2,
        "ci.type": "bca",
        "se": [0.1, None],
    }
    assert OrdinalInfo("theta", ["a", "b"]).to_dict() == {
        "parameterization": "theta",
        "ordered": ["a", "b"],
    }
