"""Observed information and casewise scores of the saturated model under missing data.

Needed by MLR's Yuan-Bentler scaling with FIML (lavaan's ``h1.information`` with
``information="observed"``). Parameters are ``(mu, vech(Sigma))``; analytic per missingness
pattern, so it costs a few Kronecker-sized products per pattern instead of 2(p + p*) gradient
evaluations.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from app.stats.sem.likelihood import GroupData


def _vech_index(p: int) -> np.ndarray:
    """``idx[i, j]`` = position of sigma_ij (= sigma_ji) in vech order (column-major, lower)."""
    idx = np.empty((p, p), dtype=int)
    k = 0
    for j in range(p):
        for i in range(j, p):
            idx[i, j] = idx[j, i] = k
            k += 1
    return idx


def _collapse(po: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the lower-triangle pairs (i >= j) in vec order and the diagonal halving.

    ``D' M D`` for the duplication matrix ``D`` is ``M`` symmetrised over (i, j) <-> (j, i)
    on both sides, read at these positions, with diagonal pairs counted once.
    """
    ii, jj = np.tril_indices(po)
    pos = ii * po + jj
    half = np.where(ii == jj, 0.5, 1.0)
    return pos, half


def _block(
    A: np.ndarray,
    o: np.ndarray,
    gid: np.ndarray,
    n: float,
    Si: np.ndarray,
    d: np.ndarray,
    W: np.ndarray,
) -> None:
    """Add one pattern's observed information (minus Hessian of its log-likelihood) to A."""
    po = o.size
    P = Si @ W @ Si
    u = Si @ d
    pos, half = _collapse(po)
    # second derivatives of F = log|S| + tr(S^-1 W) in vec coordinates:
    # tr(E_ij A E_kl B) = A[j, k] B[l, i]
    T_ss = np.einsum("jk,li->ijkl", Si, Si)
    T_sp = np.einsum("jk,li->ijkl", Si, P)
    H = -T_ss + T_sp + T_sp.transpose(2, 3, 0, 1)
    H = H + H.transpose(1, 0, 2, 3)
    H = (H + H.transpose(0, 1, 3, 2)).reshape(po * po, po * po)
    H_vech = H[np.ix_(pos, pos)] * np.outer(half, half)
    C = 2.0 * np.einsum("mi,j->mij", Si, u)
    C = (C + C.transpose(0, 2, 1)).reshape(po, po * po)[:, pos] * half
    n2 = 0.5 * n
    A[np.ix_(o, o)] += n2 * 2.0 * Si
    A[np.ix_(o, gid)] += n2 * C
    A[np.ix_(gid, o)] += n2 * C.T
    A[np.ix_(gid, gid)] += n2 * H_vech


def saturated_info(
    gd: GroupData, meat: Callable[[np.ndarray], np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Observed information A1 and score cross-product B1 of the saturated model.

    Parameters
    ----------
    gd : GroupData
        One group's data; ``gd.h1`` holds the EM mean (p,) and covariance (p, p).
    meat : callable, optional
        ``B1 = meat(scores)`` from the casewise scores (n, q) in data order (a survey design's
        cluster sums, :func:`app.stats.sem.design.design_meat`); default ``scores' scores``.

    Returns
    -------
    A1, B1 : ndarray, shape (p + p(p+1)/2, p + p(p+1)/2)
        Whole-group totals in ``(mu, vech(Sigma))`` coordinates (see :func:`vech_jacobian`).
    """
    mu, sigma = gd.h1.mean, gd.h1.cov
    p = mu.size
    vidx = _vech_index(p)
    q = p + p * (p + 1) // 2
    A = np.zeros((q, q))
    scores = np.zeros((gd.n, q))
    for pat in gd.patterns:
        o = pat.idx
        ii, jj = np.tril_indices(o.size)
        half = np.where(ii == jj, 0.5, 1.0)
        gid = p + vidx[o[ii], o[jj]]  # global positions of this pattern's vech elements
        Si = np.linalg.inv(sigma[np.ix_(o, o)])
        d = pat.mean - mu[o]
        _block(A, o, gid, pat.n, Si, d, pat.cov + np.outer(d, d))
        # casewise scores of the log-likelihood
        U = (gd.X[np.ix_(pat.rows, o)] - mu[o]) @ Si  # (n_k, p_o)
        G = 0.5 * (U[:, ii] * U[:, jj] - Si[ii, jj])  # d l_i / d Sigma at the vech pairs
        sc = np.zeros((pat.rows.size, q))
        sc[:, o] = U
        sc[:, gid] = G * (2.0 * half)  # off-diagonal elements appear twice in Sigma
        scores[pat.rows] = sc
    B = scores.T @ scores if meat is None else meat(scores)
    return (A + A.T) / 2.0, B


def structured_info(gd: GroupData, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Observed information of the saturated model at given moments (lavaan's
    ``observed.information = "h1"`` at the model-implied mean and covariance), group total,
    in the coordinates of :func:`saturated_info`."""
    p = mu.size
    vidx = _vech_index(p)
    q = p + p * (p + 1) // 2
    A = np.zeros((q, q))
    for pat in gd.patterns:
        o = pat.idx
        ii, jj = np.tril_indices(o.size)
        gid = p + vidx[o[ii], o[jj]]
        Si = np.linalg.inv(sigma[np.ix_(o, o)])
        d = pat.mean - mu[o]
        _block(A, o, gid, pat.n, Si, d, pat.cov + np.outer(d, d))
    return (A + A.T) / 2.0


def complete_info(mean: np.ndarray, cov: np.ndarray, n: int) -> np.ndarray:
    """Information of the saturated model for complete data with moments (mean, cov), n rows.

    Same coordinates as :func:`saturated_info`; at the saturated estimate observed and expected
    information coincide.
    """
    p = mean.size
    vidx = _vech_index(p)
    q = p + p * (p + 1) // 2
    A = np.zeros((q, q))
    o = np.arange(p)
    ii, jj = np.tril_indices(p)
    Si = np.linalg.inv(cov)
    _block(A, o, p + vidx[ii, jj], n, Si, np.zeros(p), cov)
    return (A + A.T) / 2.0


def vech_jacobian(dS: np.ndarray, dm: np.ndarray) -> np.ndarray:
    """Model Jacobian in ``(mu, vech(Sigma))`` coordinates.

    Parameters
    ----------
    dS : ndarray, shape (npar, p, p)
    dm : ndarray, shape (npar, p)

    Returns
    -------
    ndarray, shape (p + p(p+1)/2, npar)
    """
    p = dm.shape[1]
    vidx = _vech_index(p)
    ii, jj = np.tril_indices(p)
    out = np.zeros((p + p * (p + 1) // 2, dS.shape[0]))
    out[:p] = dm.T
    out[p + vidx[ii, jj]] = dS[:, ii, jj].T
    return out


def saturated_trace(gd: GroupData, meat: Callable[[np.ndarray], np.ndarray] | None = None) -> float:
    """tr(A1^-1 B1) of the saturated model at the EM estimate (A1 observed information)."""
    A, B = saturated_info(gd, meat)
    return float(np.sum(np.linalg.solve(A, B).diagonal()))
