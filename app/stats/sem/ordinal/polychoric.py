"""Two-step polychoric and polyserial correlations and their asymptotic covariance (lavaan's).

Step 1 (univariate): the thresholds of each ordered variable from its marginal proportions
(``qnorm`` of the cumulative proportions; the ML estimate of a probit with only thresholds), and
the mean and variance (divisor n) of each continuous variable.

Step 2 (bivariate): per pair, the correlation maximising the bivariate likelihood with the
step-1 statistics held fixed (Olsson 1979's two-step estimator; Olsson, Drasgow & Dorans 1982
for the polyserial case), as lavaan's ``lav_bvord_cor_twostep_fit`` / ``lav_bvmix``: rho in
[-0.999, 0.999]; 2x2 tables with one empty cell get 0.5 moved onto it keeping the margins.

The asymptotic covariance of (thresholds, correlations) is Muthen's (1984) sandwich built from
the casewise scores of the univariate and bivariate likelihoods (lavaan's ``muthen1984``):
``A`` is block lower-triangular (outer products of the scores), ``NACOV = n A^-1 B A^-T / n``
with ``B`` the cross-product of all scores. It is available when every variable is ordered.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import ndtr, ndtri

from app.stats.sem.errors import ModelError
from app.stats.sem.ordinal.bivnorm import dbivnorm, pbivnorm

RHO_BOUND = 0.999  # lavaan's nlminb bounds for a polychoric correlation
_SQRT_2PI = np.sqrt(2.0 * np.pi)


def _dnorm(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    out = np.zeros(x.shape)
    f = np.isfinite(x)
    out[f] = np.exp(-0.5 * x[f] ** 2) / _SQRT_2PI
    return out


@dataclass(frozen=True)
class OrdinalMarginal:
    """Step 1 of an ordered variable.

    ``levels`` the observed categories (sorted), ``codes`` (n,) the category index 0..K-1 of
    each row, ``thresholds`` (K-1,), ``scores`` (n, K-1): derivatives of each row's
    log-likelihood with respect to the thresholds.
    """

    name: str
    levels: np.ndarray
    codes: np.ndarray
    thresholds: np.ndarray
    scores: np.ndarray

    @property
    def bounds(self) -> np.ndarray:
        """Thresholds with -inf and +inf added, shape (K+1,)."""
        return np.r_[-np.inf, self.thresholds, np.inf]


@dataclass(frozen=True)
class NumericMarginal:
    """Step 1 of a continuous variable: mean and variance (divisor n), standardised values."""

    name: str
    mean: float
    var: float
    z: np.ndarray


def ordinal_marginal(name: str, x: np.ndarray, where: str = "") -> OrdinalMarginal:
    """Thresholds of one ordered variable from the marginal proportions of its observed values.

    Missing values (NaN, pairwise deletion) get code -1 and zero scores, as lavaan (its
    ``lav_matrix_crossprod`` skips missing scores).
    """
    obs = ~np.isnan(x)
    levels, inv = np.unique(x[obs], return_inverse=True)
    if levels.size < 2:
        raise ModelError(f"ordered variable {name} has only one observed category{where}")
    n = x.size
    codes = np.full(n, -1)
    codes[obs] = inv
    cum = np.cumsum(np.bincount(inv, minlength=levels.size))[:-1] / inv.size
    th = ndtri(cum)
    b = np.r_[-np.inf, th, np.inf]
    prob = ndtr(b[1:]) - ndtr(b[:-1])
    dens = _dnorm(th)
    sc = np.zeros((n, th.size))
    rows = np.arange(n)
    up = obs & (codes < th.size)  # category k has upper bound threshold k
    sc[rows[up], codes[up]] = dens[codes[up]] / prob[codes[up]]
    lo = codes > 0
    sc[rows[lo], codes[lo] - 1] = -dens[codes[lo] - 1] / prob[codes[lo]]
    return OrdinalMarginal(name, levels, codes.astype(int), th, sc)


def numeric_marginal(name: str, x: np.ndarray, where: str = "") -> NumericMarginal:
    mean = float(np.nanmean(x))
    var = float(np.nanmean((x - mean) ** 2))
    if var <= 0:
        raise ModelError(f"variable {name} is constant{where}")
    return NumericMarginal(name, mean, var, (x - mean) / np.sqrt(var))


# --------------------------------------------------------------------------- polychoric


def _cell_terms(b1: np.ndarray, b2: np.ndarray, rho: float) -> tuple[np.ndarray, ...]:
    """Cell probabilities and their derivatives for a K1 x K2 table.

    Returns P (K1, K2), dP/drho (K1, K2), dP/d upper/lower bound of variable 1 (K1, K2) and
    of variable 2 (K1, K2).
    """
    F = pbivnorm(b1[:, None], b2[None, :], rho)  # (K1+1, K2+1)
    f = dbivnorm(b1[:, None], b2[None, :], rho)
    P = F[1:, 1:] - F[:-1, 1:] - F[1:, :-1] + F[:-1, :-1]
    dr = f[1:, 1:] - f[:-1, 1:] - f[1:, :-1] + f[:-1, :-1]
    s = np.sqrt(1.0 - rho * rho)
    with np.errstate(invalid="ignore", over="ignore"):
        # dF(x, y)/dx = phi(x) Phi((y - rho x)/s); 0 when x infinite
        g1 = _dnorm(b1)[:, None] * ndtr((b2[None, :] - rho * np.nan_to_num(b1)[:, None]) / s)
        g2 = _dnorm(b2)[None, :] * ndtr((b1[:, None] - rho * np.nan_to_num(b2)[None, :]) / s)
    g1 = np.nan_to_num(g1)
    g2 = np.nan_to_num(g2)
    d1_hi = g1[1:, 1:] - g1[1:, :-1]
    d1_lo = -(g1[:-1, 1:] - g1[:-1, :-1])
    d2_hi = g2[1:, 1:] - g2[:-1, 1:]
    d2_lo = -(g2[1:, :-1] - g2[:-1, :-1])
    return P, dr, d1_hi, d1_lo, d2_hi, d2_lo


def _table(u1: OrdinalMarginal, u2: OrdinalMarginal) -> np.ndarray:
    """Bivariate frequencies of the rows where both are observed."""
    k1, k2 = u1.levels.size, u2.levels.size
    both = (u1.codes >= 0) & (u2.codes >= 0)
    cell = u1.codes[both] * k2 + u2.codes[both]
    return np.bincount(cell, minlength=k1 * k2).reshape(k1, k2).astype(float)


def _newton_polish(grad, rho: float, lo: float, hi: float) -> float:  # type: ignore[no-untyped-def]
    """A few Newton steps on the score (numerical second derivative) inside [lo, hi]."""
    for _ in range(4):
        g = grad(rho)
        h = 1e-6
        d2 = (grad(min(rho + h, hi)) - grad(max(rho - h, lo))) / (
            min(rho + h, hi) - max(rho - h, lo)
        )
        if not np.isfinite(d2) or d2 >= 0:
            break
        new = float(np.clip(rho - g / d2, lo, hi))
        if abs(new - rho) < 1e-14:
            rho = new
            break
        rho = new
    return rho


def polychoric(u1: OrdinalMarginal, u2: OrdinalMarginal) -> float:
    """Two-step ML polychoric correlation of two ordered variables."""
    freq = _table(u1, u2)
    if freq.shape == (2, 2):
        zero = np.flatnonzero(freq.ravel() == 0)
        if zero.size == 2:
            return 1.0 if freq[0, 0] > 0 else -1.0
        if zero.size == 1:  # lavaan: zero.add = 0.5, zero.keep.margins = TRUE
            sgn = 1.0 if zero[0] in (0, 3) else -1.0
            freq = freq + sgn * 0.5 * np.array([[1.0, -1.0], [-1.0, 1.0]])
        if freq[0, 0] * freq[1, 1] == freq[0, 1] * freq[1, 0]:
            return 0.0
    b1, b2 = u1.bounds, u2.bounds
    n = freq.sum()

    def terms(rho: float) -> tuple[float, float, float]:
        """log-likelihood, score and expected information at rho."""
        F = pbivnorm(b1[:, None], b2[None, :], rho)
        f = dbivnorm(b1[:, None], b2[None, :], rho)
        P = np.clip(F[1:, 1:] - F[:-1, 1:] - F[1:, :-1] + F[:-1, :-1], 1e-300, None)
        dr = f[1:, 1:] - f[:-1, 1:] - f[1:, :-1] + f[:-1, :-1]
        ll = float(np.sum(freq * np.log(P)))
        return ll, float(np.sum(freq * dr / P)), float(n * np.sum(dr * dr / P))

    # Fisher scoring from 0 with step halving, inside lavaan's bounds
    rho, lo, hi = 0.0, -RHO_BOUND, RHO_BOUND
    ll, g, info = terms(rho)
    for _ in range(200):
        step = g / info if info > 0 else 0.0
        new = float(np.clip(rho + step, lo, hi))
        for _half in range(60):
            ll_new, g_new, info_new = terms(new)
            if ll_new >= ll - 1e-12 * abs(ll):
                break
            new = 0.5 * (rho + new)
        if abs(new - rho) < 1e-13:
            rho, g = new, g_new
            break
        rho, ll, g, info = new, ll_new, g_new, info_new
    return rho


def _pair_scores(
    u1: OrdinalMarginal, u2: OrdinalMarginal, rho: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Casewise derivatives of the bivariate log-likelihood: rho (n,), thresholds of u1
    (n, K1-1) and of u2 (n, K2-1)."""
    P, dr, d1h, d1l, d2h, d2l = _cell_terms(u1.bounds, u2.bounds, rho)
    n = u1.codes.size
    both = (u1.codes >= 0) & (u2.codes >= 0)
    rows = np.flatnonzero(both)  # rows with a missing value keep zero scores
    a, b = u1.codes[both], u2.codes[both]
    Pc = P[a, b]
    s1 = np.zeros((n, u1.thresholds.size))
    s2 = np.zeros((n, u2.thresholds.size))
    m = a < u1.thresholds.size
    s1[rows[m], a[m]] = d1h[a[m], b[m]] / Pc[m]
    m = a > 0
    s1[rows[m], a[m] - 1] += d1l[a[m], b[m]] / Pc[m]
    m = b < u2.thresholds.size
    s2[rows[m], b[m]] = d2h[a[m], b[m]] / Pc[m]
    m = b > 0
    s2[rows[m], b[m] - 1] += d2l[a[m], b[m]] / Pc[m]
    s_rho = np.zeros(n)
    s_rho[rows] = dr[a, b] / Pc
    return s_rho, s1, s2


# --------------------------------------------------------------------------- polyserial


def polyserial(y: NumericMarginal, u: OrdinalMarginal) -> float:
    """Two-step ML polyserial correlation of a continuous and an ordered variable.

    Maximises sum log P(u | y) = log[Phi((tau_k - rho z)/s) - Phi((tau_{k-1} - rho z)/s)],
    s = sqrt(1 - rho^2), with z the standardised continuous variable and tau the step-1
    thresholds (the marginal density of y does not depend on rho).
    """
    b = u.bounds
    both = (u.codes >= 0) & ~np.isnan(y.z)
    hi, lo = b[u.codes[both] + 1], b[u.codes[both]]
    z = y.z[both]

    def nll(rho: float) -> float:
        s = np.sqrt(1.0 - rho * rho)
        p = ndtr((hi - rho * z) / s) - ndtr((lo - rho * z) / s)
        return -float(np.sum(np.log(np.clip(p, 1e-300, None))))

    def grad(rho: float) -> float:
        s = np.sqrt(1.0 - rho * rho)
        ah, al = (hi - rho * z) / s, (lo - rho * z) / s
        p = np.clip(ndtr(ah) - ndtr(al), 1e-300, None)
        # d/drho of (t - rho z)/s = (rho t - z)/s^3
        dh = np.where(np.isfinite(hi), _dnorm(ah) * (rho * np.nan_to_num(hi) - z) / s**3, 0.0)
        dl = np.where(np.isfinite(lo), _dnorm(al) * (rho * np.nan_to_num(lo) - z) / s**3, 0.0)
        return float(np.sum((dh - dl) / p))

    res = minimize_scalar(
        nll, bounds=(-RHO_BOUND, RHO_BOUND), method="bounded", options={"xatol": 1e-10}
    )
    return _newton_polish(grad, float(res.x), -RHO_BOUND, RHO_BOUND)


# --------------------------------------------------------------------------- all together


@dataclass(frozen=True)
class CategoricalStats:
    """Sample statistics of one group for categorical SEM (lavaan's ``lavsamplestats``).

    ``cor`` (p, p) polychoric/polyserial/Pearson correlations; ``thresholds`` in variable
    order (ordered variables only); ``th_var`` the variable index of each threshold and
    ``th_names`` lavaan's labels (``t1``, ``t2``, ...). ``wls_obs`` = thresholds then the
    correlations below the diagonal, column by column (lavaan's ``vech(diagonal=FALSE)``);
    ``nacov`` its n-times asymptotic covariance (None when a variable is continuous).
    """

    names: list[str]
    ordered: list[bool]
    n: int
    marginals: list[OrdinalMarginal | NumericMarginal]
    cor: np.ndarray
    thresholds: np.ndarray
    th_var: np.ndarray
    th_names: list[str]
    nacov: np.ndarray | None
    th_pos: np.ndarray  # position of each threshold in wls_th
    wls_th: np.ndarray  # thresholds and -mean of each continuous variable, in variable order
    wls_th_var: np.ndarray  # variable of each wls_th entry
    num_idx: np.ndarray  # continuous variables
    var_num: np.ndarray  # their variances (divisor n)
    cov: np.ndarray  # cor with the continuous variables' standard deviations

    @property
    def wls_obs(self) -> np.ndarray:
        """lavaan's ``WLS.obs``: thresholds (continuous: -mean), continuous variances, then
        the covariances below the diagonal."""
        return np.r_[self.wls_th, self.var_num, lower_vech(self.cov)]


def lower_vech(m: np.ndarray) -> np.ndarray:
    """Elements below the diagonal, column by column (lavaan's ``lav_matrix_vech(x, FALSE)``)."""
    p = m.shape[0]
    cols, rows = np.triu_indices(p, 1)  # (j, i) with i > j, ordered by j then i
    return m[rows, cols]


def categorical_stats(
    X: np.ndarray,
    names: list[str],
    ordered: list[bool],
    *,
    with_nacov: bool = True,
    where: str = "",
) -> CategoricalStats:
    """Two-step thresholds and correlations of ``X`` (n, p), and their NACOV.

    Missing values (NaN) are deleted pairwise, as lavaan's ``missing = "pairwise"``: each
    threshold from the observed values of its variable, each correlation from the rows where
    both are observed, missing scores counted as 0 in the NACOV (n = all rows).

    Raises
    ------
    ModelError
        An ordered variable with one category, a constant continuous variable, missing values.
    """
    X = np.asarray(X, dtype=float)
    n, p = X.shape
    marg: list[OrdinalMarginal | NumericMarginal] = [
        ordinal_marginal(v, X[:, k], where) if ordered[k] else numeric_marginal(v, X[:, k], where)
        for k, v in enumerate(names)
    ]
    cor = np.eye(p)
    for j in range(p - 1):
        for i in range(j + 1, p):
            a, b = marg[i], marg[j]
            if isinstance(a, OrdinalMarginal) and isinstance(b, OrdinalMarginal):
                r = polychoric(b, a)
            elif isinstance(a, NumericMarginal) and isinstance(b, NumericMarginal):
                r = float(np.nanmean(a.z * b.z))
            elif isinstance(a, NumericMarginal):
                r = polyserial(a, b)  # type: ignore[arg-type]
            else:
                r = polyserial(b, a)  # type: ignore[arg-type]
            cor[i, j] = cor[j, i] = r
    ths, th_var, th_names, th_pos = [], [], [], []
    wth: list[float] = []
    wvar: list[int] = []
    for k, m in enumerate(marg):
        if isinstance(m, OrdinalMarginal):
            ths.append(m.thresholds)
            th_var += [k] * m.thresholds.size
            th_names += [f"t{t + 1}" for t in range(m.thresholds.size)]
            th_pos += list(range(len(wth), len(wth) + m.thresholds.size))
            wth += list(m.thresholds)
            wvar += [k] * m.thresholds.size
        else:
            wth.append(-m.mean)
            wvar.append(k)
    thresholds = np.concatenate(ths) if ths else np.zeros(0)
    num_idx = np.array([k for k in range(p) if not ordered[k]], dtype=int)
    sd = np.ones(p)
    var_num = np.array([marg[k].var for k in num_idx])  # type: ignore[union-attr]
    sd[num_idx] = np.sqrt(var_num)
    nacov = _nacov(marg, cor) if with_nacov else None
    return CategoricalStats(
        list(names),
        list(ordered),
        n,
        marg,
        cor,
        thresholds,
        np.array(th_var, dtype=int),
        th_names,
        nacov,
        np.array(th_pos, dtype=int),
        np.array(wth),
        np.array(wvar, dtype=int),
        num_idx,
        var_num,
        cor * np.outer(sd, sd),
    )


def _bvmix_scores(
    y: NumericMarginal, u: OrdinalMarginal, rho: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Casewise derivatives of the polyserial log-likelihood (lavaan's ``lav_bvmix``):
    rho, mean and variance of y, thresholds of u. Zero where either is missing."""
    n = y.z.size
    both = (u.codes >= 0) & ~np.isnan(y.z)
    rows = np.flatnonzero(both)
    c = u.codes[both]
    Z = y.z[both]
    b = u.bounds
    z1, z2 = b[c + 1], b[c]
    R = np.sqrt(1.0 - rho * rho)
    with np.errstate(invalid="ignore", over="ignore"):
        t1, t2 = (z1 - rho * Z) / R, (z2 - rho * Z) / R
    y1, y2 = _dnorm(t1), _dnorm(t2)
    P = np.maximum(ndtr(t1) - ndtr(t2), np.finfo(float).eps)
    sd = np.sqrt(y.var)
    d_rho, d_mu, d_var = np.zeros(n), np.zeros(n), np.zeros(n)
    d_mu[rows] = (Z + (rho / R) * (y1 - y2) / P) / sd
    d_var[rows] = ((Z * Z - 1.0) + (rho * Z / R) * (y1 - y2) / P) / (2.0 * y.var)
    tau1 = np.where(np.isfinite(z1), y1 * (np.nan_to_num(z1) * rho - Z), 0.0)
    tau2 = np.where(np.isfinite(z2), y2 * (np.nan_to_num(z2) * rho - Z), 0.0)
    d_rho[rows] = (tau1 - tau2) / (P * R**3)
    nth = u.thresholds.size
    d_th = np.zeros((n, nth))
    up = c < nth
    d_th[rows[up], c[up]] += y1[up] / (R * P[up])
    lo = c > 0
    d_th[rows[lo], c[lo] - 1] -= y2[lo] / (R * P[lo])
    return d_rho, d_mu, d_var, d_th


def _bvreg_scores(a: NumericMarginal, b: NumericMarginal, rho: float) -> tuple[np.ndarray, ...]:
    """Casewise derivatives of the bivariate normal log-likelihood (lavaan's ``lav_bvreg``):
    rho, mean and variance of a, mean and variance of b."""
    n = a.z.size
    both = ~np.isnan(a.z) & ~np.isnan(b.z)
    rows = np.flatnonzero(both)
    v1, v2 = a.var, b.var
    s1, s2 = np.sqrt(v1), np.sqrt(v2)
    y1 = a.z[both] * s1
    y2 = b.z[both] * s2
    R = 1.0 - rho * rho
    out = [np.zeros(n) for _ in range(5)]
    out[1][rows] = (2 * y1 / v1 - 2 * rho * y2 / (s1 * s2)) / (2 * R)
    out[3][rows] = -(2 * rho * y1 / (s1 * s2) - 2 * y2 / v2) / (2 * R)
    out[2][rows] = -(0.5 / v1 - (y1 * y1 / (v1 * v1) - rho * y1 * y2 / (v1 * s1 * s2)) / (2 * R))
    out[4][rows] = -(0.5 / v2 + (rho * y1 * y2 / (v2 * s1 * s2) - y2 * y2 / (v2 * v2)) / (2 * R))
    zz = y1 * y1 / v1 - 2 * rho * y1 * y2 / (s1 * s2) + y2 * y2 / v2
    out[0][rows] = rho / R + (y1 * y2 / (s1 * s2 * R) - zz * rho / (R * R))
    return tuple(out)


def _univariate_scores(
    marg: list[OrdinalMarginal | NumericMarginal], starts: np.ndarray, num: list[int], n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Casewise scores of the univariate likelihoods: thresholds (a continuous variable: its
    mean), shape (n, nth), and the continuous variances, shape (n, len(num))."""
    sc_th = np.zeros((n, int(starts[-1])))
    sc_var = np.zeros((n, len(num)))
    for k, m in enumerate(marg):
        if isinstance(m, OrdinalMarginal):
            sc_th[:, starts[k] : starts[k + 1]] = m.scores
        else:
            res = np.nan_to_num(m.z) * np.sqrt(m.var)
            obs = ~np.isnan(m.z)
            sc_th[:, starts[k]] = np.where(obs, res / m.var, 0.0)
            sc_var[:, num.index(k)] = np.where(obs, -1 / (2 * m.var) + res**2 / (2 * m.var**2), 0.0)
    return sc_th, sc_var


def _cov_jacobian_row(
    mi: OrdinalMarginal | NumericMarginal,
    mj: OrdinalMarginal | NumericMarginal,
    i: int,
    j: int,
    rho: float,
    var_idx: dict[int, int],
    h21: np.ndarray,
    h22: np.ndarray,
) -> None:
    """Fill one pair's row of the delta-method Jacobian that turns a correlation involving
    continuous variables into a covariance (``h21``: on the variances, in place; ``h22[0]``:
    on the correlation); a pair of ordinal variables keeps the identity."""
    vi = mi.var if isinstance(mi, NumericMarginal) else None
    vj = mj.var if isinstance(mj, NumericMarginal) else None
    if vi is not None and vj is not None:
        h21[var_idx[i]] = np.sqrt(vj) * rho / (2 * np.sqrt(vi))
        h21[var_idx[j]] = np.sqrt(vi) * rho / (2 * np.sqrt(vj))
        h22[0] = np.sqrt(vi * vj)
    elif vi is not None:
        h21[var_idx[i]] = rho / (2 * np.sqrt(vi))
        h22[0] = np.sqrt(vi)
    elif vj is not None:
        h21[var_idx[j]] = rho / (2 * np.sqrt(vj))
        h22[0] = np.sqrt(vj)


def _nacov(marg: list[OrdinalMarginal | NumericMarginal], cor: np.ndarray) -> np.ndarray:
    """n x the asymptotic covariance of lavaan's ``WLS.obs``: Muthen (1984), as lavaan.

    Thresholds (a continuous variable: its mean), the continuous variances, then the
    correlations, from the casewise scores of the univariate and bivariate likelihoods;
    the correlations involving continuous variables are then turned into covariances (delta
    method) and the means into -means, as lavaan's ``muthen1984``.
    """
    p = len(marg)
    n = marg[0].codes.size if isinstance(marg[0], OrdinalMarginal) else marg[0].z.size
    sizes = [m.thresholds.size if isinstance(m, OrdinalMarginal) else 1 for m in marg]
    starts = np.r_[0, np.cumsum(sizes)]
    nth = int(starts[-1])
    num = [k for k, m in enumerate(marg) if isinstance(m, NumericMarginal)]
    var_idx = {k: nth + i for i, k in enumerate(num)}
    a11_size = nth + len(num)
    pstar = p * (p - 1) // 2
    sc_th, sc_var = _univariate_scores(marg, starts, num, n)
    sc_cor = np.zeros((n, pstar))
    a21 = np.zeros((pstar, a11_size))
    h21 = np.zeros((pstar, a11_size))
    h22 = np.ones(pstar)
    k = 0
    for j in range(p - 1):
        for i in range(j + 1, p):
            mi, mj = marg[i], marg[j]
            rho = float(cor[i, j])
            dvi = dvj = None
            if isinstance(mi, OrdinalMarginal) and isinstance(mj, OrdinalMarginal):
                s_rho, dtj, dti = _pair_scores(mj, mi, rho)
            elif isinstance(mi, NumericMarginal) and isinstance(mj, OrdinalMarginal):
                s_rho, dti, dvi, dtj = _bvmix_scores(mi, mj, rho)
            elif isinstance(mi, OrdinalMarginal) and isinstance(mj, NumericMarginal):
                s_rho, dtj, dvj, dti = _bvmix_scores(mj, mi, rho)
            else:
                s_rho, dti, dvi, dtj, dvj = _bvreg_scores(mi, mj, rho)  # type: ignore[arg-type]
            sc_cor[:, k] = s_rho
            a21[k, starts[i] : starts[i + 1]] = s_rho @ dti.reshape(n, -1)
            a21[k, starts[j] : starts[j + 1]] = s_rho @ dtj.reshape(n, -1)
            if dvi is not None:
                a21[k, var_idx[i]] = s_rho @ dvi
            if dvj is not None:
                a21[k, var_idx[j]] = s_rho @ dvj
            _cov_jacobian_row(mi, mj, i, j, rho, var_idx, h21[k], h22[k : k + 1])
            k += 1
    sc = np.hstack([sc_th, sc_var, sc_cor])
    inner = sc.T @ sc
    a11 = np.zeros((a11_size, a11_size))
    for v in range(p):
        idx = list(range(starts[v], starts[v + 1])) + ([var_idx[v]] if v in var_idx else [])
        a11[np.ix_(idx, idx)] = inner[np.ix_(idx, idx)]
    a22 = np.sum(sc_cor * sc_cor, axis=0)
    if np.any(a22 == 0):
        raise ModelError("a polychoric correlation has no information (empty bivariate table)")
    a11_inv = np.linalg.inv(a11)
    size = a11_size + pstar
    b_inv = np.zeros((size, size))
    b_inv[:a11_size, :a11_size] = a11_inv
    b_inv[a11_size:, a11_size:] = np.diag(1.0 / a22)
    b_inv[a11_size:, :a11_size] = -((1.0 / a22)[:, None] * a21) @ a11_inv
    w = b_inv @ inner @ b_inv.T
    if num:
        H = np.eye(size)
        H[a11_size:, :a11_size] = h21
        H[a11_size:, a11_size:] = np.diag(h22)
        w = H @ w @ H.T
        flip = np.ones(size)
        flip[[starts[v] for v in num]] = -1.0
        w = w * np.outer(flip, flip)
    return n * w
