"""Driver importance (standardized total effects) and IPA quadrants.

Importances are checked on lavaan's own FIML estimates of the default model
(tests/data/telecom_sem_fiml.json) against path products written out by hand, and against
lavaan's std.all of the defined indirect effect ind_PV_CCI_LOY := a*b. Tolerance 1e-9 absolute
(the same doubles multiplied in another order); lavaan's own := value is printed to 11 digits,
so that comparison uses 1e-9 too.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.stats.drivers import (
    DriverError,
    driver_importance,
    exogenous,
    ipa,
    quadrant,
    total_effects,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "telecom_sem_fiml.json"
DRIVERS = ["TAN", "REL", "RES", "ASS", "EMP", "NQ"]
ABS = 1e-9


@pytest.fixture(scope="module")
def est() -> list[dict]:
    return json.loads(DATA.read_text())["estimates"]


def path(est: list[dict], lhs: str, rhs: str) -> float:
    return next(r["std.all"] for r in est if r["op"] == "~" and r["lhs"] == lhs and r["rhs"] == rhs)


def test_exogenous_are_the_six_drivers(est):
    assert exogenous(est) == DRIVERS


def test_pv_importance_is_the_direct_standardized_path(est):
    imp = driver_importance(est, outcome="PV")
    assert list(imp) == DRIVERS
    for d in DRIVERS:
        assert imp[d] == pytest.approx(path(est, "PV", d), abs=ABS)


def test_sat_and_loy_importance_are_total_effects_through_pv(est):
    sat = driver_importance(est, outcome="SAT")
    loy = driver_importance(est, outcome="LOY")
    pv_to_loy = (
        path(est, "LOY", "PV")
        + path(est, "SAT", "PV") * path(est, "LOY", "SAT")
        + path(est, "CCI", "PV") * path(est, "LOY", "CCI")
    )
    for d in DRIVERS:
        assert sat[d] == pytest.approx(path(est, "PV", d) * path(est, "SAT", "PV"), abs=ABS)
        assert loy[d] == pytest.approx(path(est, "PV", d) * pv_to_loy, abs=ABS)


def test_indirect_effect_agrees_with_lavaan_defined_parameter(est):
    names, t = total_effects(est)
    ind = next(r["std.all"] for r in est if r["lhs"] == "ind_PV_CCI_LOY")
    direct_and_sat = path(est, "LOY", "PV") + path(est, "SAT", "PV") * path(est, "LOY", "SAT")
    total = t[names.index("LOY"), names.index("PV")]
    assert total - direct_and_sat == pytest.approx(ind, abs=ABS)


def test_unknown_outcome_or_driver_is_an_error(est):
    with pytest.raises(DriverError):
        driver_importance(est, outcome="XYZ")
    with pytest.raises(DriverError):
        driver_importance(est, outcome="PV", drivers=["NOPE"])


@pytest.mark.parametrize(
    ("imp", "perf", "expected"),
    [
        (0.3, 60.0, "keep_up"),
        (0.3, 40.0, "concentrate"),
        (0.1, 40.0, "low_priority"),
        (0.1, 60.0, "possible_overkill"),
        (0.2, 50.0, "keep_up"),  # on both cross-hairs counts as high
    ],
)
def test_quadrant_rule(imp, perf, expected):
    assert quadrant(imp, perf, 0.2, 50.0) == expected


def test_ipa_splits_at_the_means_of_the_plotted_drivers():
    importance = {"A": 0.4, "B": 0.3, "C": 0.1, "D": 0.0, "E": 0.9}
    performance = {"A": 50.0, "B": 80.0, "C": 40.0, "D": 90.0, "E": None}  # E suppressed
    res = ipa(importance, performance, outcome="PV")
    assert res.importance_split == pytest.approx(0.2, abs=ABS)
    assert res.performance_split == pytest.approx(65.0, abs=ABS)
    got = {d.construct: d.quadrant for d in res.drivers}
    assert got == {
        "A": "concentrate",
        "B": "keep_up",
        "C": "low_priority",
        "D": "possible_overkill",
        "E": None,
    }
    assert [d.construct for d in res.drivers] == ["E", "A", "B", "C", "D"]
    assert res.concentrate == ["A"]
    assert res.to_dict()["concentrate_on"] == ["A"]
