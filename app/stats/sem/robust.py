"""MLR: Huber-White standard errors and the Yuan-Bentler (Mplus variant) scaled test.

As lavaan's ``estimator="MLR"`` (``se="robust.huber.white"``, ``test="yuan.bentler.mplus"``,
``information="observed"``): the parameter covariance is ``E^-1 B0 E^-1`` with ``E`` the
observed information and ``B0`` the cross-product of casewise scores; the scaling factor is
``c = [sum_g tr(A1_g^-1 B1_g) - tr(B0 E^-1)] / df`` where ``A1``/``B1`` are the information and
score cross-product of the saturated (H1) model at its estimate. Robust CFI/TLI/RMSEA use the
scaling factors of the model and of the baseline model on the unscaled statistics
(Brosseau-Liard & Savalei's correction, lavaan's ``c.hat`` formulas).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import numpy as np
from scipy import stats

from app.stats.sem.design import SurveyDesign, h1_information
from app.stats.sem.fimlc import fiml_corrected
from app.stats.sem.fitmeasures import (
    baseline_loglik,
    cfi_tli,
    degrees_of_freedom,
    rmsea,
    rmsea_ci,
)
from app.stats.sem.h1info import saturated_trace
from app.stats.sem.inference import observed_information, safe_inverse
from app.stats.sem.likelihood import GroupData, casewise_scores, expected_information, loglik
from app.stats.sem.model import GroupMatrices, LisrelModel
from app.stats.sem.partable import build_partable
from app.stats.sem.patterns import available_moments
from app.stats.sem.problem import Problem
from app.stats.sem.results import RobustTest

Meat = Callable[[np.ndarray], np.ndarray] | None


def _group_meat(
    design: SurveyDesign, g: int, data: list[GroupData], scores: np.ndarray
) -> np.ndarray:
    """The design's cross-product of one group's scores (a per-group baseline fit)."""
    return design.meat(g, scores)


def special_model(ov: list[str], kind: str, meanstructure: bool) -> tuple[LisrelModel, bool]:
    """Saturated ("h1") or independence ("baseline") model over the observed variables."""
    lines = []
    for i, a in enumerate(ov):
        others = ov[i:] if kind == "h1" else [a]
        lines.append(f"{a} ~~ " + " + ".join(others))
    pt = build_partable("\n".join(lines), meanstructure=meanstructure)
    return LisrelModel(pt), pt.meanstructure


def special_theta(model: LisrelModel, data: GroupData, kind: str) -> np.ndarray:
    """Estimates of the saturated / independence model (EM or available-case moments)."""
    theta = np.zeros(model.pt.npar)
    oi = {v: k for k, v in enumerate(model.ov)}
    if kind == "h1":
        mean, cov = data.h1.mean, data.h1.cov
    else:  # available-case moments (weighted ones under sampling weights)
        mean, var = available_moments(data.patterns, data.X.shape[1])
        cov = np.diag(var)
    for r in model.pt.free_rows():
        if r.op == "~1":
            theta[r.free - 1] = mean[oi[r.lhs]]
        else:
            theta[r.free - 1] = cov[oi[r.lhs], oi[r.rhs]]
    return theta


def _trace_h1(
    data: GroupData, ov: list[str], meanstructure: bool, complete: bool, meat: Meat = None
) -> float:
    """tr(A1^-1 B1) of one group's saturated model (``meat``: B1 from the casewise scores)."""
    if not complete and meanstructure:
        return saturated_trace(data, meat)  # analytic observed information under missing data
    model, ms = special_model(ov, "h1", meanstructure)
    theta = special_theta(model, data, "h1")
    mats = model.matrices(theta)
    if complete:  # at the saturated MLE observed and expected information coincide
        A1 = expected_information(model, mats, [data], ms)
    else:
        A1 = observed_information(model, theta, [data], ms)
    S = casewise_scores(model, mats, [data], ms)
    B1 = S.T @ S if meat is None else meat(S)
    return float(np.sum(safe_inverse(A1) * B1))


def _trace_h0(
    model: LisrelModel,
    theta: np.ndarray,
    data: list[GroupData],
    ms: bool,
    info: np.ndarray,
    meat: Callable[[list[GroupData], np.ndarray], np.ndarray] | None = None,
) -> tuple[float, np.ndarray]:
    S = casewise_scores(model, model.matrices(theta), data, ms)
    B0 = S.T @ S if meat is None else meat(data, S)
    return float(np.sum(B0 * safe_inverse(info).T)), B0


def _baseline_trace(
    bmodel: LisrelModel,
    bms: bool,
    data: list[GroupData],
    complete: bool,
    design: SurveyDesign | None = None,
) -> tuple[float, list[list[GroupMatrices]]]:
    """The independence model's own h0 trace, summed over groups, and its matrices per group
    (expected information with complete data, observed otherwise; the design's cross-product
    of scores when there is one)."""
    tb_sum = 0.0
    bmats = []
    for g, gd in enumerate(data):
        bth = special_theta(bmodel, gd, "baseline")
        binfo = (
            expected_information(bmodel, bmodel.matrices(bth), [gd], bms)
            if complete
            else observed_information(bmodel, bth, [gd], bms)
        )
        g_meat = None if design is None else partial(_group_meat, design, g)
        tb, _ = _trace_h0(bmodel, bth, [gd], bms, binfo, g_meat)
        tb_sum += tb
        bmats.append(bmodel.matrices(bth))
    return tb_sum, bmats


def _robust_rmsea(
    x3: float, c3: float, df: int, n: int, G: int
) -> tuple[float, float, float, float]:
    """Robust RMSEA of the statistic ``x3`` with scaling factor ``c3``, its 90% interval and
    close-fit p-value (lavaan 0.6.13+: both from the scaled robust statistic x3 / c3)."""
    rmsea_r = rmsea(x3, df, n, G, c3)
    x3s = x3 / c3 if df > 0 and c3 > 0 else math.nan
    lo_r = hi_r = p_r = math.nan
    if math.isfinite(x3s):
        lo_r, hi_r = rmsea_ci(x3s, df, n, G, c_hat=c3)
        p_r = float(stats.ncx2.sf(x3s, df, n * df / c3 * 0.05**2 / G))
    return rmsea_r, lo_r, hi_r, p_r


def robust_vcov_and_tests(
    prob: Problem, theta: np.ndarray, info: np.ndarray
) -> tuple[np.ndarray, RobustTest]:
    """Sandwich covariance of theta and the scaled fit measures.

    Parameters
    ----------
    prob : Problem
    theta : ndarray, shape (npar,)
    info : ndarray, shape (npar, npar)
        Information matrix of the whole sample (observed for MLR).

    Returns
    -------
    vcov : ndarray, shape (npar, npar)
    test : RobustTest
        ``robust.huber.white`` / ``yuan.bentler.mplus``: chisq.scaled, df.scaled,
        pvalue.scaled, chisq.scaling.factor, cfi.robust, tli.robust, rmsea.robust,
        rmsea.ci.lower.robust, rmsea.ci.upper.robust, rmsea.pvalue.robust (and the baseline's
        scaling factor, baseline.chisq.scaling.factor).
    """
    ms = prob.meanstructure
    design = prob.design  # cluster / sampling weights (app.stats.sem.design), or None
    meat_all = None if design is None else design.meat_all
    if prob.missing != "fiml":  # lavaan's MLR uses observed information also for complete data
        info = observed_information(prob.model, theta, prob.data, ms)
    trace_h0, B0 = _trace_h0(prob.model, theta, prob.data, ms, info, meat_all)
    Einv = safe_inverse(info)
    vcov = Einv @ B0 @ Einv
    if design is not None and design.h1_test:  # lavaan: observed.information "h1" for the test
        trace_h0, _ = _trace_h0(
            prob.model, theta, prob.data, ms, h1_information(prob.model, theta, prob.data), meat_all
        )
    complete = all(gd.complete for gd in prob.data)
    ov = prob.model.ov
    trace_h1 = sum(
        _trace_h1(gd, ov, ms, complete, None if design is None else partial(design.meat, g))
        for g, gd in enumerate(prob.data)
    )
    bmodel, bms = special_model(ov, "baseline", ms)
    tb_sum, bmats = _baseline_trace(bmodel, bms, prob.data, complete, design)
    n = sum(gd.n for gd in prob.data)
    G = len(prob.data)
    df, dfb = degrees_of_freedom(len(ov), 0, G, ms, prob.partable.npar)
    ll = loglik(prob.model, theta, prob.data, ms, gradient=False)[0]
    h1 = sum(gd.h1.loglik for gd in prob.data)
    x2 = max(2 * (h1 - ll), 0.0)
    x2b = 2 * (h1 - baseline_loglik(prob.data))
    c = (trace_h1 - trace_h0) / df if df > 0 else math.nan
    cb = (trace_h1 - tb_sum) / dfb if dfb > 0 else math.nan
    x2s = x2 / c if df > 0 else math.nan
    # robust indices: complete data use the scaling factors on the unscaled statistics; FIML
    # uses Zhang & Savalei's corrected statistics and factors (as lavaan does)
    x3, c3, x3b, c3b = x2, c, x2b, cb
    if prob.missing == "fiml":  # lavaan: whenever missing="ml", complete rows or not
        fc = fiml_corrected(
            model=prob.model,
            mats=prob.model.matrices(theta),
            data=prob.data,
            df=df,
            bmodel=bmodel,
            bmats=bmats,
            dfb=dfb,
            meats=None if design is None else [partial(design.meat, g) for g in range(G)],
        )
        x3, c3, x3b, c3b = fc.xx3, fc.c3, fc.xx3_null, fc.c3_null
    cfi_r, tli_r = cfi_tli(x3, df, x3b, dfb, c3, c3b)
    rmsea_r, lo_r, hi_r, p_r = _robust_rmsea(x3, c3, df, n, G)
    test = RobustTest(
        se="robust.huber.white",
        test="yuan.bentler.mplus",
        chisq_scaled=x2s,
        df_scaled=float(df),
        pvalue_scaled=float(stats.chi2.sf(x2s, df)) if df > 0 else math.nan,
        scaling_factor=c,
        baseline_scaling_factor=cb,
        cfi_robust=cfi_r,
        tli_robust=tli_r,
        rmsea_robust=rmsea_r,
        rmsea_ci_lower_robust=lo_r,
        rmsea_ci_upper_robust=hi_r,
        rmsea_pvalue_robust=p_r,
    )
    return vcov, test
