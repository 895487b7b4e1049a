"""LISREL-style model matrices of a parameter table and their derivatives.

Per group: ``Sigma = Lambda A Psi A' Lambda' + Theta`` and ``mu = nu + Lambda A alpha`` with
``A = (I - B)^-1``. Observed variables that take part in regressions (or covary with a latent)
get a "phantom" latent with loading 1 and zero residual variance, as lavaan does, so that
every regression lives in ``B``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.stats.sem.partable import ParRow, ParTable

MATS = ("lambda", "theta", "psi", "beta", "nu", "alpha")


@dataclass(frozen=True)
class GroupMatrices:
    """Matrices of one group at given parameter values.

    Attributes
    ----------
    lambda_ : ndarray, shape (p, m)
    theta : ndarray, shape (p, p)
    psi : ndarray, shape (m, m)
    beta : ndarray, shape (m, m)
    nu : ndarray, shape (p,)
    alpha : ndarray, shape (m,)
    A : ndarray, shape (m, m)
        ``(I - B)^-1``.
    sigma : ndarray, shape (p, p)
        Model-implied covariance.
    mu : ndarray, shape (p,)
        Model-implied mean.
    """

    lambda_: np.ndarray
    theta: np.ndarray
    psi: np.ndarray
    beta: np.ndarray
    nu: np.ndarray
    alpha: np.ndarray
    A: np.ndarray
    sigma: np.ndarray
    mu: np.ndarray

    @property
    def lv_cov(self) -> np.ndarray:
        """Model-implied covariance of the latent space, shape (m, m)."""
        return self.A @ self.psi @ self.A.T


@dataclass(frozen=True)
class _Target:
    mat: int  # index into MATS
    i: int
    j: int


def _phantoms(pt: ParTable) -> list[str]:
    """Observed variables that need a phantom latent (regressions and covariances with a
    latent), in table order."""
    lv_set = set(pt.names.lv)
    phantom: list[str] = []
    for r in pt.rows:
        mixed_cov = r.op == "~~" and (r.lhs in lv_set) != (r.rhs in lv_set)
        if r.op != "~" and not mixed_cov:
            continue
        for v in (r.lhs, r.rhs):
            if v not in lv_set and v not in phantom:
                phantom.append(v)
    return phantom


def _target(r: ParRow, oi: dict[str, int], li: dict[str, int]) -> _Target:
    """Matrix and cell of a row (``oi``/``li``: observed/latent-space positions)."""
    if r.op == "=~":
        if r.rhs in li:  # higher-order or phantom indicator
            return _Target(3, li[r.rhs], li[r.lhs])
        return _Target(0, oi[r.rhs], li[r.lhs])
    if r.op == "~":
        return _Target(3, li[r.lhs], li[r.rhs])
    if r.op == "~~":
        if r.lhs in li and r.rhs in li:
            a, b = sorted((li[r.lhs], li[r.rhs]))
            return _Target(2, b, a)
        a, b = sorted((oi[r.lhs], oi[r.rhs]))
        return _Target(1, b, a)
    if r.op == "~1":
        return _Target(5, li[r.lhs], 0) if r.lhs in li else _Target(4, oi[r.lhs], 0)
    raise ValueError(r.op)  # pragma: no cover - parser rejects other operators


class LisrelModel:
    """Maps a :class:`ParTable` onto per-group matrices.

    Parameters
    ----------
    pt : ParTable
    fixed_values : dict, optional
        ``{(group, lhs, op, rhs): value}`` for ``exo`` rows (fixed.x sample statistics).

    Attributes
    ----------
    ov : list of str
        Observed variables (rows of Lambda), p of them.
    lv : list of str
        Latent-space variables (columns of Lambda): latents then phantoms, m of them.
    """

    def __init__(self, pt: ParTable, fixed_values: dict | None = None) -> None:
        self.pt = pt
        names = pt.names
        self.ov = list(names.ov)
        self.phantom = _phantoms(pt)
        self.lv = list(names.lv) + self.phantom
        self.p, self.m = len(self.ov), len(self.lv)
        self.ngroups = len(pt.groups)
        oi = {v: k for k, v in enumerate(self.ov)}
        li = {v: k for k, v in enumerate(self.lv)}
        self.targets: list[_Target] = [_target(r, oi, li) for r in pt.rows]
        # constant part (fixed values) and scatter indices of the free part, per group
        self.base: list[list[np.ndarray]] = []
        self.free_idx: list[list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = []
        for g in range(1, self.ngroups + 1):
            base, free_idx = self._group_layout(g, oi, li, fixed_values or {})
            self.base.append(base)
            self.free_idx.append(free_idx)

    def _group_layout(
        self, g: int, oi: dict[str, int], li: dict[str, int], fixed_values: dict
    ) -> tuple[list[np.ndarray], list[tuple[np.ndarray, np.ndarray, np.ndarray]]]:
        """Group ``g``'s (1-based) fixed matrices and, per matrix, the (i, j, theta index)
        arrays its free parameters scatter to."""
        p, m = self.p, self.m
        shapes = [(p, m), (p, p), (m, m), (m, m), (p, 1), (m, 1)]
        base = [np.zeros(s) for s in shapes]
        ph = self.phantom
        base[0][[oi[v] for v in ph], [li[v] for v in ph]] = 1.0
        scatter: list[list[tuple[int, int, int]]] = [[] for _ in MATS]
        for r, t in zip(self.pt.rows, self.targets, strict=True):
            if r.group != g:
                continue
            if r.free:
                scatter[t.mat].append((t.i, t.j, r.free - 1))
                continue
            val = r.ustart
            if r.exo:
                val = fixed_values.get((g, r.lhs, r.op, r.rhs), np.nan)
            base[t.mat][t.i, t.j] = val
            if t.mat in (1, 2):
                base[t.mat][t.j, t.i] = val
        free_idx = [
            tuple(np.array(c, dtype=int).reshape(-1, 3).T)  # type: ignore[misc]
            for c in scatter
        ]
        return base, free_idx  # type: ignore[return-value]

    def matrices(self, theta: np.ndarray) -> list[GroupMatrices]:
        """Fill the matrices of every group at the free-parameter vector ``theta`` (npar,)."""
        out = []
        eye = np.eye(self.m)
        for base, scat in zip(self.base, self.free_idx, strict=True):
            mats = [b.copy() for b in base]
            for k, (ii, jj, ff) in enumerate(scat):
                if ii.size:
                    mats[k][ii, jj] = theta[ff]
                    if k in (1, 2):
                        mats[k][jj, ii] = theta[ff]
            lam, th, psi, beta, nu, al = mats
            A = np.linalg.inv(eye - beta) if beta.any() else eye
            LA = lam @ A
            sigma = LA @ psi @ LA.T + th
            mu = nu[:, 0] + LA @ al[:, 0]
            out.append(GroupMatrices(lam, th, psi, beta, nu[:, 0], al[:, 0], A, sigma, mu))
        return out

    def grad_from_moments(
        self, mats: list[GroupMatrices], G: list[np.ndarray], gmu: list[np.ndarray]
    ) -> np.ndarray:
        """Chain rule from d f / d Sigma and d f / d mu of each group to d f / d theta.

        Parameters
        ----------
        G : list of ndarray, shape (p, p)
            Symmetric derivative of the objective with respect to each group's Sigma.
        gmu : list of ndarray, shape (p,)
            Derivative with respect to each group's mu.

        Returns
        -------
        ndarray, shape (npar,)
        """
        grad = np.zeros(self.pt.npar)
        for gm, Gg, gv, scat in zip(mats, G, gmu, self.free_idx, strict=True):
            LA = gm.lambda_ @ gm.A
            M = gm.A @ gm.psi @ gm.A.T
            LM = gm.lambda_ @ M
            Aal = gm.A @ gm.alpha
            LAg = LA.T @ gv
            dmat = [
                2.0 * Gg @ LM + np.outer(gv, Aal),
                2.0 * Gg - np.diag(np.diag(Gg)),
                None,
                2.0 * LA.T @ Gg @ LM + np.outer(LAg, Aal),
                gv,
                LAg,
            ]
            H = LA.T @ Gg @ LA
            dmat[2] = 2.0 * H - np.diag(np.diag(H))
            for k, (ii, jj, ff) in enumerate(scat):
                if ii.size:
                    d = dmat[k]
                    vals = d[ii] if d.ndim == 1 else d[ii, jj]  # type: ignore[union-attr]
                    np.add.at(grad, ff, vals)
        return grad

    def jacobian(self, mats: list[GroupMatrices]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Derivatives of each group's moments with respect to theta.

        Returns
        -------
        list of (dSigma, dmu)
            ``dSigma`` shape (npar, p, p), ``dmu`` shape (npar, p), per group.
        """
        out = []
        q, p = self.pt.npar, self.p
        for gm, scat in zip(mats, self.free_idx, strict=True):
            dS = np.zeros((q, p, p))
            dm = np.zeros((q, p))
            LA = gm.lambda_ @ gm.A
            LM = gm.lambda_ @ (gm.A @ gm.psi @ gm.A.T)
            Aal = gm.A @ gm.alpha
            for k, (ii, jj, ff) in enumerate(scat):
                for i, j, f in zip(ii, jj, ff, strict=True):
                    if k == 0:
                        dS[f, i, :] += LM[:, j]
                        dS[f, :, i] += LM[:, j]
                        dm[f, i] += Aal[j]
                    elif k == 1:
                        dS[f, i, j] += 1.0
                        if i != j:
                            dS[f, j, i] += 1.0
                    elif k == 2:
                        o = np.outer(LA[:, i], LA[:, j])
                        dS[f] += o if i == j else o + o.T
                    elif k == 3:
                        o = np.outer(LA[:, i], LM[:, j])
                        dS[f] += o + o.T
                        dm[f] += LA[:, i] * Aal[j]
                    elif k == 4:
                        dm[f, i] += 1.0
                    else:
                        dm[f] += LA[:, i]
            out.append((dS, dm))
        return out
