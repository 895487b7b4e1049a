"""fit_model's contract: errors as ModelError, path models, JSON output, progress."""

import json

import numpy as np
import pandas as pd
import pytest

from app.stats.sem import ModelError, fit_model
from tests.stats.sem.golden import load_csv, load_json

HS_MODEL = load_json("hs_cfa_ml")["model"]


@pytest.fixture(scope="module")
def hs():
    return load_csv("holzinger_swineford_1939.csv")


@pytest.mark.parametrize(
    ("model", "kwargs", "message"),
    [
        ("visual =~ x1 + x2 + nothere", {}, "unknown variable"),
        ("visual =~ x1 + x2 +", {}, "empty term"),
        ("visual =~", {}, "incomplete"),
        (HS_MODEL, {"estimator": "WLSMV"}, "estimator"),
        (HS_MODEL, {"missing": "available_case"}, "missing"),
        (HS_MODEL, {"group": "nocolumn"}, "group"),
        (HS_MODEL, {"group_equal": ["loadings"], "group": "school"}, None),
        (HS_MODEL + "\nd := zz*2", {}, "unknown label"),
    ],
)
def test_bad_input_raises_model_error(hs, model, kwargs, message):
    if message is None:  # a valid call: must not raise
        fit_model(hs, model, missing="listwise", **kwargs)
        return
    with pytest.raises(ModelError, match=message):
        fit_model(hs, model, **kwargs)


def test_too_few_rows(hs):
    with pytest.raises(ModelError, match="too few rows"):
        fit_model(hs.head(5), HS_MODEL, missing="listwise")


def test_path_model_equals_ols():
    # tolerance 1e-8: ML regression on observed variables is OLS (residual variance SSR/n);
    # fixed.x: covariate moments are not parameters, so npar=3 and df=0 as in lavaan
    rng = np.random.default_rng(1)
    n = 400
    x1 = rng.normal(size=n)
    x2 = 0.5 * x1 + rng.normal(size=n)
    y = 1 + 0.3 * x1 - 0.2 * x2 + rng.normal(size=n)
    d = pd.DataFrame({"x1": x1, "x2": x2, "y": y})
    res = fit_model(d, "y ~ x1 + x2", missing="listwise")
    X = np.c_[np.ones(n), x1, x2]
    b, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ b
    est = {(e.lhs, e.op, e.rhs): e.est for e in res.estimates}
    assert est[("y", "~", "x1")] == pytest.approx(b[1], abs=1e-8)
    assert est[("y", "~", "x2")] == pytest.approx(b[2], abs=1e-8)
    assert est[("y", "~~", "y")] == pytest.approx(resid @ resid / n, abs=1e-8)
    assert (res.fit["npar"], res.fit["df"], res.fit["baseline.df"]) == (3, 0, 2)
    assert res.r2["y"] == pytest.approx(1 - resid.var() / y.var(), abs=1e-8)


def test_default_missing_is_fiml_and_progress_reported(hs):
    seen: list[float] = []
    res = fit_model(hs, HS_MODEL, progress=seen.append)
    out = res.to_dict()
    assert out["missing"] == "fiml" and out["estimator"] == "ML"
    assert seen and seen[-1] == 1.0 and all(0 <= s <= 1 for s in seen)
    # FIML on complete data adds the mean structure: 9 intercepts more than lavaan's 21
    assert out["fit"]["npar"] == 30
    json.dumps(out, allow_nan=False)


def test_group_labels_and_r2_keyed_by_group(hs):
    res = fit_model(hs, HS_MODEL, missing="listwise", group="school")
    out = res.to_dict()
    assert res.groups == list(pd.unique(hs["school"]))
    assert set(out["r2"]) == set(res.groups)
    assert {e["group"] for e in out["estimates"] if e["op"] != ":="} == set(res.groups)
    assert len(res.matrices) == 2 and res.matrices[1].group == res.groups[1]


def test_refit_from_a_nearby_start_returns_the_same_optimum():
    # tolerance 1e-5 abs on every parameter: the Newton steps from a start near the estimate
    # (as a bootstrap replicate's) must land on the same optimum
    from app.stats.sem import prepare

    ref = load_json("pd_sem_ml")
    prob = prepare(load_csv("political_democracy.csv"), ref["model"], missing="listwise")
    opt = prob.refit(prob.data)
    shifted = opt.theta * 1.02
    again = prob.refit(prob.data, start=shifted)
    assert again.converged
    assert np.abs(again.theta - opt.theta).max() < 1e-5


def _items(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    f = rng.normal(size=(n, 1))
    return pd.DataFrame(f + 0.7 * rng.normal(size=(n, 4)), columns=["A", "B", "C", "D"])


ONE_FACTOR = "F =~ A + B + C + D"


@pytest.mark.parametrize("missing", ["fiml", "listwise"])
def test_identical_items_name_the_singular_matrix(missing):
    # 4 respondents who gave one answer to every item (the API's reliability case)
    df = pd.DataFrame({c: [1.0, 2.0, 3.0, 4.0] for c in "ABC"})
    with pytest.raises(ModelError) as err:
        fit_model(df, "F =~ A + B + C", missing=missing)
    msg = str(err.value)
    assert "the sample covariance matrix of A, B, C is singular" in msg
    assert "linearly dependent items: A, B, C" in msg and "4 rows" in msg


def test_constant_item_is_named():
    df = _items(50).assign(C=3.0)
    with pytest.raises(ModelError, match=r"singular \(50 rows; constant items: C\)"):
        fit_model(df, ONE_FACTOR)


def test_identical_rows_and_too_few_rows_are_named():
    same = pd.DataFrame([[1.0, 2.0, 3.0, 4.0]] * 4, columns=["A", "B", "C", "D"])
    with pytest.raises(ModelError, match="constant items: A, B, C, D"):
        fit_model(same, ONE_FACTOR)
    with pytest.raises(ModelError, match=r"is singular \(3 rows for 4 variables\)"):
        fit_model(_items(3), ONE_FACTOR)  # FIML on complete data: no "too few rows" rule


def test_dependent_items_under_fiml_name_the_em_estimate():
    # D = A + B in every row where both are seen; A missing in 10 rows (EM imputes it exactly)
    df = _items(60)
    df["D"] = df["A"] + df["B"]
    with pytest.raises(ModelError, match=r"sample covariance matrix of A, B, C, D is singular"):
        fit_model(df, ONE_FACTOR, missing="listwise")
    df.loc[:9, "A"] = np.nan
    with pytest.raises(ModelError) as err:
        fit_model(df, ONE_FACTOR)
    msg = str(err.value)
    assert msg.startswith("the EM estimate of the covariance matrix of A, B, C, D is singular")
    assert "linearly dependent items: A, B, D" in msg


def test_regular_data_with_missing_values_still_fit():
    # the checks must not reject ordinary data: 20% of A missing, nothing degenerate
    df = _items(200)
    df.loc[::5, "A"] = np.nan
    assert fit_model(df, ONE_FACTOR).converged
