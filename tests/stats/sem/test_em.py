"""EM for the saturated normal model (lavaan's H1 under missing="ml")."""

import numpy as np
import pytest

from app.stats.sem import saturated_em
from app.stats.sem.patterns import missing_patterns
from tests.stats.sem.golden import load_csv, load_json

ITEMS_EXCLUDE = ("branch", "customer_type", "tenure")


def test_unrestricted_logl_matches_lavaan_fiml():
    # tolerance: 1e-6 relative on lavaan's unrestricted.logl
    d = load_csv("telecom_1500.csv")
    X = d[[c for c in d.columns if c not in ITEMS_EXCLUDE]].to_numpy(float)
    res = saturated_em(X)
    ref = load_json("telecom_sem_fiml")["fit"]["unrestricted.logl"]
    assert res.loglik == pytest.approx(ref, rel=1e-6)
    assert res.mean.shape == (X.shape[1],) and res.cov.shape == (X.shape[1],) * 2
    assert res.n_iter > 1


def test_complete_data_gives_sample_moments():
    # tolerance: 1e-10 absolute: with no missing values EM returns the ML sample moments at once
    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 4)) @ np.array(
        [[1, 0.5, 0, 0], [0, 1, 0.3, 0], [0, 0, 1, 0.2], [0, 0, 0, 1.0]]
    )
    res = saturated_em(X)
    np.testing.assert_allclose(res.mean, X.mean(axis=0), atol=1e-10)
    np.testing.assert_allclose(res.cov, np.cov(X.T, bias=True), atol=1e-10)


def test_em_recovers_moments_under_mar():
    # tolerance: 0.05 absolute on covariances, n=20000 draws (sampling error ~0.01)
    rng = np.random.default_rng(7)
    cov = np.array([[1.0, 0.6, 0.3], [0.6, 1.0, 0.4], [0.3, 0.4, 1.0]])
    X = rng.multivariate_normal([1.0, 2.0, 3.0], cov, size=20000)
    X[X[:, 0] > 1.5, 2] = np.nan  # missing at random given the first column
    res = saturated_em(X)
    np.testing.assert_allclose(res.cov, cov, atol=0.05)
    np.testing.assert_allclose(res.mean, [1.0, 2.0, 3.0], atol=0.05)
    # complete-case mean of column 3 is biased; EM must not be
    assert abs(np.nanmean(X[:, 2]) - 3.0) > 0.1


@pytest.mark.parametrize("p", [5, 70])  # packed uint64 keys up to 64 variables, else rows
def test_missing_patterns_group_rows_like_a_naive_loop(p):
    # exact grouping and order; moments 1e-12 absolute
    rng = np.random.default_rng(11)
    X = rng.normal(size=(400, p))
    X[rng.random(X.shape) < (0.3 if p == 5 else 0.01)] = np.nan
    X[7] = np.nan  # a row with nothing observed is skipped
    pats = missing_patterns(X)
    masks = [tuple(r) for r in ~np.isnan(X)]
    groups: dict[tuple, list[int]] = {}
    for i, mk in enumerate(masks):
        if any(mk):
            groups.setdefault(mk, []).append(i)
    want = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[1][0]))
    assert [tuple(pt.obs) for pt in pats] == [mk for mk, _ in want]
    for pt, (_mk, rows) in zip(pats, want, strict=True):
        assert pt.rows.tolist() == rows
        Y = X[np.ix_(rows, pt.idx)]
        np.testing.assert_allclose(pt.mean, Y.mean(axis=0), atol=1e-12)
        np.testing.assert_allclose(pt.cov, np.cov(Y.T, bias=True).reshape(pt.cov.shape), atol=1e-12)
