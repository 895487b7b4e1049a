"""FIML (lavaan's missing="ml") against lavaan 0.6.14 on telecom_1500 (88% incomplete rows).

Tolerances (see _sem_golden): est/std.all/ci 1e-3 abs, se 1% rel, chisq/logl 1e-3 rel,
cfi/tli/rmsea(+ci, p)/srmr 1e-3 abs, npar/df exact, r2 1e-3 abs.
"""

import pytest

from app.stats.sem import fit_model
from tests.stats._sem_golden import (
    estimate_mismatches,
    fit_mismatches,
    load_csv,
    load_json,
    r2_mismatches,
)

CASES = ["telecom_sem_fiml", "telecom_cfa_fiml"]


@pytest.fixture(scope="module", params=CASES)
def case(request):
    ref = load_json(request.param)
    # Speed against lavaan is shown by benchmarks/bench_fiml.py, not asserted here.
    res = fit_model(load_csv("telecom_1500.csv"), ref["model"])  # missing="fiml" is the default
    return ref, res.to_dict()


def test_fit_measures(case):
    ref, out = case
    assert out["nobs"] == ref["nobs"] == 1500
    assert out["missing"] == "fiml" and out["converged"]
    assert fit_mismatches(out["fit"], ref["fit"]) == []


def test_estimates_observed_information_se(case):
    ref, out = case
    assert estimate_mismatches(out["estimates"], ref["estimates"]) == []


def test_r2(case):
    ref, out = case
    assert r2_mismatches(out["r2"], ref["r2"]) == []
