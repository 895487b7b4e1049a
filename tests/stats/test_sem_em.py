"""EM for the saturated normal model (lavaan's H1 under missing="ml")."""

import numpy as np
import pytest

from app.stats.sem import saturated_em
from tests.stats._sem_golden import load_csv, load_json

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
