"""MLM: ML estimates with robust ("robust.sem") standard errors and the Satorra-Bentler test.

As lavaan's ``estimator="MLM"`` (complete data only): with ``Delta_g`` the Jacobian of group
g's moments (means if modelled, then vech(Sigma)), ``W_g`` the normal-theory weight at the
model-implied moments (lavaan's structured expected information) and ``Gamma_g`` the
asymptotic covariance of the sample moments (divisor n, centred at the sample means),

* ``vcov = E^-1 B E^-1`` with ``E = sum_g n_g Delta_g' W_g Delta_g`` (expected information) and
  ``B = sum_g n_g Delta_g' W_g Gamma_g W_g Delta_g``;
* the scaling factor ``c = [sum_g tr(W_g Gamma_g) - tr(E^-1 B)] / df`` (``tr(U Gamma) / df``);
  the baseline (independence) model gets its own factor.

Both are computed row by row: ``Delta' W z_i`` for the centred moment vector ``z_i`` of row i
is ``dmu' Sigma^-1 d_i + 0.5 tr(Sigma^-1 dSigma Sigma^-1 (d_i d_i' - S))``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from app.stats.sem.fitmeasures import baseline_loglik, cfi_tli, degrees_of_freedom, rmsea
from app.stats.sem.inference import safe_inverse
from app.stats.sem.likelihood import GroupData, expected_information, loglik
from app.stats.sem.model import GroupMatrices, LisrelModel
from app.stats.sem.problem import Problem
from app.stats.sem.results import RobustTest


def _row_terms(
    model: LisrelModel, mats: list[GroupMatrices], data: list[GroupData], ms: bool
) -> tuple[np.ndarray, float]:
    """``B`` (npar, npar) and ``sum_g tr(W_g Gamma_g)`` of a model at its estimate."""
    q = model.pt.npar
    B = np.zeros((q, q))
    tr_wg = 0.0
    for gm, gd, (dS, dm) in zip(mats, data, model.jacobian(mats), strict=True):
        X = gd.X
        n = X.shape[0]
        D = X - X.mean(axis=0)
        S = D.T @ D / n
        Si = np.linalg.inv(gm.sigma)
        U = D @ Si  # rows: Sigma^-1 d_i
        # 0.5 tr(Si dS_a Si (d d' - S)) = 0.5 (u' dS_a u - tr(Si dS_a Si S))
        quad = 0.5 * np.einsum("ij,qjk,ik->iq", U, dS, U, optimize=True)
        SiSSi = Si @ S @ Si
        quad -= 0.5 * np.einsum("jk,qkj->q", SiSSi, dS)
        if ms:
            quad += U @ dm.T
        B += quad.T @ quad
        # tr(W Gamma) = mean_i [0.5 tr((Si (Z_i - S))^2) + d_i' Si d_i]
        A = np.einsum("ij,ij->i", U, D)  # d_i' Si d_i
        SiS = Si @ S
        # tr(Si Z Si Z) = (d' Si d)^2; tr(Si Z Si S) = d' Si S Si d; tr(Si S Si S)
        t = 0.5 * (A**2 - 2.0 * np.einsum("ij,jk,ik->i", U, S, U) + np.trace(SiS @ SiS))
        if ms:
            t = t + A
        tr_wg += float(t.mean())
    return B, tr_wg


def mlm_vcov_and_tests(
    prob: Problem, theta: np.ndarray, info: np.ndarray
) -> tuple[np.ndarray, RobustTest]:
    """Robust covariance of theta and the Satorra-Bentler scaled fit measures.

    Parameters
    ----------
    prob : Problem
        Complete data (``missing="listwise"``).
    theta : ndarray, shape (npar,)
    info : ndarray, shape (npar, npar)
        Expected information of the whole sample at ``theta``.

    Returns
    -------
    vcov : ndarray, shape (npar, npar)
    test : RobustTest
        ``robust.sem`` / ``satorra.bentler``: lavaan's chisq.scaled, df.scaled, pvalue.scaled,
        chisq.scaling.factor,
        baseline.chisq.scaled, baseline.df.scaled, baseline.pvalue.scaled,
        baseline.chisq.scaling.factor, cfi.scaled, tli.scaled, rmsea.scaled, cfi.robust,
        tli.robust, rmsea.robust.
    """
    from app.stats.sem.robust import special_model, special_theta

    ms = prob.meanstructure
    mats = prob.model.matrices(theta)
    B, tr_h1 = _row_terms(prob.model, mats, prob.data, ms)
    Einv = safe_inverse(info)
    vcov = Einv @ B @ Einv
    tr_h0 = float(np.sum(Einv * B.T))
    # baseline: the independence model at its ML estimate, one group at a time
    bmodel, bms = special_model(prob.model.ov, "baseline", ms)
    tr_b = tr_bh1 = 0.0  # the baseline's own tr(W Gamma) (W at its Sigma) and tr(E^-1 B)
    for gd in prob.data:
        bth = special_theta(bmodel, gd, "baseline")
        bmats = bmodel.matrices(bth)
        binfo = expected_information(bmodel, bmats, [gd], bms)
        Bb, tw = _row_terms(bmodel, bmats, [gd], bms)
        tr_bh1 += tw
        tr_b += float(np.sum(safe_inverse(binfo) * Bb.T))
    n = sum(gd.n for gd in prob.data)
    G = len(prob.data)
    x_idx = [prob.model.ov.index(v) for v in prob.partable.names.ov_x]
    df, dfb = degrees_of_freedom(len(prob.model.ov), len(x_idx), G, ms, prob.partable.npar)
    ll = loglik(prob.model, theta, prob.data, ms, gradient=False)[0]
    h1 = sum(gd.h1.loglik for gd in prob.data)
    x2 = max(2 * (h1 - ll), 0.0)
    x2b = 2 * (h1 - baseline_loglik(prob.data))
    c = (tr_h1 - tr_h0) / df if df > 0 else math.nan
    cb = (tr_bh1 - tr_b) / dfb if dfb > 0 else math.nan
    x2s = x2 / c if df > 0 else math.nan
    x2bs = x2b / cb if dfb > 0 else math.nan
    cfi_s, tli_s = cfi_tli(x2s, df, x2bs, dfb)
    cfi_r, tli_r = cfi_tli(x2, df, x2b, dfb, c, cb)
    test = RobustTest(
        se="robust.sem",
        test="satorra.bentler",
        chisq_scaled=x2s,
        df_scaled=float(df),
        pvalue_scaled=float(stats.chi2.sf(x2s, df)) if df > 0 else math.nan,
        scaling_factor=c,
        baseline_chisq_scaled=x2bs,
        baseline_df_scaled=float(dfb),
        baseline_pvalue_scaled=float(stats.chi2.sf(x2bs, dfb)) if dfb > 0 else math.nan,
        baseline_scaling_factor=cb,
        cfi_scaled=cfi_s,
        tli_scaled=tli_s,
        rmsea_scaled=rmsea(x2s, df, n, G),
        cfi_robust=cfi_r,
        tli_robust=tli_r,
        rmsea_robust=rmsea(x2, df, n, G, c),
    )
    return vcov, test
