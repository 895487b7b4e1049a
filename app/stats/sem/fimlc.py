"""Robust RMSEA/CFI/TLI after FIML: Zhang & Savalei's (2022) FIML-corrected statistics (V3).

lavaan (``missing="ml"`` with a scaled test, e.g. MLR) does not apply the complete-data
``c.hat`` formulas to the FIML chi-square. It evaluates the model, at its FIML estimates, against
the EM ("tilde") moments as if they were complete-data sample moments (``XX3``), and scales that
statistic by ``c3 = k / df`` computed from ``Wm``/``Jm`` (observed / first-order information of
the saturated FIML model), ``Wc`` (complete-data information at the EM moments) and the model
Jacobian. The baseline model gets the same treatment.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.linalg import block_diag

from app.stats.sem.h1info import complete_info, saturated_info, vech_jacobian
from app.stats.sem.inference import safe_inverse
from app.stats.sem.likelihood import GroupData
from app.stats.sem.model import GroupMatrices, LisrelModel


@dataclass(frozen=True)
class FimlCorrected:
    """``xx3``, ``c3`` for the model and ``xx3_null``, ``c3_null`` for the baseline."""

    xx3: float
    c3: float
    xx3_null: float
    c3_null: float


def _f_ml(gm_sigma: np.ndarray, gm_mu: np.ndarray, gd: GroupData) -> float:
    """n * F_ML of implied moments against the EM moments (lavaan's complete-data chisq)."""
    S, m = gd.h1.cov, gd.h1.mean
    Si = np.linalg.inv(gm_sigma)
    d = m - gm_mu
    _, ld_sig = np.linalg.slogdet(gm_sigma)
    _, ld_s = np.linalg.slogdet(S)
    p = S.shape[0]
    return gd.n * float(ld_sig + np.sum(Si * S) - ld_s - p + d @ Si @ d)


def _k(U: np.ndarray, Wmi: np.ndarray, Wc: np.ndarray, Gamma: np.ndarray) -> float:
    """tr(U Wm^-1 Wc Wm^-1 U Gamma)."""
    return float(np.sum((U @ Wmi @ Wc @ Wmi @ U) * Gamma.T))


def fiml_corrected(
    *,
    model: LisrelModel,
    mats: list[GroupMatrices],
    data: list[GroupData],
    df: int,
    bmodel: LisrelModel,
    bmats: list[list[GroupMatrices]],
    dfb: int,
    meats: Sequence[Callable[[np.ndarray], np.ndarray]] | None = None,
) -> FimlCorrected:
    """FIML-corrected statistics as lavaan 0.6.14's ``lav_fit_fiml_corrected`` (version V3).

    ``k = tr(U Wm^-1 Wc Wm^-1 U Gamma)`` with ``U = Wm - Wm D (D' Wm D)^-1 D' Wm``, block-diagonal
    over groups with lavaan's group-weight scalings (per-observation matrices times n_g / N).

    Parameters
    ----------
    model, mats
        The fitted model and its matrices per group.
    data : list of GroupData
    bmodel, bmats
        The independence model (one single-group model per group) and its matrices per group.
    df, dfb : int
        Degrees of freedom of the model and the baseline.
    meats : sequence of callable, optional
        Per group, the cross-product of the saturated model's casewise scores under a survey
        design (cluster sums, :mod:`app.stats.sem.design`); default the plain cross-product.
    """
    N = sum(gd.n for gd in data)
    jac = model.jacobian(mats)
    Wm_b, Wmi_b, Wc_b, Gam_b, D_b, DB_b = [], [], [], [], [], []
    xx3 = xx3_null = 0.0
    for g, gd in enumerate(data):
        fg = gd.n / N
        A, B = saturated_info(gd, None if meats is None else meats[g])
        Wm, Jm = A / gd.n, B / gd.n  # per observation, as lavaan
        Wc = complete_info(gd.h1.mean, gd.h1.cov, gd.n) / gd.n
        Wmi = safe_inverse(Wm)
        Wm_b.append(fg * Wm)
        Wmi_b.append(Wmi / fg)
        Wc_b.append(fg * Wc)
        Gam_b.append(Wmi @ Jm @ Wmi / fg)
        D_b.append(vech_jacobian(*jac[g]))
        bm = bmats[g][0]
        DB_b.append(vech_jacobian(*bmodel.jacobian([bm])[0]))
        xx3 += _f_ml(mats[g].sigma, mats[g].mu, gd)
        xx3_null += _f_ml(bm.sigma, bm.mu, gd)
    Wm_all, Wmi_all = block_diag(*Wm_b), block_diag(*Wmi_b)
    Wc_all, Gamma = block_diag(*Wc_b), block_diag(*Gam_b)
    D = np.vstack(D_b)  # model parameters are shared across groups
    DB = block_diag(*DB_b)  # the baseline has its own parameters per group
    out = []
    for Dm in (D, DB):
        WD = Wm_all @ Dm
        U = Wm_all - WD @ safe_inverse(Dm.T @ WD) @ WD.T
        out.append(_k(U, Wmi_all, Wc_all, Gamma))
    c3 = out[0] / df if df > 0 else math.nan
    c3_null = out[1] / dfb if dfb > 0 else math.nan
    return FimlCorrected(xx3, c3, xx3_null, c3_null)
