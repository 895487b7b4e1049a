"""Everything reported at an optimum: standard errors, fit measures, std.all, R², := values."""

from __future__ import annotations

import math

import numpy as np

from app.stats.sem._threads import single_thread_blas
from app.stats.sem.admissibility import admissibility_warnings
from app.stats.sem.defined import delta_method, evaluate
from app.stats.sem.diagnostics import standardized_se
from app.stats.sem.errors import ModelError
from app.stats.sem.fitmeasures import fit_measures
from app.stats.sem.inference import information, safe_inverse, wald
from app.stats.sem.optimize import Optimum
from app.stats.sem.partable import ParTable
from app.stats.sem.problem import Problem
from app.stats.sem.results import Estimate, MeasurementMatrices, SemResult
from app.stats.sem.standardize import r_squared, standardize, std_all
from app.stats.sem.validate import definitions


def row_values(prob: Problem, theta: np.ndarray) -> np.ndarray:
    """Estimate of every parameter-table row (free from theta, fixed from ustart/sample).

    Returns
    -------
    ndarray, shape (len(prob.partable.rows),)
        In the order of ``SemResult.estimates`` (whose defined parameters follow).
    """
    vals = np.empty(len(prob.partable.rows))
    base = prob.model.base
    for k, (r, t) in enumerate(zip(prob.partable.rows, prob.model.targets, strict=True)):
        vals[k] = theta[r.free - 1] if r.free else base[r.group - 1][t.mat][t.i, t.j]
    return vals


def defined_values(
    prob: Problem, theta: np.ndarray, *, standardized: bool | str = False
) -> np.ndarray:
    """Values of the ``:=`` parameters at ``theta``, in syntax order (shape (n_defined,)).

    ``standardized``: True (std.all) or a kind of :func:`standardize` ("std.lv", "std.nox").
    """
    defs = definitions(prob.partable)
    v = row_values(prob, theta)
    if standardized:
        kind = standardized if isinstance(standardized, str) else "std.all"
        v = standardize(prob.model, prob.model.matrices(theta), v, kind)
    env = _def_env(prob.partable, v)
    out = []
    for name, _expr, tree, _used in defs:
        env[name] = evaluate(tree, env)
        out.append(env[name])
    return np.array(out)


def _def_env(pt: ParTable, vals: np.ndarray) -> dict[str, float]:
    env: dict[str, float] = {}
    for k, r in enumerate(pt.rows):
        if r.label and r.label not in env:
            env[r.label] = vals[k]
        env[r.plabel] = vals[k]
    return env


def summarize(prob: Problem, opt: Optimum, defs: list | None = None) -> SemResult:
    """Standard errors, fit measures, standardized estimates and R² at an optimum."""
    with single_thread_blas():
        return _summarize(prob, opt, defs)


def _summarize(prob: Problem, opt: Optimum, defs: list | None) -> SemResult:
    pt, lm = prob.partable, prob.model
    if defs is None:
        defs = definitions(pt)
    theta = opt.theta
    mats = lm.matrices(theta)
    kind = prob.info_kind
    if prob.estimator in ("GLS", "ULS"):
        from app.stats.sem.gls import gls_information

        info = gls_information(lm, mats, prob.data, prob.meanstructure, prob.estimator)
    elif opt.info is not None and opt.info_kind == kind:
        info = opt.info  # fit_ml hands it on only if computed at theta (INFO_REUSE_RTOL)
    else:
        info = information(lm, theta, prob.data, prob.meanstructure, kind)
    extra: dict = {}
    if prob.estimator == "MLR":
        if pt.names.ov_x:
            raise ModelError("MLR with observed exogenous covariates (fixed.x) is not supported")
        from app.stats.sem.robust import robust_vcov_and_tests

        vcov, robust_fit = robust_vcov_and_tests(prob, theta, info)
        extra["robust"] = robust_fit
    elif prob.estimator == "MLM":
        if pt.names.ov_x:
            raise ModelError("MLM with observed exogenous covariates (fixed.x) is not supported")
        from app.stats.sem.mlm import mlm_vcov_and_tests

        vcov, robust_fit = mlm_vcov_and_tests(prob, theta, info)
        extra["robust"] = robust_fit
    else:
        vcov = safe_inverse(info)
    se_free = np.sqrt(np.clip(np.diag(vcov), 0, None))
    vals = row_values(prob, theta)
    se = np.array([se_free[r.free - 1] if r.free else 0.0 for r in pt.rows])
    z, pv, lo, hi = wald(vals, se)
    std = std_all(lm, mats, vals)
    std_se = standardized_se(lm, theta, vals, vcov)
    std_lv = standardize(lm, mats, vals, "std.lv")
    std_nox = standardize(lm, mats, vals, "std.nox")
    labels = pt.groups
    ests = [
        Estimate(
            r.lhs,
            r.op,
            r.rhs,
            r.label,
            labels[r.group - 1],
            vals[k],
            se[k],
            z[k],
            pv[k],
            lo[k],
            hi[k],
            std[k],
            r.free,
            std_se[k],
            std_lv=std_lv[k],
            std_nox=std_nox[k],
        )
        for k, r in enumerate(pt.rows)
    ]
    if defs:

        def dfun(th: np.ndarray, *, standardized: bool | str = False) -> np.ndarray:
            return defined_values(prob, th, standardized=standardized)

        dval, dcov = delta_method(dfun, theta, vcov)
        dse = np.sqrt(np.clip(np.diag(dcov), 0, None))
        dstd, dstd_cov = delta_method(lambda th: dfun(th, standardized=True), theta, vcov)
        dstd_se = np.sqrt(np.clip(np.diag(dstd_cov), 0, None))
        dz, dp, dlo, dhi = wald(dval, dse)
        dstd_lv = dfun(theta, standardized="std.lv")
        dstd_nox = dfun(theta, standardized="std.nox")
        for k, (name, expr, _t, _u) in enumerate(defs):
            ests.append(
                Estimate(
                    name,
                    ":=",
                    expr,
                    name,
                    None,
                    dval[k],
                    dse[k],
                    dz[k],
                    dp[k],
                    dlo[k],
                    dhi[k],
                    dstd[k],
                    0,
                    dstd_se[k],
                    std_lv=dstd_lv[k],
                    std_nox=dstd_nox[k],
                )
            )
    npar = pt.npar
    x_idx = [lm.ov.index(v) for v in pt.names.ov_x]
    fit = fit_measures(
        loglik=opt.loglik,
        data=prob.data,
        mats=mats,
        npar=npar,
        meanstructure=prob.meanstructure,
        x_idx=x_idx,
    )
    if prob.estimator in ("GLS", "ULS"):
        from app.stats.sem.gls import gls_fit_measures

        x2 = -2.0 * opt.loglik
        fit = gls_fit_measures(fit, x2, prob.data, mats, prob.meanstructure, prob.estimator)
    if "robust" in extra:
        fit.update(extra["robust"])
    r2s = r_squared(lm, mats)
    r2: dict = r2s[0] if len(labels) == 1 else {str(g): d for g, d in zip(labels, r2s, strict=True)}
    matrices = [
        MeasurementMatrices(
            labels[g],
            list(lm.ov),
            list(lm.lv),
            gm.lambda_,
            gm.theta,
            gm.psi,
            gm.lv_cov,
            gm.sigma,
            prob.data[g].h1.cov,
            prob.data[g].h1.mean,
            prob.data[g].n,
        )
        for g, gm in enumerate(mats)
    ]
    if not math.isfinite(opt.loglik):
        raise ModelError("the model could not be estimated (non-finite likelihood)")
    warnings = admissibility_warnings(pt, vals, lm.lv, mats)
    if not opt.converged:
        warnings.insert(0, not_converged_message(opt))
    return SemResult(
        nobs=sum(gd.n for gd in prob.data),
        estimator=prob.estimator,
        missing=prob.missing,
        converged=opt.converged,
        fit=fit,
        estimates=ests,
        r2=r2,
        groups=labels,
        nobs_group=[gd.n for gd in prob.data],
        matrices=matrices,
        theta=theta,
        vcov=vcov,
        n_iter=opt.n_iter,
        extra=extra,
        warnings=warnings,
    )


def not_converged_message(opt: Optimum) -> str:
    """The plain-words warning of a fit whose optimizer did not converge."""
    return (
        f"the model did not converge: the optimizer stopped after {opt.n_iter} iterations "
        f"with max |gradient| {opt.grad_max:.2g}; the estimates are where it stopped, not a "
        "solution, and no fit measures or standard errors are reported"
    )
