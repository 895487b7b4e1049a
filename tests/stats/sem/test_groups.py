"""Multi-group ML with lavaan's group.equal semantics (engine level; invariance.py builds on it).

Tolerances: those of tests/stats/sem/golden.py (the measured agreement with a margin).
"""

import pytest

from app.stats.sem import fit_model
from tests.stats.sem.golden import estimate_mismatches, fit_mismatches, load_csv, load_json

REF = load_json("telecom_invariance_customer_type")


@pytest.mark.parametrize("level", REF["levels"], ids=[lv["level"] for lv in REF["levels"]])
def test_invariance_levels_match_lavaan(level):
    ge = level["group_equal"]
    ge = [ge] if isinstance(ge, str) else list(ge)
    res = fit_model(
        load_csv("telecom_1500.csv"),
        REF["model"],
        missing="listwise",
        group="customer_type",
        group_equal=ge,
    )
    assert res.groups == REF["group_labels"]
    ref_fit = {k: level[k] for k in ("chisq", "df", "cfi", "tli", "rmsea", "srmr")}
    assert fit_mismatches(res.fit, ref_fit) == []


def test_configural_estimates_per_group():
    res = fit_model(
        load_csv("telecom_1500.csv"), REF["model"], missing="listwise", group="customer_type"
    )
    out = res.to_dict()
    conf = REF["configural"]
    assert estimate_mismatches(out["estimates"], conf["estimates"], REF["group_labels"]) == []
    assert set(out["r2"]) == set(REF["group_labels"])
    assert out["nobs"] == sum(conf["nobs"]) == 1500
