"""lavaan syntax parsing and the parameter table with lavaan's defaults."""

import pytest

from app.stats.sem import ModelError
from app.stats.sem.partable import build_partable
from app.stats.sem.syntax import parse_model
from tests.stats.sem.golden import load_json


def test_modifiers_comments_and_continuation():
    p = parse_model(
        """
        # a comment
        f =~ 1*x1 + a*x2 +   ! another comment
             NA*x3
        y ~ b*f + 1
        x1 ~~ c(v1, v2)*x2; d := a*b
        a == b
        """
    )
    rows = [(f.lhs, f.op, f.rhs) for f in p.formulas]
    assert rows == [
        ("f", "=~", "x1"),
        ("f", "=~", "x2"),
        ("f", "=~", "x3"),
        ("y", "~", "f"),
        ("y", "~1", ""),
        ("x1", "~~", "x2"),
    ]
    assert p.formulas[0].modifiers[0].fixed == 1.0
    assert p.formulas[1].modifiers[0].label == "a"
    assert p.formulas[2].modifiers[0].free
    assert [m.label for m in p.formulas[5].modifiers] == ["v1", "v2"]
    assert p.definitions[0].name == "d" and p.definitions[0].expr == "a*b"
    assert (p.constraints[0].lhs, p.constraints[0].rhs) == ("a", "b")


@pytest.mark.parametrize("bad", ["f =~ ", "just words", "f =~ x1 + 2x", "f < x", "y ~ 3"])
def test_bad_syntax_raises_model_error(bad):
    with pytest.raises(ModelError):
        build_partable(bad)


@pytest.mark.parametrize(
    ("name", "meanstructure", "npar"),
    [
        ("hs_cfa_ml", False, 21),
        ("pd_sem_ml", False, 31),
        ("telecom_sem_listwise", False, 100),
        ("telecom_sem_fiml", True, 137),
        ("telecom_cfa_fiml", True, 156),
    ],
)
def test_default_parameters_match_lavaan_npar(name, meanstructure, npar):
    # exact: npar of lavaan's fit
    pt = build_partable(load_json(name)["model"], meanstructure=meanstructure)
    assert pt.npar == npar == load_json(name)["fit"]["npar"]


def test_defaults_first_loading_fixed_and_exogenous_covariances():
    pt = build_partable("f =~ x1 + x2 + x3\ng =~ x4 + x5 + x6\nh =~ x7 + x8\nh ~ f + g")
    rows = {(r.lhs, r.op, r.rhs): r for r in pt.rows}
    assert rows[("f", "=~", "x1")].free == 0 and rows[("f", "=~", "x1")].ustart == 1.0
    assert rows[("f", "=~", "x2")].free > 0
    assert rows[("f", "~~", "g")].free > 0  # exogenous latents covary
    assert ("f", "~~", "h") not in rows  # h is endogenous: no covariance with f
    assert rows[("h", "~~", "h")].free > 0 and rows[("x8", "~~", "x8")].free > 0


def test_groups_labels_and_group_equal():
    model = "f =~ x1 + x2 + x3\nf ~~ c(v, v)*f"
    pt = build_partable(
        model, groups=["a", "b"], meanstructure=True, group_equal=["loadings", "intercepts"]
    )
    by = {(r.lhs, r.op, r.rhs, r.group): r for r in pt.rows}
    assert by[("f", "=~", "x2", 1)].free == by[("f", "=~", "x2", 2)].free
    assert by[("x1", "~1", "", 1)].free == by[("x1", "~1", "", 2)].free
    assert by[("f", "~~", "f", 1)].free == by[("f", "~~", "f", 2)].free  # shared label
    # lavaan: with equal intercepts the latent mean is free in every group but the first
    assert by[("f", "~1", "", 1)].free == 0 and by[("f", "~1", "", 2)].free > 0
    assert by[("x1", "~~", "x1", 1)].free != by[("x1", "~~", "x1", 2)].free
    with pytest.raises(ModelError):
        build_partable(model, groups=["a", "b"], group_equal=["nonsense"])
