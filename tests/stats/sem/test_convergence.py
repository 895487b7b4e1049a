"""Robust convergence and observed-information standard errors against lavaan 0.6.14 (issue 15).

References: tests/data/convergence.json, made by tests/data/convergence.R.

* The ECSI mobile-phone model (mobi, condition number ~1e8) used to stop unconverged under pvm's
  default FIML (max |gradient| 0.168). pvm now reaches a tighter optimum than lavaan's: lavaan's
  nlminb stops where max |gradient| is ~2.5e-5 (it reports false convergence for any tighter
  rel.tol), pvm at ~1e-9 with a log-likelihood ~3e-8 higher. The fit measures agree to 1e-6
  (relative; 3.1e-8 measured), the estimates only to lavaan's stopping point (2.8e-3 measured
  on the flat structural paths). The standard errors are therefore compared at lavaan's own
  estimates, where the observed information by central differences gives lavaan's to 1e-5
  (8.1e-6 measured, MLR listwise; the forward differences used before were up to 4% off).
* Four groups, one of them small (Holzinger-Swineford by age 12..15: 101, 110, 55, 20 rows),
  metric and scalar with FIML; and the NQ model on telecom_1500 by tenure with missing data where
  the lapsed group keeps 50 rows: estimates to 1e-4 (7.8e-5 measured), se 2e-4 relative (1.2e-4
  measured), as lavaan's default stopping rule allows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app.stats.sem import fit_model, prepare, summarize
from app.stats.sem.likelihood import loglik
from app.stats.sem.optimize import Optimum

from .golden import STAT_REL, load_csv, load_json

REF = load_json("convergence")
CASES = [k for k in REF if k != "lavaan_version"]
MOBI = [k for k in CASES if k.startswith("mobi")]
# est and se agreement per case (see the module docstring)
EST_TOL = {"mobi": 3e-3, "hs_age": 1e-4, "telecom": 1e-4}
SE_REL = 2e-4
SE_REL_AT_LAVAAN = 1e-5


def _data(case: dict) -> pd.DataFrame:
    df = load_csv(case["csv"])
    opts = case["options"]
    if "ageyr" in opts:
        df = df[df["ageyr"].isin(opts["ageyr"])]
    if "lapsed_rows" in opts:
        lapsed = np.flatnonzero(df["tenure"] == "lapsed")
        df = df.drop(df.index[lapsed[opts["lapsed_rows"] :]])
    return df


def _options(case: dict) -> dict:
    opts = {k: v for k, v in case["options"].items() if k in ("estimator", "missing", "group")}
    ge = case["options"].get("group_equal")
    if ge:
        opts["group_equal"] = [ge] if isinstance(ge, str) else list(ge)
    return opts


def _key(lhs: str, op: str, rhs: str, group: object) -> tuple:
    return (lhs, op, rhs, None if group is None else str(group))


@pytest.mark.parametrize("name", CASES)
def test_converges_to_lavaans_optimum(name: str) -> None:
    case = REF[name]
    assert case["converged"]
    res = fit_model(_data(case), case["model"], **_options(case))
    assert res.converged
    fit = case["fit"]
    # pvm's optimum is at least as good as lavaan's
    assert res.fit["logl"] >= fit["logl"] - STAT_REL * abs(fit["logl"])
    # telecom: lavaan's EM for the saturated model stops at its 500-iteration limit in the
    # lapsed group (it warns), so chisq and srmr (which need it) are not compared there
    skip = {"chisq", "srmr", "cfi", "tli", "rmsea", "unrestricted.logl"}
    for k, v in fit.items():
        if name == "telecom_tenure" and k in skip:
            continue
        if k in ("npar", "df"):
            assert res.fit[k] == v, k
        elif k in ("chisq.scaled", "chisq.scaling.factor", "cfi.robust", "rmsea.robust"):
            # MLR: depends on the estimates, which lavaan leaves ~2e-3 off its optimum
            assert res.fit[k] == pytest.approx(v, rel=5e-5), k  # 3.1e-5 measured
        else:
            assert res.fit[k] == pytest.approx(v, rel=STAT_REL, abs=STAT_REL), k
    est_tol = next(t for prefix, t in EST_TOL.items() if name.startswith(prefix))
    mine = {_key(e.lhs, e.op, e.rhs, e.group): e for e in res.estimates}
    for e in case["estimates"]:
        m = mine[_key(e["lhs"], e["op"], e["rhs"], e["group"])]
        assert abs(m.est - e["est"]) <= est_tol, (e, m.est)
        if e["se"] and not name.startswith("mobi"):
            assert abs(m.se / e["se"] - 1) <= SE_REL, (e, m.se)


@pytest.mark.parametrize("name", MOBI)
def test_standard_errors_at_lavaans_estimate(name: str) -> None:
    """The information (observed by central differences under FIML and for MLR) at lavaan's
    estimate gives lavaan's standard errors and scaled test."""
    case = REF[name]
    opts = _options(case)
    prob = prepare(_data(case), case["model"], **opts)
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
            assert abs(e.se / r["se"] - 1) <= SE_REL_AT_LAVAAN, (r, e.se)
    if "chisq.scaled" in case["fit"]:
        assert res.fit["chisq.scaled"] == pytest.approx(case["fit"]["chisq.scaled"], rel=1e-6)
