"""MLR with FIML against lavaan 0.6.14: sandwich se, Yuan-Bentler scaling and the
FIML-corrected robust CFI/TLI/RMSEA (Zhang & Savalei; lavaan's ``lav_fit_fiml_corrected``).

References produced once with R lavaan 0.6.14 (``Rscript``, a development aid; R is not needed):
``sem(model, telecom_1500, estimator = "MLR", missing = "ml"[, group = "customer_type"])``.
Tolerances: those of tests/stats/sem/golden.py (the measured agreement with a margin).
"""

import pytest

from app.stats.sem import fit_model
from tests.stats.sem.golden import estimate_mismatches, fit_mismatches, golden_rows, load_csv

CORE = (
    "PV =~ PV1 + PV2\nCCI =~ CCI1 + CCI2 + CCI3 + CCI4\nLOY =~ LOY1 + LOY2 + LOY3 + LOY4\n"
    "CCI ~ PV\nLOY ~ CCI + PV"
)
WITH_NQ = CORE + "\nNQ =~ NQ1 + NQ2 + NQ3 + NQ4\nLOY ~ NQ"  # NQ items: N/A for most rows

FIT_NQ = {
    "npar": 47,
    "chisq": 82.81607009,
    "df": 72,
    "cfi": 0.9989006,
    "tli": 0.9986104806,
    "rmsea": 0.01000743709,
    "srmr": 0.01639053382,
}
ROBUST_NQ = {
    "chisq.scaled": 83.34347507,
    "chisq.scaling.factor": 0.9936719103,
    "cfi.robust": 0.9980810706,
    "tli.robust": 0.9975746865,
    "rmsea.robust": 0.01430537457,
}
EST_NQ = [
    ("PV", "=~", "PV2", 1.42584745, 0.05998200),
    ("CCI", "=~", "CCI2", 1.43857503, 0.05094397),
    ("CCI", "=~", "CCI3", 1.30069465, 0.04879066),
    ("CCI", "=~", "CCI4", 1.09338154, 0.04448502),
    ("LOY", "=~", "LOY2", 1.40707938, 0.05025298),
    ("LOY", "=~", "LOY3", 1.32467797, 0.04690086),
    ("LOY", "=~", "LOY4", 1.14321538, 0.04637272),
    ("CCI", "~", "PV", 0.63398743, 0.03775997),
    ("LOY", "~", "CCI", 0.33816165, 0.03575801),
    ("LOY", "~", "PV", 0.34890609, 0.04496278),
    ("NQ", "=~", "NQ2", 1.36476007, 0.07746262),
    ("NQ", "=~", "NQ3", 1.19986780, 0.06998239),
    ("NQ", "=~", "NQ4", 1.07478149, 0.06552499),
    ("LOY", "~", "NQ", 0.01175243, 0.03357915),
]
FIT_GROUPS = {
    "npar": 99,
    "chisq": 102.6418692,
    "df": 96,
    "cfi": 0.9991313825,
    "tli": 0.9987785067,
    "rmsea": 0.01176317454,
    "srmr": 0.02012828078,
}
ROBUST_GROUPS = {
    "chisq.scaled": 102.4835782,
    "chisq.scaling.factor": 1.00154455,
    "cfi.robust": 0.9992137253,
    "tli.robust": 0.9988943012,
    "rmsea.robust": 0.01119270024,
}


@pytest.fixture(scope="module")
def data():
    return load_csv("telecom_1500.csv")


def test_fiml_mlr_with_missing_items(data):
    res = fit_model(data, WITH_NQ, estimator="MLR")
    assert fit_mismatches(res.fit, FIT_NQ | ROBUST_NQ) == []
    # tighter than the 1e-3 tolerance on purpose: the FIML correction moves rmsea.robust by
    # 4e-4 here, and cfi.robust by 2e-4, so this is what tells the two formulas apart
    assert res.fit["rmsea.robust"] == pytest.approx(ROBUST_NQ["rmsea.robust"], abs=2e-5)
    mine = [e.to_dict() for e in res.estimates]
    assert estimate_mismatches(mine, golden_rows(EST_NQ, ("est", "se")), every_row=False) == []


def test_fiml_mlr_multigroup(data):
    res = fit_model(data, CORE, estimator="MLR", group="customer_type")
    assert fit_mismatches(res.fit, FIT_GROUPS | ROBUST_GROUPS) == []
    assert res.fit["rmsea.robust"] == pytest.approx(ROBUST_GROUPS["rmsea.robust"], abs=2e-5)
