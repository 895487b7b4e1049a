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
from app.stats.sem.inference import estimate_rows, information, safe_inverse, wald
from app.stats.sem.model import GroupMatrices
from app.stats.sem.optimize import Optimum
from app.stats.sem.partable import ParTable
from app.stats.sem.problem import Problem
from app.stats.sem.results import Estimate, MeasurementMatrices, RobustTest, SemResult
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
    if not math.isfinite(opt.loglik):
        raise ModelError("the model could not be estimated (non-finite likelihood)")
    pt, lm = prob.partable, prob.model
    if defs is None:
        defs = definitions(pt)
    theta = opt.theta
    mats = lm.matrices(theta)
    vcov, robust = _vcov(prob, theta, _information(prob, opt, mats))
    vals = row_values(prob, theta)
    ests = _row_estimates(prob, theta, mats, vals, vcov)
    if defs:
        ests += _defined_estimates(prob, defs, theta, vcov)
    fit = _fit(prob, opt, mats)
    if robust is not None:
        fit.update(robust.fit_measures())
    labels = pt.groups
    r2s = r_squared(lm, mats)
    r2: dict = r2s[0] if len(labels) == 1 else {str(g): d for g, d in zip(labels, r2s, strict=True)}
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
        matrices=_measurement_matrices(prob, mats),
        theta=theta,
        vcov=vcov,
        n_iter=opt.n_iter,
        robust=robust,
        warnings=warnings,
    )


def _information(prob: Problem, opt: Optimum, mats: list[GroupMatrices]) -> np.ndarray:
    """Information matrix of the whole sample at the optimum (the kind ``prob`` asks for)."""
    if prob.estimator in ("GLS", "ULS"):
        from app.stats.sem.gls import gls_information

        return gls_information(prob.model, mats, prob.data, prob.meanstructure, prob.estimator)
    if opt.info is not None and opt.info_kind == prob.info_kind:
        return opt.info  # fit_ml hands it on only if computed at theta (INFO_REUSE_RTOL)
    return information(prob.model, opt.theta, prob.data, prob.meanstructure, prob.info_kind)


def _vcov(
    prob: Problem, theta: np.ndarray, info: np.ndarray
) -> tuple[np.ndarray, RobustTest | None]:
    """Covariance of theta: the sandwich and scaled test under MLR/MLM, else info^-1."""
    if prob.estimator not in ("MLR", "MLM"):
        return safe_inverse(info), None
    if prob.partable.names.ov_x:
        raise ModelError(
            f"{prob.estimator} with observed exogenous covariates (fixed.x) is not supported"
        )
    if prob.estimator == "MLR":
        from app.stats.sem.robust import robust_vcov_and_tests

        return robust_vcov_and_tests(prob, theta, info)
    from app.stats.sem.mlm import mlm_vcov_and_tests

    return mlm_vcov_and_tests(prob, theta, info)


def _row_estimates(
    prob: Problem,
    theta: np.ndarray,
    mats: list[GroupMatrices],
    vals: np.ndarray,
    vcov: np.ndarray,
) -> list[Estimate]:
    """One Estimate per parameter-table row: Wald tests, std.all and its delta-method se."""
    pt, lm = prob.partable, prob.model
    return estimate_rows(
        pt,
        vals,
        np.sqrt(np.clip(np.diag(vcov), 0, None)),
        std_all(lm, mats, vals),
        std_se=standardized_se(lm, theta, vals, vcov),
        std_lv=standardize(lm, mats, vals, "std.lv"),
        std_nox=standardize(lm, mats, vals, "std.nox"),
    )


def _defined_estimates(
    prob: Problem, defs: list, theta: np.ndarray, vcov: np.ndarray
) -> list[Estimate]:
    """The ``:=`` rows: values, delta-method se, Wald tests and standardized values."""

    def dfun(th: np.ndarray, *, standardized: bool | str = False) -> np.ndarray:
        return defined_values(prob, th, standardized=standardized)

    dval, dcov = delta_method(dfun, theta, vcov)
    dse = np.sqrt(np.clip(np.diag(dcov), 0, None))
    dstd, dstd_cov = delta_method(lambda th: dfun(th, standardized=True), theta, vcov)
    dstd_se = np.sqrt(np.clip(np.diag(dstd_cov), 0, None))
    dz, dp, dlo, dhi = wald(dval, dse)
    dstd_lv = dfun(theta, standardized="std.lv")
    dstd_nox = dfun(theta, standardized="std.nox")
    return [
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
        for k, (name, expr, _t, _u) in enumerate(defs)
    ]


def _fit(prob: Problem, opt: Optimum, mats: list[GroupMatrices]) -> dict[str, float]:
    """lavaan's fit measures of the (unscaled) test; GLS/ULS replace the ML-based ones."""
    lm = prob.model
    fit = fit_measures(
        loglik=opt.loglik,
        data=prob.data,
        mats=mats,
        npar=prob.partable.npar,
        meanstructure=prob.meanstructure,
        x_idx=[lm.ov.index(v) for v in prob.partable.names.ov_x],
    )
    if prob.estimator in ("GLS", "ULS"):
        from app.stats.sem.gls import gls_fit_measures

        x2 = -2.0 * opt.loglik
        fit = gls_fit_measures(fit, x2, prob.data, mats, prob.meanstructure, prob.estimator)
    return fit


def _measurement_matrices(prob: Problem, mats: list[GroupMatrices]) -> list[MeasurementMatrices]:
    """One MeasurementMatrices per group (what reliability code reads)."""
    lm, labels = prob.model, prob.partable.groups
    return [
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


def not_converged_message(opt: Optimum) -> str:
    """The plain-words warning of a fit whose optimizer did not converge."""
    return (
        f"the model did not converge: the optimizer stopped after {opt.n_iter} iterations "
        f"with max |gradient| {opt.grad_max:.2g}; the estimates are where it stopped, not a "
        "solution, and no fit measures or standard errors are reported"
    )
