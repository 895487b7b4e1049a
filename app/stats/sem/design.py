"""Survey design: lavaan 0.6.14's ``cluster=`` and ``sampling.weights=`` for single-level models.

``cluster`` (respondents nested in, e.g., branches) leaves the estimates alone and changes the
"meat" of the sandwich: the casewise scores are summed within each cluster and multiplied by
``sqrt(nC / (nC - 1))`` (nC clusters in the group) before their cross-product, for the standard
errors (lavaan's ``se = "robust.cluster"``) and for the Yuan-Bentler (Mplus) scaled test, of the
model, the saturated and the independence model alike (``lav_mvnorm_information_firstorder``,
``lav_mvnorm_missing_information_firstorder``). A mean structure is always included, and with
estimator ML (not MLR, and no weights) the test's information is lavaan's
``observed.information = "h1"``: ``Delta' A1 Delta`` with ``A1`` the observed information of
the saturated model at the model-implied moments; the standard errors keep the Hessian.

``sampling_weights`` (one number >= 0 per row, rescaled to sum to n as lavaan's default
``sampling.weights.normalization = "total"``): the model is fitted to the weighted sample
moments (weighted mean, covariance with divisor sum(w) = n), which makes the log-likelihood
lavaan's weighted one; the casewise scores are multiplied by the weights. Both make the
estimator MLR-type whatever ``estimator`` says (ML or MLR), as lavaan does.

Not available (``ModelError`` from :func:`check_design`, field ``cluster`` or
``sampling_weights``): estimators MLM, GLS, ULS, ``missing = "pairwise"``, ordered items,
bootstrap; weights with groups also need ``missing = "listwise"``. Under FIML the weights
enter every pattern's moments and the saturated model's EM (lavaan's weighted
``missing = "ml"``). Weights are rescaled to sum to the rows of all groups (lavaan's "total"):
a group's weight sum is its ``n`` in the likelihood, ``nobs`` stays its rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from app.stats.sem.em import SaturatedEM, pattern_em, pattern_loglik
from app.stats.sem.errors import ModelError
from app.stats.sem.h1info import structured_info, vech_jacobian
from app.stats.sem.likelihood import GroupData
from app.stats.sem.model import LisrelModel
from app.stats.sem.patterns import WeightedPattern, weighted_patterns

# Estimators that take a survey design (lavaan: the ML family with robust.cluster /
# robust.huber.white standard errors).
DESIGN_ESTIMATORS = ("ML", "MLR")


@dataclass(frozen=True)
class SurveyDesign:
    """Clusters and weights, one array per group aligned with that group's ``GroupData.X``.

    ``clusters[g]`` holds integer cluster codes (None: no clustering); ``weights[g]`` the
    rescaled sampling weights (None: unweighted). ``h1_test`` is True when the scaled test uses
    lavaan's ``observed.information = "h1"`` (cluster, estimator ML, no weights).
    """

    clusters: list[np.ndarray] | None
    weights: list[np.ndarray] | None
    h1_test: bool = False

    def meat(self, g: int, scores: np.ndarray) -> np.ndarray:
        """Cross-product of group ``g``'s casewise scores (n_g, q) under the design."""
        return design_meat(
            scores,
            None if self.clusters is None else self.clusters[g],
            None if self.weights is None else self.weights[g],
        )

    def meat_all(self, data: Sequence[GroupData], scores: np.ndarray) -> np.ndarray:
        """Sum over groups of :meth:`meat` for scores stacked group by group (N, q)."""
        out = np.zeros((scores.shape[1], scores.shape[1]))
        start = 0
        for g, gd in enumerate(data):
            out += self.meat(g, scores[start : start + gd.n])
            start += gd.n
        return out


def design_meat(
    scores: np.ndarray, clusters: np.ndarray | None, weights: np.ndarray | None
) -> np.ndarray:
    """``sum_c s_c s_c' * nC / (nC - 1)`` with ``s_c`` the (weighted) scores summed in cluster c;
    without clusters the plain cross-product of the (weighted) scores."""
    S = scores if weights is None else scores * weights[:, None]
    if clusters is not None:
        nC = int(clusters.max()) + 1 if clusters.size else 0
        sums = np.zeros((nC, S.shape[1]))
        np.add.at(sums, clusters, S)
        S = sums * np.sqrt(nC / (nC - 1)) if nC > 1 else sums
    return S.T @ S


def h1_information(model: LisrelModel, theta: np.ndarray, data: Sequence[GroupData]) -> np.ndarray:
    """lavaan's ``observed.information = "h1"``: ``sum_g Delta_g' A1_g Delta_g`` with ``A1_g``
    the observed information of the saturated model at the model-implied moments (mean
    structure on)."""
    mats = model.matrices(theta)
    q = theta.size
    info = np.zeros((q, q))
    for gm, gd, (dS, dm) in zip(mats, data, model.jacobian(mats), strict=True):
        J = vech_jacobian(dS, dm)
        info += J.T @ structured_info(gd, gm.mu, gm.sigma) @ J
    return (info + info.T) / 2.0


def check_design(
    data: pd.DataFrame,
    *,
    cluster: str | None,
    sampling_weights: str | None,
    estimator: str,
    missing: str,
    groups: int,
    rows: Sequence[np.ndarray] = (),
) -> None:
    """ModelError (field ``cluster`` or ``sampling_weights``) for a design lavaan's single-level
    ``cluster=`` / ``sampling.weights=`` would refuse or pvm does not implement, and for
    unusable columns (unknown; a cluster or weight missing in a row used; weights not numeric,
    negative or all zero). ``rows`` are the rows each group keeps (``check_model``)."""
    for field, name in (("cluster", cluster), ("sampling_weights", sampling_weights)):
        if name is None:
            continue
        if name not in data.columns:
            raise ModelError(f"unknown {field} variable: {name}", field=field)
        if estimator.upper() not in DESIGN_ESTIMATORS:
            raise ModelError(
                f"{field} is available with estimators ML and MLR (robust standard errors), "
                f"not {estimator.upper()}",
                field=field,
            )
        if missing == "pairwise":
            raise ModelError(f"{field} is not available with missing 'pairwise'", field=field)
    if sampling_weights is not None and groups > 1 and missing != "listwise":
        raise ModelError(
            "sampling_weights with a group need missing 'listwise' (with FIML the robust "
            "indices of weighted groups are not lavaan's yet)",
            field="sampling_weights",
        )
    used = np.concatenate(list(rows)) if len(rows) else np.arange(len(data))
    if cluster is not None:
        ids = data[cluster].iloc[used]
        if ids.isna().any():
            raise ModelError(
                f"{int(ids.isna().sum())} row(s) used have no value of {cluster}", field="cluster"
            )
    if sampling_weights is not None:
        weights_of(data, sampling_weights, used)


def weights_of(data: pd.DataFrame, name: str, rows: np.ndarray) -> np.ndarray:
    """The raw weights of ``rows``; ModelError (field ``sampling_weights``) unless every one is
    a finite number >= 0 and their sum is positive."""
    raw = pd.to_numeric(data[name].iloc[rows], errors="coerce")
    bad = raw.isna() & data[name].iloc[rows].notna()
    if bad.any():
        raise ModelError(f"sampling weights in {name} must be numbers", field="sampling_weights")
    if raw.isna().any():
        raise ModelError(
            f"{int(raw.isna().sum())} row(s) used have no sampling weight in {name}",
            field="sampling_weights",
        )
    w = raw.to_numpy(float)
    if not np.isfinite(w).all() or (w < 0).any():
        raise ModelError(
            f"sampling weights in {name} must be finite and not negative",
            field="sampling_weights",
        )
    if w.sum() <= 0:
        raise ModelError(f"the sampling weights in {name} sum to 0", field="sampling_weights")
    return w


def build_design(
    data: pd.DataFrame,
    rows: Sequence[np.ndarray],
    *,
    cluster: str | None,
    sampling_weights: str | None,
    estimator: str,
) -> SurveyDesign | None:
    """The design of the rows each group keeps (``rows`` from ``check_model``), or None."""
    if cluster is None and sampling_weights is None:
        return None
    clusters = None
    if cluster is not None:
        clusters = [
            pd.factorize(data[cluster].iloc[r].astype(str), sort=False)[0].astype(int) for r in rows
        ]
    weights = None
    if sampling_weights is not None:
        raw = [weights_of(data, sampling_weights, r) for r in rows]
        n = sum(r.size for r in rows)
        total = sum(float(w.sum()) for w in raw)
        weights = [w * (n / total) for w in raw]  # lavaan: normalization "total"
    h1_test = cluster is not None and sampling_weights is None and estimator.upper() == "ML"
    return SurveyDesign(clusters, weights, h1_test)


def weighted_group_data(X: np.ndarray, w: np.ndarray, names: Sequence[str]) -> GroupData:
    """Rows ``X`` (n, p; NaN = missing, no row without a value) with weights ``w`` (summing
    to n): complete data as one pattern with the weighted mean and covariance (divisor sum(w),
    lavaan's ``cov.wt`` method "ML"); under FIML weighted patterns and the weighted EM estimate
    of the saturated model (lavaan's weighted ``missing = "ml"``).

    Raises
    ------
    ModelError
        The weighted EM estimate is singular or not finite.
    """
    X = np.asarray(X, dtype=float)
    n, p = X.shape
    if not np.isnan(X).any():
        W = float(w.sum())
        m = (w @ X) / W
        D = X - m
        S = (D * w[:, None]).T @ D / W
        pat = WeightedPattern(np.ones(p, dtype=bool), np.arange(p), np.arange(n), m, S, W)
        return GroupData(X, [pat], SaturatedEM(m, S, pattern_loglik([pat], m, S), 0))
    pats = weighted_patterns(X, w)
    try:
        h1 = pattern_em(pats, p)
        np.linalg.cholesky(h1.cov)
        if not np.isfinite(h1.loglik):
            raise np.linalg.LinAlgError("non-finite saturated log-likelihood")
    except np.linalg.LinAlgError as exc:
        raise ModelError(
            f"the weighted EM estimate of the covariance matrix of {', '.join(names)} is singular",
            field="sampling_weights",
        ) from exc
    return GroupData(X, pats, h1)
