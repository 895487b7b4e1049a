"""PLS multi-group analysis of two groups: Henseler's PLS-MGA, the permutation test of path
differences (Chin & Dibbern 2010) and MICOM steps 1-3 (Henseler, Ringle & Sarstedt 2016).

Missing values are handled on the pooled data first (the fitted result's ``data``), so every
group is a subset of the same rows. One numpy PCG64 generator seeded with ``seed`` gives, in
this order, group 1's ``(draws, n1)`` bootstrap indices, group 2's ``(draws, n2)``, and one
permutation of all rows per permutation draw (its first n1 positions, taken in the order
"group-1 rows, then group-2 rows", form the permuted group 1).

- PLS-MGA: each group fitted and bootstrapped; with J the smaller number of successful draws,
  ``p = 1 - share of pairs (j, k) with 2 mean1 - b1_j - 2 mean2 + b2_k > 0`` over the first J
  draws of each group (seminr's ``estimate_pls_mga``): the one-sided probability of
  "group 1's path is not larger"; ``p_two_sided = 2 min(p, 1 - p)``.
- Permutation test: ``p = (1 + #{|d_perm| >= |d|}) / (1 + permutations)``.
- MICOM step 1 (configural invariance) holds by construction (same model, items and data
  treatment in both groups). Step 2: c = correlation of the pooled standardized data's scores
  under group 1's and group 2's weights; ``p = (1 + #{c_perm <= c}) / (1 + permutations)``.
  Step 3: difference of the groups' means and of the logarithms of their variances of the
  pooled model's scores, with the permutation distribution's 2.5% and 97.5% quantiles and
  ``p = (1 + #{|d_perm| >= |d|}) / (1 + permutations)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from app.stats.pls.estimate import PlsResult, fit_pls, solve_pls
from app.stats.sem import ModelError


@dataclass(frozen=True)
class PathComparison:
    source: str
    target: str
    group1: float
    group2: float
    diff: float
    p_henseler: float
    p_henseler_two_sided: float
    p_permutation: float


@dataclass(frozen=True)
class Micom:
    construct: str
    c: float
    c_quantile_5: float
    p_c: float
    mean_diff: float
    mean_ci: tuple[float, float]
    p_mean: float
    logvar_diff: float
    logvar_ci: tuple[float, float]
    p_logvar: float


@dataclass(frozen=True)
class PlsMga:
    groups: tuple[str, str]
    n: tuple[int, int]
    draws: int
    succeeded: tuple[int, int]
    permutations: int
    permutations_succeeded: int
    seed: int
    paths: list[PathComparison]
    micom: list[Micom]

    def to_dict(self) -> dict[str, object]:
        return {
            "groups": list(self.groups),
            "n": list(self.n),
            "bootstrap": {"draws": self.draws, "succeeded": list(self.succeeded)},
            "permutations": self.permutations,
            "permutations_succeeded": self.permutations_succeeded,
            "seed": self.seed,
            "paths": [
                {
                    "lhs": p.target,
                    "op": "~",
                    "rhs": p.source,
                    "group1": p.group1,
                    "group2": p.group2,
                    "diff": p.diff,
                    "p.henseler": p.p_henseler,
                    "p.henseler.two_sided": p.p_henseler_two_sided,
                    "p.permutation": p.p_permutation,
                }
                for p in self.paths
            ],
            "micom": {
                "configural": True,
                "constructs": [
                    {
                        "construct": m.construct,
                        "c": m.c,
                        "c.quantile_5": m.c_quantile_5,
                        "p.c": m.p_c,
                        "mean.diff": m.mean_diff,
                        "mean.ci": list(m.mean_ci),
                        "p.mean": m.p_mean,
                        "logvar.diff": m.logvar_diff,
                        "logvar.ci": list(m.logvar_ci),
                        "p.logvar": m.p_logvar,
                    }
                    for m in self.micom
                ],
            },
        }


def _fit(res: PlsResult, rows: np.ndarray) -> PlsResult:
    frame = pd.DataFrame(res.data[rows], columns=res.items)
    return fit_pls(
        frame,
        res.spec,
        scheme=res.scheme,  # type: ignore[arg-type]
        consistent=res.consistent,
        missing="listwise",
    )


def _boot_paths(res: PlsResult, x: np.ndarray, rng: np.random.Generator, draws: int) -> np.ndarray:
    """Paths of ``draws`` resamples of ``x``, each drawn in turn from ``rng`` (the numbers of
    one (draws, n) matrix, in O(n) memory)."""
    out = []
    n = x.shape[0]
    for _ in range(draws):
        idx = rng.integers(0, n, size=n)
        sample = x[idx]
        if np.any(sample.std(axis=0) == 0):
            continue
        try:
            with np.errstate(invalid="ignore", divide="ignore"):
                core = solve_pls(
                    np.corrcoef(sample, rowvar=False),
                    res.spec,
                    scheme=res.scheme,
                    consistent=res.consistent,
                )
        except (ModelError, np.linalg.LinAlgError):
            continue
        values = np.array(
            [
                core.paths[res.constructs.index(s), res.constructs.index(t)]
                for s, t in res.spec.paths
            ]
        )
        if np.all(np.isfinite(values)):
            out.append(values)
    return np.array(out).reshape(len(out), len(res.spec.paths))


def henseler_p(boot1: np.ndarray, boot2: np.ndarray) -> float:
    """Henseler's PLS-MGA probability from two equally long bootstrap distributions."""
    left = 2 * boot1.mean() - boot1 - 2 * boot2.mean()
    favorable = np.count_nonzero(left[:, None] + boot2[None, :] > 0)
    return float(1 - favorable / (boot1.size * boot2.size))


def pls_mga(
    res: PlsResult,
    group1: np.ndarray,
    *,
    labels: tuple[str, str] = ("1", "2"),
    draws: int = 5000,
    permutations: int = 1000,
    seed: int = 1,
) -> PlsMga:
    """Compare two groups of ``res``'s rows: ``group1`` is a boolean mask (True = group 1).

    Raises
    ------
    ModelError
        A group has too few rows, a group cannot be estimated, or fewer than two bootstrap
        draws or permutations succeed.
    """
    keep = np.asarray(group1, dtype=bool)
    if keep.shape != (res.nobs,):
        raise ModelError("the group mask must have one entry per row")
    n1, n2 = int(keep.sum()), int((~keep).sum())
    if min(n1, n2) < 3:
        raise ModelError(f"each group needs at least 3 rows (have {n1} and {n2})")
    if draws < 2 or permutations < 2:
        raise ModelError("draws and permutations must be at least 2")
    n = res.nobs
    rng = np.random.default_rng(seed)
    g1, g2 = _fit(res, keep), _fit(res, ~keep)
    b1 = _boot_paths(res, res.data[keep], rng, draws)
    b2 = _boot_paths(res, res.data[~keep], rng, draws)
    j = min(len(b1), len(b2))
    if j < 2:
        raise ModelError("fewer than two bootstrap draws could be estimated in a group")

    z = (res.data - res.item_mean) / res.item_sd
    blocks = [[res.items.index(i) for i in c.items] for c in res.spec.constructs]
    pooled_scores = res.scores

    def composite_c(a: PlsResult, b: PlsResult) -> np.ndarray:
        out = np.empty(len(blocks))
        for k, idx in enumerate(blocks):
            sa, sb = z[:, idx] @ a.weights[idx, k], z[:, idx] @ b.weights[idx, k]
            out[k] = np.corrcoef(sa, sb)[0, 1]
        return out

    def path_diff(a: PlsResult, b: PlsResult) -> np.ndarray:
        return np.array([a.path(s, t) - b.path(s, t) for s, t in res.spec.paths])

    def moments(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a, b = pooled_scores[mask], pooled_scores[~mask]
        mean = a.mean(axis=0) - b.mean(axis=0)
        logvar = np.log(a.var(axis=0, ddof=1)) - np.log(b.var(axis=0, ddof=1))
        return mean, logvar

    obs_diff, obs_c = path_diff(g1, g2), composite_c(g1, g2)
    obs_mean, obs_logvar = moments(keep)
    order = np.concatenate([np.flatnonzero(keep), np.flatnonzero(~keep)])
    diffs, cs, means, logvars = [], [], [], []
    for _ in range(permutations):
        perm = rng.permutation(n)
        mask = np.zeros(n, dtype=bool)
        mask[order[perm[:n1]]] = True
        try:
            p1, p2 = _fit(res, mask), _fit(res, ~mask)
        except (ModelError, np.linalg.LinAlgError):
            continue
        diffs.append(path_diff(p1, p2))
        cs.append(composite_c(p1, p2))
        m, v = moments(mask)
        means.append(m)
        logvars.append(v)
    done = len(diffs)
    if done < 2:
        raise ModelError("fewer than two permutations could be estimated")
    d_perm, c_perm = np.array(diffs), np.array(cs)
    m_perm, v_perm = np.array(means), np.array(logvars)

    def p_abs(perm: np.ndarray, obs: np.ndarray) -> np.ndarray:
        return (1 + (np.abs(perm) >= np.abs(obs) - 1e-12).sum(axis=0)) / (1 + done)

    p_diff = p_abs(d_perm, obs_diff)
    paths = []
    for k, (s, t) in enumerate(res.spec.paths):
        ph = henseler_p(b1[:j, k], b2[:j, k])
        paths.append(
            PathComparison(
                source=s,
                target=t,
                group1=g1.path(s, t),
                group2=g2.path(s, t),
                diff=float(obs_diff[k]),
                p_henseler=ph,
                p_henseler_two_sided=2 * min(ph, 1 - ph),
                p_permutation=float(p_diff[k]),
            )
        )
    p_c = (1 + (c_perm <= obs_c + 1e-12).sum(axis=0)) / (1 + done)
    p_mean, p_logvar = p_abs(m_perm, obs_mean), p_abs(v_perm, obs_logvar)
    micom = [
        Micom(
            construct=c,
            c=float(obs_c[k]),
            c_quantile_5=float(np.quantile(c_perm[:, k], 0.05)),
            p_c=float(p_c[k]),
            mean_diff=float(obs_mean[k]),
            mean_ci=(
                float(np.quantile(m_perm[:, k], 0.025)),
                float(np.quantile(m_perm[:, k], 0.975)),
            ),
            p_mean=float(p_mean[k]),
            logvar_diff=float(obs_logvar[k]),
            logvar_ci=(
                float(np.quantile(v_perm[:, k], 0.025)),
                float(np.quantile(v_perm[:, k], 0.975)),
            ),
            p_logvar=float(p_logvar[k]),
        )
        for k, c in enumerate(res.constructs)
    ]
    return PlsMga(
        groups=labels,
        n=(n1, n2),
        draws=draws,
        succeeded=(len(b1), len(b2)),
        permutations=permutations,
        permutations_succeeded=done,
        seed=seed,
        paths=paths,
        micom=micom,
    )
