"""std_lv, the MLM, GLS and ULS estimators and missing="pairwise" against lavaan 0.6.14.

References: tests/data/lavaan_options.json, made by tests/data/lavaan_options.R. Measured
agreement: est 6.8e-6 and std.all alike, se 1.2e-5 relative (std.lv with FIML; 2e-6 for MLM),
chisq and every scaled/robust measure 4.1e-7 relative; hence est 2e-5, se 5e-5, fit 2e-6. The
ECSI model (mobi) is compared at lavaan's own estimate (lavaan stops ~2.8e-3 from the optimum
on its flat paths; see test_convergence.py): se and the Satorra-Bentler measures there to 1e-5.
GLS and ULS by school: the se of the second group's variances are 1.3e-4 (relative) off lavaan's, all
by the same factor (the estimates agree to 3.2e-6; the cause is not found), hence 2e-4 there.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from app.stats.sem import ModelError, fit_model, prepare, summarize
from app.stats.sem.likelihood import loglik
from app.stats.sem.optimize import Optimum

from .golden import load_csv, load_json

REF = load_json("lavaan_options")
CASES = [k for k in REF if k not in ("lavaan_version", "mobi_mlm")]
EST_ABS = 2e-5
SE_REL = 5e-5
SE_REL_CASE = {"hs_gls_groups": 2e-4, "hs_uls_groups": 2e-4}
FIT_REL = 2e-6


def _options(case: dict) -> dict:
    opts = {
        k: v for k, v in case["options"].items() if k in ("estimator", "missing", "group", "std_lv")
    }
    ge = case["options"].get("group_equal")
    if ge:
        opts["group_equal"] = [ge] if isinstance(ge, str) else list(ge)
    return opts


def _key(lhs: str, op: str, rhs: str, group: object) -> tuple:
    return (lhs, op, rhs, None if group is None else str(group))


def _check_fit(mine: dict, ref: dict, rel: float) -> None:
    for k, v in ref.items():
        if v is None:  # lavaan's NA (the ULS p-value)
            assert mine[k] is None or not math.isfinite(mine[k]), k
        elif k in ("npar", "df"):
            assert mine[k] == v, k
        else:
            assert mine[k] == pytest.approx(v, rel=rel, abs=rel), k


@pytest.mark.parametrize("name", CASES)
def test_matches_lavaan(name: str) -> None:
    case = REF[name]
    res = fit_model(load_csv(case["csv"]), case["model"], **_options(case))
    assert res.converged
    # lavaan warns "some estimated ov variances are negative" where an estimate is negative
    negative = any(
        e["op"] == "~~" and e["lhs"] == e["rhs"] and e["est"] < 0 for e in case["estimates"]
    )
    assert [w.startswith("negative residual variance") for w in res.warnings] == (
        [True] if negative else []
    ), res.warnings
    _check_fit(res.fit, case["fit"], FIT_REL)
    mine = {_key(e.lhs, e.op, e.rhs, e.group): e for e in res.estimates}
    assert len(mine) == len(case["estimates"])
    for e in case["estimates"]:
        m = mine[_key(e["lhs"], e["op"], e["rhs"], e["group"])]
        assert abs(m.est - e["est"]) <= EST_ABS, (e, m.est)
        assert abs(m.std_all - e["std.all"]) <= EST_ABS, (e, m.std_all)
        if e["se"]:
            assert abs(m.se / e["se"] - 1) <= SE_REL_CASE.get(name, SE_REL), (e, m.se)
        else:
            assert m.se == 0


def test_mlm_at_lavaans_estimate_on_the_ecsi_model() -> None:
    case = REF["mobi_mlm"]
    prob = prepare(load_csv(case["csv"]), case["model"], **_options(case))
    ref = {_key(e["lhs"], e["op"], e["rhs"], e["group"]): e for e in case["estimates"]}
    theta = np.zeros(prob.partable.npar)
    for r in prob.partable.rows:
        if r.free:
            theta[r.free - 1] = ref[_key(r.lhs, r.op, r.rhs, None)]["est"]
    ll = loglik(prob.model, theta, prob.data, prob.meanstructure, gradient=False)[0]
    res = summarize(prob, Optimum(theta, ll, True, 0, 0.0))
    for e in res.estimates:
        r = ref[_key(e.lhs, e.op, e.rhs, e.group)]
        if r["se"]:
            assert abs(e.se / r["se"] - 1) <= 1e-5, (r, e.se)
    _check_fit(res.fit, case["fit"], 1e-5)
    # and from pvm's own (tighter) optimum the fit measures are lavaan's to 5e-5
    own = fit_model(load_csv(case["csv"]), case["model"], **_options(case))
    assert own.converged
    _check_fit(own.fit, case["fit"], 5e-5)
    assert own.robust is not None
    assert (own.robust.se, own.robust.test) == ("robust.sem", "satorra.bentler")
    assert own.robust.rmsea_ci_lower_robust is None  # MLR's, not lavaan's MLM output
    assert own.robust.fit_measures() == {k: own.fit[k] for k in own.robust.fit_measures()}
    assert {"cfi.scaled", "baseline.chisq.scaled", "rmsea.robust"} <= set(own.robust.to_dict())


def test_pairwise_is_for_ml_only() -> None:
    with pytest.raises(ModelError, match="pairwise"):
        fit_model(
            load_csv("telecom_1500.csv"),
            "f =~ NQ1 + NQ2 + NQ3",
            estimator="MLR",
            missing="pairwise",
        )


@pytest.mark.parametrize("estimator", ["MLM", "GLS", "ULS"])
def test_needs_complete_data(estimator: str) -> None:
    with pytest.raises(ModelError, match=f"{estimator} needs complete data"):
        fit_model(
            load_csv("holzinger_swineford_1939.csv"), "f =~ x1 + x2 + x3", estimator=estimator
        )


def test_gls_reports_no_likelihood() -> None:
    case = REF["hs_gls"]
    res = fit_model(load_csv(case["csv"]), case["model"], **_options(case)).to_dict()
    assert res["fit"]["logl"] is None and res["fit"]["aic"] is None
    assert res["fit"]["chisq"] == pytest.approx(case["fit"]["chisq"], rel=FIT_REL)
