"""Information matrices, parameter covariances and Wald statistics."""

from __future__ import annotations

import numpy as np
from scipy import stats

from app.stats.sem.likelihood import GroupData, expected_information, loglik
from app.stats.sem.model import LisrelModel
from app.stats.sem.partable import ParTable
from app.stats.sem.results import Estimate

Z975 = float(stats.norm.ppf(0.975))
# Step of the numerical Hessian (absolute, as lavaan 0.6.14's lav_model_hessian).
OBS_INFO_STEP = 1e-6


def observed_information(
    model: LisrelModel, theta: np.ndarray, data: list[GroupData], meanstructure: bool
) -> np.ndarray:
    """Minus the Hessian of the log-likelihood, by differences of the analytic gradient.

    Central differences ``(g(h) - g(-h)) / 2h`` with an absolute step ``OBS_INFO_STEP`` (lavaan's
    ``lav_model_hessian`` uses the same step with a five-point rule; the two agree to ~1e-8 at
    half the cost), then symmetrised. On ill-conditioned models (the ECSI model, condition
    number ~1e8) forward differences put standard errors up to 4% off lavaan's; these agree to
    ~1e-6. Where a step leaves the
    admissible region (Sigma not positive definite), that column falls back to a one-sided
    difference.

    Returns
    -------
    ndarray, shape (npar, npar)
    """
    q = theta.size
    H = np.zeros((q, q))

    def grad(th: np.ndarray) -> np.ndarray | None:
        return loglik(model, th, data, meanstructure)[1]

    g0: np.ndarray | None = None
    for j in range(q):
        h = OBS_INFO_STEP
        while True:
            e = np.zeros(q)
            e[j] = h
            gm1, gp1 = grad(theta - e), grad(theta + e)
            if gm1 is not None and gp1 is not None:
                H[:, j] = (gp1 - gm1) / (2.0 * h)
                break
            if g0 is None:
                g0 = grad(theta)
                if g0 is None:
                    raise ValueError("observed information at an inadmissible point")
            if gp1 is not None:
                H[:, j] = (gp1 - g0) / h
                break
            if gm1 is not None:
                H[:, j] = (g0 - gm1) / h
                break
            # theta is admissible (g0 exists) but close to the boundary on both sides of this
            # parameter (a small sample's near-singular Sigma): a smaller step stays inside.
            if h < OBS_INFO_STEP * 1e-8:
                raise ValueError("observed information: no admissible step around the point")
            h /= 10.0
    return -(H + H.T) / 2.0


def information(
    model: LisrelModel,
    theta: np.ndarray,
    data: list[GroupData],
    meanstructure: bool,
    kind: str,
) -> np.ndarray:
    """``kind`` = "expected" (lavaan's default for complete data) or "observed" (FIML)."""
    if kind == "observed":
        return observed_information(model, theta, data, meanstructure)
    mats = model.matrices(theta)
    return expected_information(model, mats, data, meanstructure)


def safe_inverse(A: np.ndarray) -> np.ndarray:
    """Inverse, falling back to the pseudo-inverse for a singular (unidentified) information."""
    try:
        return np.linalg.inv(A)
    except np.linalg.LinAlgError:
        return np.linalg.pinv(A)


def wald(est: np.ndarray, se: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """z, two-sided p-value and the 95% interval; NaN z/p where se is 0 (fixed values)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, est / se, np.nan)
    p = 2.0 * stats.norm.sf(np.abs(z))
    return z, p, est - Z975 * se, est + Z975 * se


def estimate_rows(
    pt: ParTable,
    vals: np.ndarray,
    se_free: np.ndarray,
    std: np.ndarray,
    *,
    std_se: np.ndarray | None = None,
    std_lv: np.ndarray | None = None,
    std_nox: np.ndarray | None = None,
) -> list[Estimate]:
    """One Estimate per parameter-table row, in table order: ``vals`` (one per row), the free
    parameters' se ``se_free`` (fixed rows get 0), Wald z, p and 95% interval, and the
    standardized columns given (missing ones stay NaN)."""
    se = np.array([se_free[r.free - 1] if r.free else 0.0 for r in pt.rows])
    z, pv, lo, hi = wald(vals, se)
    nan = np.full(len(pt.rows), np.nan)
    std_se = nan if std_se is None else std_se
    std_lv = nan if std_lv is None else std_lv
    std_nox = nan if std_nox is None else std_nox
    labels = pt.groups
    return [
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
