"""check_model, the engine's one validation entry point: each failure names the argument at
fault, and prepare / fit_model refuse the same input with the same message."""

import numpy as np
import pytest

from app.stats.pls import check_pls, fit_pls
from app.stats.sem import ModelError, check_model, fit_model, path_difference, prepare
from tests.stats.sem.golden import load_csv, load_json

HS_MODEL = load_json("hs_cfa_ml")["model"]


@pytest.fixture(scope="module")
def hs():
    return load_csv("holzinger_swineford_1939.csv")


@pytest.mark.parametrize(
    ("model", "kwargs", "field", "message"),
    [
        (HS_MODEL, {"estimator": "WLSMV"}, "estimator", "estimator must be one of"),
        (HS_MODEL, {"missing": "pairwise"}, "missing", "missing must be one of"),
        (HS_MODEL, {"group": "nocolumn"}, "group", "unknown group variable: nocolumn"),
        ("  ", {}, "model", "empty model"),
        ("visual =~ x1 + x2 +", {}, "model", "empty term"),
        ("visual =~ x1 + x2 + nothere", {}, "model", "unknown variable(s) in the model: nothere"),
        (HS_MODEL + "\nd := zz*2", {}, "model", "unknown label(s) in d := zz*2"),
        (
            HS_MODEL,
            {"group": "school", "compare_paths": [("visual", "=~", "x1")]},
            "compare_paths",
            "visual =~ x1 is not a free parameter in every group",
        ),
    ],
)
def test_one_rule_one_message(hs, model, kwargs, field, message):
    with pytest.raises(ModelError) as checked:
        check_model(hs, model, **kwargs)
    assert checked.value.field == field
    assert message in str(checked.value)
    if "compare_paths" in kwargs:  # path_difference refuses it with the same words
        with pytest.raises(ModelError) as fitted:
            path_difference(hs, model, group="school", path=kwargs["compare_paths"][0])
    else:
        with pytest.raises(ModelError) as fitted:
            fit_model(hs, model, **kwargs)
    assert str(fitted.value) == str(checked.value)


def test_unknown_variables_are_listed(hs):
    with pytest.raises(ModelError) as info:
        check_model(hs, "f =~ x1 + x2 + a9 + b9")
    assert info.value.variables == ("a9", "b9")
    # a column outside `variables` is unknown too
    with pytest.raises(ModelError) as info:
        check_model(hs, HS_MODEL, variables=[f"x{i}" for i in range(1, 9)])
    assert info.value.variables == ("x9",)


def test_rows_per_group_and_too_few(hs):
    data = hs.copy()
    data.loc[:9, "x1"] = np.nan
    listwise = check_model(data, HS_MODEL, missing="listwise")
    assert [len(r) for r in listwise.rows] == [len(hs) - 10]
    fiml = check_model(data, HS_MODEL, group="school")
    assert listwise.missing == "listwise" and not listwise.meanstructure
    assert [len(r) for r in fiml.rows] == [int((hs["school"] == g).sum()) for g in fiml.groups]
    assert fiml.groups == list(dict.fromkeys(hs["school"].astype(str)))
    # the rows prepare fits are the ones check_model kept
    prob = prepare(data, HS_MODEL, missing="listwise")
    np.testing.assert_array_equal(
        prob.data[0].X, data.iloc[listwise.rows[0]][prob.partable.names.ov]
    )
    with pytest.raises(ModelError, match="too few rows: 9 for 9 variables") as info:
        check_model(hs.head(9), HS_MODEL, missing="listwise")
    assert info.value.field == "model"
    first_gw = hs.index[hs["school"].eq("Grant-White")][0]
    small = hs[hs["school"].eq("Pasteur") | (hs.index == first_gw)]
    with pytest.raises(ModelError, match="too few rows in group Grant-White: 1"):
        check_model(small, HS_MODEL, group="school")
    # a caller that screens groups itself skips the count
    assert check_model(small, HS_MODEL, group="school", count_rows=False).rows == []


def test_pls_check_is_fit_pls_check(hs):
    model = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\ntextual ~ visual"
    assert check_pls(hs, model).items == ["x1", "x2", "x3", "x4", "x5", "x6"]
    cases = [
        ({"missing": "pairwise"}, "missing", "missing must be"),
        (
            {"variables": ["x1", "x2", "x3", "x4", "x5"]},
            "model",
            "unknown variable(s) in the model: x6",
        ),
    ]
    for kwargs, field, message in cases:
        with pytest.raises(ModelError) as info:
            check_pls(hs, model, **kwargs)
        assert info.value.field == field and message in str(info.value)
    empty = hs.assign(x6=np.nan)
    for missing, message in (("mean", "an item has no answers"), ("listwise", "too few rows: 0")):
        with pytest.raises(ModelError, match=message):
            check_pls(empty, model, missing=missing)
        with pytest.raises(ModelError, match=message):
            fit_pls(empty, model, missing=missing)
