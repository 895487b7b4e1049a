"""Normal-theory (FIML) log-likelihood, its gradient and information, summed over groups.

Complete data are the one-pattern special case, so ML and FIML share every line here.
Without a mean structure the model mean is the sample mean (lavaan's ``meanstructure=FALSE``).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.linalg import lapack

from app.stats.sem.em import LOG2PI, SaturatedEM, pattern_loglik, saturated_em
from app.stats.sem.model import GroupMatrices, LisrelModel
from app.stats.sem.patterns import Pattern, missing_patterns

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GroupData:
    """The data of one group.

    Attributes
    ----------
    X : ndarray, shape (n, p)
        Rows used (NaN = missing), columns in the model's observed-variable order.
    patterns : list of Pattern
    h1 : SaturatedEM
        Saturated-model moments and log-likelihood (plain sample moments when complete).
    """

    X: np.ndarray
    patterns: list[Pattern]
    h1: SaturatedEM
    # missing="pairwise": one complete "pattern" holding the pairwise moments (see from_pairwise)
    pairwise: bool = False

    @property
    def n(self) -> int:
        return int(self.X.shape[0])

    @property
    def complete(self) -> bool:
        return len(self.patterns) == 1 and self.patterns[0].idx.size == self.X.shape[1]

    @classmethod
    def from_array(cls, X: np.ndarray, *, with_h1: bool = True) -> GroupData:
        """Group the rows by missingness pattern and estimate the saturated model.

        Parameters
        ----------
        X : ndarray, shape (n, p)
            NaN = missing; rows with every value missing are dropped.
        with_h1 : bool
            False skips the EM (bootstrap replicates fitted from given start values need only
            the patterns); ``h1`` then holds available-case moments and a NaN log-likelihood.
        """
        X = np.asarray(X, dtype=float)
        X = X[~np.isnan(X).all(axis=1)]
        pats = missing_patterns(X)
        if len(pats) == 1 and pats[0].idx.size == X.shape[1]:
            m, S = pats[0].mean, pats[0].cov
            h1 = SaturatedEM(m, S, pattern_loglik(pats, m, S), 0)
        elif not with_h1:
            h1 = _pairwise_moments(X)
        else:
            try:
                h1 = saturated_em(X)
                np.linalg.cholesky(h1.cov)
                if not np.isfinite(h1.loglik):
                    raise np.linalg.LinAlgError("non-finite saturated log-likelihood")
            except np.linalg.LinAlgError:
                # The saturated model is not estimable (e.g. two variables almost never
                # observed together in a small group), though the structured model may be:
                # fit it anyway; chisq-based measures become NaN, as lavaan reports NA.
                log.warning("saturated (H1) model not estimable: fit measures unavailable")
                h1 = _pairwise_moments(X)
        return cls(X, pats, h1)

    @classmethod
    def from_pairwise(cls, X: np.ndarray) -> GroupData:
        """lavaan's ``missing="pairwise"`` for continuous data.

        Means over the available values, covariances over the rows where both variables are
        observed (divisor n_jk - 1), rescaled by (N - 1) / N with N the rows having any value,
        as lavaan; the model is then fitted to these moments as to complete data of N rows.
        ``X`` keeps the raw rows (NaN = missing).

        Raises
        ------
        np.linalg.LinAlgError
            A pair of variables never observed together, or moments not positive definite.
        """
        X = np.asarray(X, dtype=float)
        X = X[~np.isnan(X).all(axis=1)]
        n, p = X.shape
        m = np.nanmean(X, axis=0)
        S = pd.DataFrame(X).cov().to_numpy() * ((n - 1) / n)
        if np.isnan(S).any():
            raise np.linalg.LinAlgError("a pair of variables is never observed together")
        np.linalg.cholesky(S)
        pat = Pattern(np.ones(p, dtype=bool), np.arange(p), np.arange(n), m, S)
        h1 = SaturatedEM(m, S, pattern_loglik([pat], m, S), 0)
        return cls(X, [pat], h1, pairwise=True)


def _pairwise_moments(X: np.ndarray) -> SaturatedEM:
    """Available-case means and pairwise covariances, nudged to be positive definite.

    Only a stand-in for start values when the EM estimate is unavailable (loglik NaN).
    """
    m = np.nanmean(X, axis=0)
    S = pd.DataFrame(X).cov(ddof=0).to_numpy()
    S = np.where(np.isnan(S), 0.0, S)
    w, V = np.linalg.eigh((S + S.T) / 2)
    floor = 1e-3 * max(float(w.max()), 1e-12)
    S = (V * np.maximum(w, floor)) @ V.T
    return SaturatedEM(m, S, float("nan"), 0)


def _chol_inv(S: np.ndarray) -> tuple[np.ndarray, float]:
    """Inverse and log-determinant of an SPD matrix; raises LinAlgError when not SPD.

    Direct LAPACK calls (potrf/potri): these matrices are small, so call overhead dominates.
    """
    c, info = lapack.dpotrf(S, lower=1)
    if info != 0:
        raise np.linalg.LinAlgError("not positive definite")
    logdet = 2.0 * float(np.log(np.diag(c)).sum())
    inv, info = lapack.dpotri(c, lower=1)
    if info != 0:
        raise np.linalg.LinAlgError("singular")
    iu = _upper(S.shape[0])
    inv[iu] = inv.T[iu]  # potri fills the lower triangle only
    return inv, logdet


@functools.lru_cache(maxsize=256)
def _upper(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.triu_indices(n, 1)


def loglik(
    model: LisrelModel,
    theta: np.ndarray,
    data: list[GroupData],
    meanstructure: bool,
    *,
    gradient: bool = True,
) -> tuple[float, np.ndarray | None, list[GroupMatrices]]:
    """Log-likelihood (and its gradient) of the model at ``theta``.

    Returns
    -------
    ll : float
        Summed over groups and patterns; ``-inf`` when some Sigma is not positive definite.
    grad : ndarray, shape (npar,) or None
    mats : list of GroupMatrices
    """
    mats = model.matrices(theta)
    total = 0.0
    Gs, gms = [], []
    for gm, gd in zip(mats, data, strict=True):
        mu = gm.mu if meanstructure else gd.h1.mean
        G = np.zeros((model.p, model.p))
        gmu = np.zeros(model.p)
        for pat in gd.patterns:
            o = pat.idx
            try:
                Si, logdet = _chol_inv(gm.sigma[pat.ix])
            except np.linalg.LinAlgError:
                return -np.inf, None, mats
            d = pat.mean - mu[o]
            W = pat.cov + np.outer(d, d)
            SiW = Si @ W
            total += -0.5 * pat.n * (o.size * LOG2PI + logdet + np.trace(SiW))
            if gradient:
                G[pat.ix] += 0.5 * pat.n * (SiW @ Si - Si)
                gmu[o] += pat.n * (Si @ d)
        Gs.append(G)
        gms.append(gmu if meanstructure else np.zeros(model.p))
    grad = model.grad_from_moments(mats, Gs, gms) if gradient else None
    return total, grad, mats


def expected_information(
    model: LisrelModel,
    mats: list[GroupMatrices],
    data: list[GroupData],
    meanstructure: bool,
) -> np.ndarray:
    """Expected (Fisher) information of the whole sample, pattern by pattern.

    Returns
    -------
    ndarray, shape (npar, npar)
        ``sum_g sum_k n_k [0.5 tr(S^-1 dS_a S^-1 dS_b) + dmu_a' S^-1 dmu_b]`` over the observed
        part of each pattern ``k``.
    """
    q = model.pt.npar
    info = np.zeros((q, q))
    for gm, gd, (dS, dm) in zip(mats, data, model.jacobian(mats), strict=True):
        for pat in gd.patterns:
            o = pat.idx
            Si, _ = _chol_inv(gm.sigma[pat.ix])
            dSo = dS[:, o][:, :, o]
            X = np.einsum("ij,kjl->kil", Si, dSo, optimize=True)
            flat = X.reshape(q, -1)
            XT = X.transpose(0, 2, 1).reshape(q, -1)
            info += 0.5 * pat.n * (flat @ XT.T)
            if meanstructure:
                dmo = dm[:, o]
                info += pat.n * (dmo @ Si @ dmo.T)
    return (info + info.T) / 2.0


def casewise_scores(
    model: LisrelModel,
    mats: list[GroupMatrices],
    data: list[GroupData],
    meanstructure: bool,
) -> np.ndarray:
    """Gradient of each row's log-likelihood with respect to theta.

    Returns
    -------
    ndarray, shape (N, npar)
        Rows ordered group by group, within a group in data order.
    """
    q = model.pt.npar
    blocks = []
    for gm, gd, (dS, dm) in zip(mats, data, model.jacobian(mats), strict=True):
        mu = gm.mu if meanstructure else gd.h1.mean
        S = np.zeros((gd.n, q))
        for pat in gd.patterns:
            o = pat.idx
            Si, _ = _chol_inv(gm.sigma[pat.ix])
            R = gd.X[np.ix_(pat.rows, o)] - mu[o]  # (n_k, p_o)
            U = R @ Si  # rows: S^-1 (y - mu)
            dSo = dS[:, o][:, :, o]  # (q, p_o, p_o)
            # d l_i / d Sigma = 0.5 (u u' - S^-1): contract with dSigma of each parameter
            t1 = np.einsum("ij,qjk,ik->iq", U, dSo, U, optimize=True)
            t2 = np.einsum("jk,qkj->q", Si, dSo)
            sc = 0.5 * (t1 - t2)
            if meanstructure:
                sc += U @ dm[:, o].T
            S[pat.rows] = sc
        blocks.append(S)
    return np.vstack(blocks)
