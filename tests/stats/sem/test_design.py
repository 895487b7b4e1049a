"""Survey design (issue 15): lavaan 0.6.14's ``cluster=`` and ``sampling.weights=`` for
single-level models, against tests/data/survey_design.json (made by survey_design.R).

Cases: HS by school (ML and MLR), with made-up weights, both, by sex with school as cluster,
by sex with weights;
telecom_1500 by branch (listwise, FIML with ML and MLR), with made-up weights (listwise, FIML)
and both (FIML). Agreement measured on every case: est 6.4e-6 absolute (HS by sex with school
as cluster: two clusters per group, a flat optimum), se 7.9e-5 relative (the same case; 1.9e-5
elsewhere: two clusters make the sandwich nearly singular), chisq.scaled and its scaling factor
4.6e-6 relative (telecom FIML), robust cfi/tli/rmsea 3.8e-7 absolute; so golden.py's tolerances
(est 2e-5, se 1e-4 relative, robust measures 5e-6) hold with a margin.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from app.stats.sem import ModelError, check_model, factor_scores, fit_model
from app.stats.sem.design import design_meat
from tests.stats.sem.golden import estimate_mismatches, fit_mismatches, load_csv, load_json

REF = load_json("survey_design")
CASES = {c["name"]: c for c in REF["cases"]}
FIT_KEYS = (
    "npar",
    "df",
    "chisq",
    "logl",
    "unrestricted.logl",
    "cfi",
    "tli",
    "rmsea",
    "srmr",
    "chisq.scaled",
    "chisq.scaling.factor",
    "pvalue.scaled",
    "cfi.robust",
    "tli.robust",
    "rmsea.robust",
    "rmsea.ci.lower.robust",
    "rmsea.ci.upper.robust",
)
OPTION_NAMES = {
    "cluster": "cluster",
    "sampling.weights": "sampling_weights",
    "estimator": "estimator",
    "group": "group",
    "missing": "missing",
}


def hs_data() -> pd.DataFrame:
    hs = load_csv("holzinger_swineford_1939.csv")
    return hs.merge(load_csv("hs_sampling_weights.csv"), on="id")


def options(case: dict[str, Any]) -> dict[str, Any]:
    out = {OPTION_NAMES[k]: v for k, v in case["args"].items()}
    out["missing"] = "fiml" if case["args"].get("missing") == "ml" else "listwise"
    return out


@pytest.fixture(scope="module")
def tel() -> pd.DataFrame:
    """telecom_1500 with survey_design.R's made-up weights by row."""
    data = load_csv("telecom_1500.csv")
    data["w"] = np.round(0.5 + ((np.arange(1, len(data) + 1) * 37) % 23) / 10, 1)
    return data


@pytest.mark.parametrize("name", list(CASES))
def test_matches_lavaan(name: str, tel: pd.DataFrame) -> None:
    case = CASES[name]
    hs = name.startswith("hs")
    data = hs_data() if hs else tel
    res = fit_model(data, REF["hs_model" if hs else "tel_model"], **options(case))
    out = res.to_dict()
    grouped = "group" in case["args"]
    ref_rows = [{**e, "group": e["group"] if grouped else None} for e in case["estimates"]]
    labels = res.groups if grouped else [None]
    mine = [{**e, "group": e["group"] if grouped else None} for e in out["estimates"]]
    assert estimate_mismatches(mine, ref_rows, labels) == []
    ref_fit = {k: case["fit"][k] for k in FIT_KEYS if k in case["fit"]}
    assert fit_mismatches(res.fit, ref_fit) == []
    assert res.nobs == sum(np.atleast_1d(case["nobs"]))
    assert res.estimator == "MLR"  # lavaan: robust.cluster / robust.huber.white and the YB test


def test_cluster_changes_only_the_meat() -> None:
    """Same estimates and chisq as without clusters; other se (HS, school)."""
    hs = hs_data()
    plain = fit_model(hs, REF["hs_model"], estimator="MLR", missing="fiml")
    clus = fit_model(hs, REF["hs_model"], estimator="MLR", missing="fiml", cluster="school")
    assert clus.fit["chisq"] == pytest.approx(plain.fit["chisq"], rel=1e-9)
    est = {(e.lhs, e.op, e.rhs): e for e in plain.estimates}
    diff = [abs(e.se - est[(e.lhs, e.op, e.rhs)].se) for e in clus.estimates if e.free]
    assert max(diff) > 1e-3


def test_design_meat_sums_clusters_and_weights() -> None:
    scores = np.array([[1.0, 0.0], [2.0, 1.0], [-1.0, 3.0], [0.5, -2.0]])
    clusters = np.array([0, 0, 1, 1])
    w = np.array([1.0, 2.0, 0.5, 0.5])
    sums = np.array([[1 + 4, 0 + 2], [-0.5 + 0.25, 1.5 - 1.0]]) * np.sqrt(2.0)
    assert np.allclose(design_meat(scores, clusters, w), sums.T @ sums)
    assert np.allclose(design_meat(scores, None, None), scores.T @ scores)


def _field(**kw: Any) -> str:
    data = kw.pop("data", None)
    data = hs_data() if data is None else data
    with pytest.raises(ModelError) as exc:
        check_model(data, REF["hs_model"], **kw)
    return exc.value.field


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"cluster": "branch"}, "cluster"),
        ({"cluster": "school", "estimator": "MLM", "missing": "listwise"}, "cluster"),
        ({"cluster": "school", "estimator": "GLS", "missing": "listwise"}, "cluster"),
        ({"cluster": "school", "missing": "pairwise"}, "cluster"),
        ({"sampling_weights": "nope", "missing": "listwise"}, "sampling_weights"),
        ({"sampling_weights": "w", "missing": "fiml", "group": "sex"}, "sampling_weights"),
        ({"sampling_weights": "school", "missing": "listwise"}, "sampling_weights"),
    ],
)
def test_refused(kw: dict[str, Any], field: str) -> None:
    assert _field(**kw) == field


def test_bad_weights_and_clusters_refused() -> None:
    hs = hs_data()
    neg = hs.assign(w=hs["w"].where(hs["id"] != 5, -1.0))
    assert _field(data=neg, sampling_weights="w", missing="listwise") == "sampling_weights"
    gap = hs.assign(w=hs["w"].where(hs["id"] != 5))
    assert _field(data=gap, sampling_weights="w", missing="listwise") == "sampling_weights"
    zero = hs.assign(w=0.0)
    assert _field(data=zero, sampling_weights="w", missing="listwise") == "sampling_weights"
    nocl = hs.assign(school=hs["school"].where(hs["id"] != 5))
    assert _field(data=nocl, cluster="school") == "cluster"


def test_fit_model_refuses_design_with_ordered_or_bootstrap() -> None:
    hs = hs_data()
    with pytest.raises(ModelError) as exc:
        fit_model(hs, REF["hs_model"], cluster="school", bootstrap=50)
    assert exc.value.field == "cluster"
    with pytest.raises(ModelError) as exc:
        fit_model(hs.round(), REF["hs_model"], sampling_weights="w", ordered=True)
    assert exc.value.field == "sampling_weights"


def test_weighted_factor_scores_match_lavpredict() -> None:
    """lavPredict of the weighted fit: weighted estimates, centred at the weighted mean
    (agreement 1e-6; tolerance 1e-5 absolute, the estimates' 2e-5 spread over the weights)."""
    ref = REF["hs_weights_scores"]
    hs = hs_data()
    scores = factor_scores(hs, REF["hs_model"], missing="listwise", sampling_weights="w")
    mine = scores.loc[hs.index[hs["id"].isin(ref["id"])]]
    want = pd.DataFrame(ref["scores"])
    assert np.abs(mine.to_numpy() - want[list(mine.columns)].to_numpy()).max() < 1e-5
