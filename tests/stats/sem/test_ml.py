"""Complete-data ML (lavaan's default missing="listwise") against lavaan 0.6.14.

Tolerances: those of tests/stats/sem/golden.py (the measured agreement with a margin).
"""

import json
import math

import pytest

from tests.stats.sem.golden import (
    EST_ABS,
    SE_REL,
    estimate_mismatches,
    fit_golden,
    fit_mismatches,
    r2_mismatches,
)

CASES = [
    ("hs_cfa_ml", "holzinger_swineford_1939.csv"),
    ("pd_sem_ml", "political_democracy.csv"),
    ("telecom_sem_listwise", "telecom_1500.csv"),
]


@pytest.fixture(scope="module", params=CASES, ids=[c[0] for c in CASES])
def case(request):
    ref, res = fit_golden(*request.param, missing="listwise")
    return ref, res, res.to_dict()


def test_fit_measures(case):
    ref, _, out = case
    assert out["nobs"] == ref["nobs"]
    assert out["converged"]
    assert fit_mismatches(out["fit"], ref["fit"]) == []


def test_estimates_se_and_std_all(case):
    ref, _, out = case
    assert estimate_mismatches(out["estimates"], ref["estimates"]) == []


def test_r2(case):
    ref, _, out = case
    assert r2_mismatches(out["r2"], ref["r2"]) == []


def test_to_dict_is_json_safe(case):
    _, _, out = case
    text = json.dumps(out, allow_nan=False)  # raises on NaN
    row = out["estimates"][0]
    assert set(row) == {
        "lhs",
        "op",
        "rhs",
        "label",
        "group",
        "est",
        "se",
        "z",
        "pvalue",
        "ci.lower",
        "ci.upper",
        "std.lv",
        "std.all",
        "std.nox",
        "est.std",
        "se.std",
    }
    assert row["group"] is None and row["z"] is None  # fixed marker loading
    assert "NaN" not in text


def test_defined_parameter_delta_method():
    # tolerances of tests/stats/sem/golden.py (est 1e-5 abs, se 1e-4 rel) against lavaan's := row
    ref, res = fit_golden("telecom_sem_listwise", "telecom_1500.csv", missing="listwise")
    mine = next(e for e in res.to_dict()["estimates"] if e["op"] == ":=")
    theirs = next(e for e in ref["estimates"] if e["op"] == ":=")
    assert (mine["lhs"], mine["rhs"], mine["label"]) == ("ind_PV_CCI_LOY", "a*b", "ind_PV_CCI_LOY")
    assert mine["est"] == pytest.approx(theirs["est"], abs=EST_ABS)
    assert mine["se"] == pytest.approx(theirs["se"], rel=SE_REL)
    a = next(e for e in res.estimates if e.label == "a")
    b = next(e for e in res.estimates if e.label == "b")
    assert mine["est"] == pytest.approx(a.est * b.est, rel=1e-12)
    assert not math.isnan(mine["std.all"])


def test_measurement_matrices_for_reliability():
    # tolerance: 1e-8: Sigma must equal Lambda Psi Lambda' + Theta in a CFA
    _, res = fit_golden("hs_cfa_ml", "holzinger_swineford_1939.csv", missing="listwise")
    mm = res.matrices[0]
    assert mm.lambda_.shape == (9, 3) and mm.lv == ["visual", "textual", "speed"]
    implied = mm.lambda_ @ mm.psi @ mm.lambda_.T + mm.theta
    assert abs(implied - mm.sigma).max() < 1e-8
    assert mm.sample_cov.shape == (9, 9) and mm.nobs == 301
