"""lavaan's admissibility checks of a solution (``lav_object_post_check``), as plain warnings.

A solution can be the maximum of the likelihood and still be no admissible model: a negative
(residual) variance (a Heywood case), or a latent or residual covariance matrix that is not
positive definite. lavaan warns and reports the fit anyway; so does pvm, in
``SemResult.warnings``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from app.stats.sem.model import GroupMatrices
from app.stats.sem.partable import ParRow, ParTable

# lavaan: an eigenvalue below -(machine epsilon)^(3/4) makes a matrix not positive definite
EIGEN_TOL = float(np.finfo(float).eps ** 0.75)


def admissibility_warnings(
    pt: ParTable, values: np.ndarray, lv_all: Sequence[str], mats: Sequence[GroupMatrices]
) -> list[str]:
    """Warnings in a researcher's words, in lavaan 0.6.14's order and with its rules.

    Negative variances of observed variables and of latent variables (any group); then, only
    if no latent variance is negative, a latent covariance matrix (model-implied, of the latent
    variables proper) that is not positive definite; then, only if no observed variance is
    negative, a residual covariance matrix (theta) that is not positive definite.

    Parameters
    ----------
    pt : the parameter table.
    values : the estimate of every row of ``pt.rows``.
    lv_all : latent-space variables (columns of Lambda: latents, then phantoms).
    mats : the model matrices of each group at the estimate.
    """
    lv = pt.names.lv
    multi = len(pt.groups) > 1

    def named(r: ParRow) -> str:
        return f"{r.lhs} (group {pt.groups[r.group - 1]})" if multi else r.lhs

    variances = [
        (r, v) for r, v in zip(pt.rows, values, strict=True) if r.op == "~~" and r.lhs == r.rhs
    ]
    neg_ov = [named(r) for r, v in variances if r.lhs not in lv and v < 0]
    neg_lv = [named(r) for r, v in variances if r.lhs in lv and v < 0]
    out: list[str] = []
    if neg_ov:
        out.append(
            f"negative residual variance of {', '.join(neg_ov)}: the solution is not "
            "admissible (a Heywood case)"
        )
    if neg_lv:
        out.append(
            f"negative variance of the latent variable(s) {', '.join(neg_lv)}: the solution is "
            "not admissible"
        )
    li = [lv_all.index(v) for v in lv]
    for label, gm in zip(pt.groups, mats, strict=True):
        where = "" if label is None else f" in group {label}"
        if not neg_lv and li:
            cov_lv = gm.lv_cov[np.ix_(li, li)]
            if np.linalg.eigvalsh(cov_lv).min() < -EIGEN_TOL:
                out.append(
                    f"the covariance matrix of the latent variables{where} is not positive "
                    "definite (a correlation beyond -1..1): the solution is not admissible"
                )
    for label, gm in zip(pt.groups, mats, strict=True):
        where = "" if label is None else f" in group {label}"
        if not neg_ov and np.linalg.eigvalsh(gm.theta).min() < -EIGEN_TOL:
            out.append(
                f"the covariance matrix of the residuals of the observed variables{where} is "
                "not positive definite (a correlation beyond -1..1): the solution is not "
                "admissible"
            )
    return out
