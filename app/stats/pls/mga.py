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
    rng = np.random.default_rng(seed)
    g1, g2 = _fit(res, keep), _fit(res, ~keep)
    b1 = _boot_paths(res, res.data[keep], rng, draws)
    b2 = _boot_paths(res, res.data[~keep], rng, draws)
    j = min(len(b1), len(b2))
    if j < 2:
        raise ModelError("fewer than two bootstrap draws could be estimated in a group")

    obs = _differences(res, g1, g2, keep)
    perm = _permutation_differences(res, keep, n1, rng, permutations)
    done = len(perm.path)
    if done < 2:
        raise ModelError("fewer than two permutations could be estimated")
    p_diff = _p_abs(perm.path, obs.path, done)
    paths = []
    for k, (s, t) in enumerate(res.spec.paths):
        ph = henseler_p(b1[:j, k], b2[:j, k])
        paths.append(
            PathComparison(
                source=s,
                target=t,
                group1=g1.path(s, t),
                group2=g2.path(s, t),
                diff=float(obs.path[k]),
                p_henseler=ph,
                p_henseler_two_sided=2 * min(ph, 1 - ph),
                p_permutation=float(p_diff[k]),
            )
        )
    micom = _micom(res, obs, perm, done)
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


@dataclass(frozen=True)
class _Diffs:
    """Group-1-minus-group-2 differences: path coefficients, the composite correlation c
    (MICOM step 2), and the composites' mean and log-variance (step 3); one row per
    permutation when stacked."""

    path: np.ndarray
    c: np.ndarray
    mean: np.ndarray
    logvar: np.ndarray


def _differences(res: PlsResult, a: PlsResult, b: PlsResult, mask: np.ndarray) -> _Diffs:
    z = (res.data - res.item_mean) / res.item_sd
    c = np.empty(len(res.spec.constructs))
    for k, con in enumerate(res.spec.constructs):
        idx = [res.items.index(i) for i in con.items]
        sa, sb = z[:, idx] @ a.weights[idx, k], z[:, idx] @ b.weights[idx, k]
        c[k] = np.corrcoef(sa, sb)[0, 1]
    path = np.array([a.path(s, t) - b.path(s, t) for s, t in res.spec.paths])
    s1, s2 = res.scores[mask], res.scores[~mask]
    mean = s1.mean(axis=0) - s2.mean(axis=0)
    logvar = np.log(s1.var(axis=0, ddof=1)) - np.log(s2.var(axis=0, ddof=1))
    return _Diffs(path, c, mean, logvar)


def _permutation_differences(
    res: PlsResult, keep: np.ndarray, n1: int, rng: np.random.Generator, permutations: int
) -> _Diffs:
    """The differences under ``permutations`` random reassignments of the rows to groups of
    the observed sizes; reassignments that cannot be estimated are skipped."""
    n = res.nobs
    order = np.concatenate([np.flatnonzero(keep), np.flatnonzero(~keep)])
    rows: list[_Diffs] = []
    for _ in range(permutations):
        perm = rng.permutation(n)
        mask = np.zeros(n, dtype=bool)
        mask[order[perm[:n1]]] = True
        try:
            p1, p2 = _fit(res, mask), _fit(res, ~mask)
        except (ModelError, np.linalg.LinAlgError):
            continue
        rows.append(_differences(res, p1, p2, mask))
    width = (len(res.spec.paths), len(res.constructs))
    return _Diffs(
        np.array([r.path for r in rows]).reshape(-1, width[0]),
        np.array([r.c for r in rows]).reshape(-1, width[1]),
        np.array([r.mean for r in rows]).reshape(-1, width[1]),
        np.array([r.logvar for r in rows]).reshape(-1, width[1]),
    )


def _p_abs(perm: np.ndarray, obs: np.ndarray, done: int) -> np.ndarray:
    """Two-sided permutation p: share of permutations at least as extreme (with the observed)."""
    return (1 + (np.abs(perm) >= np.abs(obs) - 1e-12).sum(axis=0)) / (1 + done)


def _micom(res: PlsResult, obs: _Diffs, perm: _Diffs, done: int) -> list[Micom]:
    """MICOM steps 2 and 3 per construct: c against its 5% permutation quantile (one-sided),
    mean and log-variance differences against their 95% permutation intervals."""
    p_c = (1 + (perm.c <= obs.c + 1e-12).sum(axis=0)) / (1 + done)
    p_mean, p_logvar = _p_abs(perm.mean, obs.mean, done), _p_abs(perm.logvar, obs.logvar, done)

    def interval(x: np.ndarray) -> tuple[float, float]:
        return float(np.quantile(x, 0.025)), float(np.quantile(x, 0.975))

    return [
        Micom(
            construct=c,
            c=float(obs.c[k]),
            c_quantile_5=float(np.quantile(perm.c[:, k], 0.05)),
            p_c=float(p_c[k]),
            mean_diff=float(obs.mean[k]),
            mean_ci=interval(perm.mean[:, k]),
            p_mean=float(p_mean[k]),
            logvar_diff=float(obs.logvar[k]),
            logvar_ci=interval(perm.logvar[:, k]),
            p_logvar=float(p_logvar[k]),
        )
        for k, c in enumerate(res.constructs)
    ]
