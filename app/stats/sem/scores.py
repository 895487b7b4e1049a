"""Factor scores per row, as lavaan 0.6's ``lavPredict(fit, method=...)``.

* ``"regression"`` (Thurstone): ``E(eta) + V(eta) Lambda' Sigma^-1 (y - mu)``;
* ``"bartlett"``: ``E(eta) + (Lambda' Theta^-1 Lambda)^-1 Lambda' Theta^-1 (y - mu)``;

with the model-implied moments of the row's group (``V(eta) = A Psi A'``, ``E(eta) = A alpha``,
``mu = nu + Lambda E(eta)``). Without a mean structure ``mu`` is the sample mean and
``E(eta) = 0``, as lavaan. Under FIML a row with missing values uses only the variables it
has (the rows and columns of its missingness pattern), as ``lavPredict`` does for
``missing = "ml"``.

Only continuous indicators fitted by maximum likelihood, GLS or ULS and complete or FIML data
are covered: ordered items (lavaan's EBM scores) and ``missing = "pairwise"`` are refused.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from app.stats.sem._threads import single_thread_blas
from app.stats.sem.errors import ModelError
from app.stats.sem.model import GroupMatrices
from app.stats.sem.problem import prepare
from app.stats.sem.validate import usable_rows

METHODS = ("regression", "bartlett")


def _weights(mats: GroupMatrices, obs: np.ndarray, method: str, m: int) -> np.ndarray:
    """The (m, p_obs) matrix mapping the centred observed values of a pattern to scores."""
    lam = mats.lambda_[obs][:, :m]
    if method == "regression":
        veta = mats.lv_cov[:m, :m]
        sigma = mats.sigma[np.ix_(obs, obs)]
        return np.asarray(veta @ lam.T @ np.linalg.inv(sigma))
    theta = mats.theta[np.ix_(obs, obs)]
    # a factor none of the row's variables measure has no Bartlett score (lavaan: NA)
    measured = np.flatnonzero(np.any(lam != 0.0, axis=0))
    w = np.full((m, obs.size), np.nan)
    try:
        tinv = np.linalg.inv(theta)
        sub = lam[:, measured]
        w[measured] = np.linalg.solve(sub.T @ tinv @ sub, sub.T @ tinv)
    except np.linalg.LinAlgError as exc:
        raise ModelError(
            "Bartlett scores need positive residual variances; use the regression method",
            field="method",
        ) from exc
    return w


def factor_scores(
    data: pd.DataFrame,
    model: str,
    *,
    method: str = "regression",
    estimator: str = "ML",
    missing: str = "fiml",
    group: str | None = None,
    group_equal: Sequence[str] = (),
    share_labels: bool = True,
    group_partial: Sequence[str] = (),
    std_lv: bool = False,
    cluster: str | None = None,
    sampling_weights: str | None = None,
) -> pd.DataFrame:
    """Fit the model (as :func:`app.stats.sem.fit_model`) and score every row it used.

    ``share_labels=False`` is the configural model of an invariance sequence (a label does not
    tie the groups). ``cluster`` leaves the scores alone; ``sampling_weights`` changes the
    estimates and the centring mean (the weighted sample mean), as lavaan's ``lavPredict``.

    Returns
    -------
    DataFrame
        Indexed like ``data`` (only the rows the fit used, in their order), one column per
        latent variable of the model (in the model's order); with ``group`` a first column
        ``group``.

    Raises
    ------
    ModelError
        As ``fit_model``; an unknown ``method`` (field ``method``); ``missing="pairwise"``
        (field ``missing``); a model without latent variables.
    """
    method = method.lower()
    if method not in METHODS:
        raise ModelError(f"method must be one of {', '.join(METHODS)}", field="method")
    if missing == "pairwise":
        raise ModelError("factor scores need complete rows or FIML, not pairwise", field="missing")
    with single_thread_blas():
        prob = prepare(
            data,
            model,
            estimator=estimator,
            missing=missing,
            group=group,
            group_equal=group_equal,
            share_labels=share_labels,
            group_partial=group_partial,
            std_lv=std_lv,
            cluster=cluster,
            sampling_weights=sampling_weights,
        )
        lv = list(prob.partable.names.lv)
        if not lv:
            raise ModelError("the model has no latent variables to score", field="model")
        positions = usable_rows(data, prob.partable, group=group, missing=prob.missing)
        opt = prob.refit(prob.data)
        mats = prob.model.matrices(opt.theta)
        m = len(lv)
        parts: list[pd.DataFrame] = []
        for g, (gd, gm, rows) in enumerate(zip(prob.data, mats, positions, strict=True)):
            if prob.meanstructure:
                eeta = (gm.A @ gm.alpha.reshape(-1))[:m]
                mu = gm.mu.reshape(-1)
            else:
                eeta = np.zeros(m)
                # the sample mean (weighted under sampling weights; equal to nanmean otherwise)
                mu = gd.h1.mean if gd.complete else np.nanmean(gd.X, axis=0)
            out = np.empty((gd.n, m))
            for pat in gd.patterns:
                obs = pat.idx
                w = _weights(gm, obs, method, m)
                centred = gd.X[np.ix_(pat.rows, obs)] - mu[obs]
                out[pat.rows] = eeta + centred @ np.nan_to_num(w).T
                out[np.ix_(pat.rows, np.flatnonzero(np.isnan(w).any(axis=1)))] = np.nan
            frame = pd.DataFrame(out, index=data.index[rows], columns=lv)
            label = prob.partable.groups[g]
            if label is not None:
                frame.insert(0, "group", label)
            parts.append(frame)
    order = np.argsort(np.concatenate(positions), kind="stable")
    return pd.concat(parts).iloc[order]
