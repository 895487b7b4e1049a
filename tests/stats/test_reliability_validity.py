"""Validity helpers: the EM covariance they use, HTMT edge cases, Fornell-Larcker logic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app.stats.sem.em import saturated_em
from app.stats.validity import (
    ValidityError,
    cov_to_corr,
    fornell_larcker,
    htmt,
    item_correlations,
)

DATA = Path(__file__).resolve().parents[1] / "data"


def _rowwise_em(x: np.ndarray, n_iter: int = 2_000, tol: float = 1e-11) -> np.ndarray:
    """Textbook EM, one row at a time: the reference for the pattern-statistics E-step."""
    x = x[~np.isnan(x).all(axis=1)]
    n, p = x.shape
    mu, sigma = np.nanmean(x, axis=0), np.diag(np.nanvar(x, axis=0))
    for _ in range(n_iter):
        t1, t2 = np.zeros(p), np.zeros((p, p))
        for row in x:
            o, m = ~np.isnan(row), np.isnan(row)
            y = row.copy()
            c = np.zeros((p, p))
            if m.any():
                b = np.linalg.solve(sigma[np.ix_(o, o)], sigma[np.ix_(o, m)])
                y[m] = mu[m] + (row[o] - mu[o]) @ b
                c[np.ix_(m, m)] = sigma[np.ix_(m, m)] - sigma[np.ix_(m, o)] @ b
            t1 += y
            t2 += np.outer(y, y) + c
        new_mu = t1 / n
        new_sigma = t2 / n - np.outer(new_mu, new_mu)
        done = max(np.abs(new_mu - mu).max(), np.abs(new_sigma - sigma).max()) < tol
        mu, sigma = new_mu, new_sigma
        if done:
            break
    return sigma


def test_saturated_em_equals_a_rowwise_em():
    # Same estimator, different E-step bookkeeping (pattern moments vs rows): 1e-8 absolute.
    # 300 telecom rows, 6 items (NQ1-4 are often N/A): a few seconds for the row-wise loop.
    d = pd.read_csv(DATA / "telecom_1500.csv")
    x = d[["NQ1", "NQ2", "NQ3", "NQ4", "PV1", "PV2"]].to_numpy(dtype=float)[:300]
    assert np.isnan(x).any(axis=1).mean() > 0.3
    np.testing.assert_allclose(saturated_em(x, tol=1e-11).cov, _rowwise_em(x), atol=1e-8)


def test_item_correlations_ml_correlates_the_em_covariance():
    # tolerance 1e-12: item_correlations(missing="ml") is cov_to_corr of the engine's EM
    d = pd.read_csv(DATA / "telecom_1500.csv")
    items = ["NQ1", "NQ2", "PV1", "PV2"]
    corr, how = item_correlations(d, items, missing="ml")
    assert how == "ml"
    want = cov_to_corr(saturated_em(d[items].to_numpy(dtype=float)).cov, items)
    np.testing.assert_allclose(corr.to_numpy(), want.to_numpy(), atol=1e-12)
    with pytest.raises(ValidityError, match="no observed values"):
        item_correlations(d.assign(NQ1=np.nan, NQ2=np.nan), ["NQ1", "NQ2"], missing="ml")


def test_em_covariance_is_ml_covariance_without_missing_values():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((200, 4)) @ np.array(
        [[1, 0.5, 0, 0], [0, 1, 0.3, 0], [0, 0, 1, 0.2], [0, 0, 0, 1]]
    )
    want = np.cov(x, rowvar=False, bias=True)
    np.testing.assert_allclose(saturated_em(x).cov, want, atol=1e-12)


def test_em_covariance_recovers_a_known_covariance_with_mar_missingness():
    # 40,000 draws, 2nd variable missing when the 1st is high (MAR): EM stays unbiased
    # (within 0.03) while complete cases are visibly biased.
    rng = np.random.default_rng(7)
    sigma = np.array([[1.0, 0.6, 0.3], [0.6, 1.0, 0.4], [0.3, 0.4, 1.0]])
    x = rng.multivariate_normal(np.zeros(3), sigma, size=40_000)
    x[x[:, 0] > 0.5, 1] = np.nan
    est = saturated_em(x).cov
    assert np.abs(est - sigma).max() < 0.03
    cc = x[~np.isnan(x).any(axis=1)]
    assert np.abs(np.cov(cc, rowvar=False) - sigma).max() > 0.1


def test_item_correlations_listwise_and_constant_item():
    frame = pd.DataFrame({"a": [1, 2, 3, 4, np.nan], "b": [2, 1, 4, 3, 5], "c": [1, 1, 2, 2, 3]})
    corr, how = item_correlations(frame, ["a", "b", "c"], missing="listwise")
    assert how == "listwise"
    np.testing.assert_allclose(corr.to_numpy(), frame.dropna().corr().to_numpy(), atol=1e-12)
    flat = frame.assign(c=2.0).dropna()
    with pytest.raises(ValidityError, match="without variance: c"):
        item_correlations(flat, ["a", "b", "c"])


def test_htmt_by_hand_and_single_item_construct():
    # Two constructs of two items: within r = .6 and .4, between all .3.
    r = np.array([[1, 0.6, 0.3, 0.3], [0.6, 1, 0.3, -0.3], [0.3, 0.3, 1, 0.4], [0.3, -0.3, 0.4, 1]])
    corr = pd.DataFrame(r, index=list("abcd"), columns=list("abcd"))
    res = htmt(corr, {"A": ["a", "b"], "B": ["c", "d"]})
    # Absolute correlations, as semTools: 0.3 / sqrt(0.6 * 0.4). Exact to 1e-12.
    assert res.loc["A", "B"] == pytest.approx(0.3 / np.sqrt(0.24), abs=1e-12)
    single = htmt(corr, {"A": ["a", "b", "c"], "D": ["d"]})
    assert np.isnan(single.loc["A", "D"]) and single.loc["D", "D"] == 1.0
    with pytest.raises(ValidityError, match="not in corr"):
        htmt(corr, {"A": ["a", "zz"]})


def test_fornell_larcker_pass_and_fail():
    cor = pd.DataFrame(
        [[1.0, 0.5, 0.8], [0.5, 1.0, -0.3], [0.8, -0.3, 1.0]],
        index=list("XYZ"),
        columns=list("XYZ"),
    )
    fl = fornell_larcker({"X": 0.6, "Y": 0.5, "Z": None}, cor)
    assert fl.matrix.loc["X", "X"] == pytest.approx(np.sqrt(0.6))
    # X: sqrt(.6) = .775 < .8 with Z -> fails; Y: .707 > .5, .3 -> passes; Z: no AVE.
    assert fl.passed == {"X": False, "Y": True, "Z": None}
    d = fl.to_dict()
    assert d["matrix"]["Z"]["Z"] is None and d["matrix"]["X"]["Y"] == 0.5
