"""Multi-group done right (issue 14 item 5): an invariance sequence whose configural model ties
nothing through the model's labels, and partial invariance (lavaan's ``group.partial``).

Reference: tests/data/invariance_labels.json, made by tests/data/invariance_labels.R (lavaan
0.6.14) on telecom-pv's default model (labels ``a``, ``b``, ``ind_PV_CCI_LOY := a*b``; without
the NQ construct) by customer_type, listwise:
- ``shared``: lavaan's fit as written, ``a`` and ``b`` shared by the three groups: what a plain
  grouped fit still does (lavaan's rule);
- ``levels``: configural, metric, scalar with the labels made group-specific (``c(a__g1, a__g2,
  a__g3)``, ``ind_PV_CCI_LOY__gk := a__gk*b__gk``): what pvm's invariance sequence fits;
- ``partial``: the scalar level with ``group.partial = c("REL1~1", "TAN=~TAN2")``.
Tolerances those of tests/stats/sem/test_invariance.py (tests/stats/sem/golden.py).
"""

from __future__ import annotations

import pandas as pd
import pytest

from app.stats.sem import ModelError, chisq_difference, fit_invariance, fit_model
from tests.stats.sem.golden import SE_REL, STAT_REL, fit_mismatches, load_csv, load_json

REF = load_json("invariance_labels")
KEYS = ("npar", "chisq", "df", "cfi", "tli", "rmsea", "srmr")
EST_ABS = 2e-5


@pytest.fixture(scope="module")
def telecom() -> pd.DataFrame:
    return load_csv("telecom_1500.csv")


@pytest.fixture(scope="module")
def sequence(telecom: pd.DataFrame):
    return fit_invariance(telecom, REF["model"], group="customer_type", missing="listwise")


def _delta_ok(mine: dict, ref: dict) -> bool:
    return (
        abs(mine["delta.chisq"] - ref["delta.chisq"]) <= STAT_REL * ref["chisq"]
        and mine["delta.df"] == ref["delta.df"]
    )


def test_invariance_levels_free_the_models_labels_in_every_group(sequence) -> None:
    assert sequence.groups == REF["groups"]
    assert sequence.unshared_labels == ["a", "b"]
    assert sequence.to_dict()["unshared_labels"] == ["a", "b"]
    for mine, ref in zip(sequence.to_list(), REF["levels"], strict=True):
        assert fit_mismatches(mine, {k: ref[k] for k in KEYS}) == [], mine["level"]
        if "delta.chisq" in ref:
            assert _delta_ok(mine, ref), mine["level"]
    configural = sequence.to_list()[0]
    # three groups: a and b are two parameters more in each of groups 2 and 3
    assert configural["npar"] == REF["shared"]["npar"] + 4
    assert configural["df"] == REF["shared"]["df"] - 4


def test_configural_defined_parameters_are_per_group(sequence) -> None:
    conf = sequence.levels[0].result
    defined = {e.lhs: e for e in conf.estimates if e.op == ":="}
    assert sorted(defined) == [f"ind_PV_CCI_LOY__g{k}" for k in (1, 2, 3)]
    for ref in REF["configural_defined"]:
        mine = defined[ref["lhs"]]
        assert mine.est == pytest.approx(ref["est"], abs=EST_ABS)
        assert mine.se == pytest.approx(ref["se"], rel=SE_REL)
    labels = {(e.lhs, e.rhs, e.group): e.label for e in conf.estimates if e.op == "~"}
    assert labels[("CCI", "PV", REF["groups"][1])] == "a__g2"
    # the plain grouped fit (labels shared, lavaan's rule) has one ind_PV_CCI_LOY


def test_a_plain_grouped_fit_shares_labels_as_lavaan(telecom: pd.DataFrame) -> None:
    res = fit_model(telecom, REF["model"], group="customer_type", missing="listwise")
    shared = REF["shared"]
    assert (res.fit["npar"], res.fit["df"]) == (shared["npar"], shared["df"])
    assert res.fit["chisq"] == pytest.approx(shared["chisq"], rel=STAT_REL)


def test_partial_invariance_frees_the_named_parameters(telecom: pd.DataFrame, sequence) -> None:
    ref = REF["partial"]
    partial = ["REL1 ~ 1", "TAN=~TAN2"]
    seq = fit_invariance(
        telecom, REF["model"], group="customer_type", missing="listwise", group_partial=partial
    )
    scalar = seq.to_list()[2]
    assert fit_mismatches(scalar, {k: ref[k] for k in KEYS}) == []
    # group.partial holds in every level: TAN=~TAN2 is free in the metric level too
    assert seq.to_list()[1]["npar"] == sequence.to_list()[1]["npar"] + 2
    res = seq.levels[2].result
    rel1 = [e.est for e in res.estimates if (e.lhs, e.op) == ("REL1", "~1")]
    tan2 = [e.est for e in res.estimates if (e.lhs, e.op, e.rhs) == ("TAN", "=~", "TAN2")]
    rel2 = [e.est for e in res.estimates if (e.lhs, e.op) == ("REL2", "~1")]
    assert rel1 == pytest.approx(ref["REL1_intercepts"], abs=EST_ABS)
    assert tan2 == pytest.approx(ref["TAN2_loadings"], abs=EST_ABS)
    assert rel2 == pytest.approx(ref["REL2_intercepts"], abs=EST_ABS)
    assert len(set(rel2)) == 1 and len(set(rel1)) == 3  # REL2 equal, REL1 free
    # against the full metric level the difference test is lavTestLRT's
    delta, ddf, _ = chisq_difference(res, sequence.levels[1].result)
    assert delta == pytest.approx(ref["delta.chisq"], abs=STAT_REL * ref["chisq"])
    assert ddf == ref["delta.df"]
    # a single grouped fit takes group_partial too (its labels shared, lavaan's rule)
    single = fit_model(
        telecom,
        REF["model"],
        group="customer_type",
        missing="listwise",
        group_equal=("loadings", "intercepts"),
        group_partial=partial,
    )
    # lavaan's shared-label count, less the scalar level's equalities, plus the 4 freed rows
    # (REL1~1 and TAN=~TAN2 in groups 2 and 3)
    equalities = sequence.to_list()[0]["npar"] - sequence.to_list()[2]["npar"]
    assert single.fit["npar"] == REF["shared"]["npar"] - equalities + 4
    assert len({e.est for e in single.estimates if (e.lhs, e.op) == ("REL1", "~1")}) == 3


def test_unknown_partial_parameter_is_refused(telecom: pd.DataFrame) -> None:
    with pytest.raises(ModelError, match="group_partial names no parameter of the model: XX~1"):
        fit_model(
            telecom,
            "TAN =~ TAN1 + TAN2 + TAN3",
            group="customer_type",
            missing="listwise",
            group_equal=("loadings", "intercepts"),
            group_partial=["XX~1"],
        )
