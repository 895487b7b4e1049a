"""Exploratory factor analysis against psych 2.2.9.

References: tests/data/telecom_efa_drivers.json (psych::fa minres/oblimin, KMO, Bartlett,
eigenvalues) and tests/data/psych_extra.json (psych::fa ml/varimax and minres/promax,
psych::principal varimax), all on the complete cases of the 20 driver items.
Loadings are compared after matching factors (order and sign) with the Hungarian method.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linear_sum_assignment

from app.stats.efa import EFAError, max_factors, parallel_analysis, run_efa

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def telecom() -> pd.DataFrame:
    return pd.read_csv(DATA / "telecom_1500.csv")


@pytest.fixture(scope="module")
def ref() -> dict:
    return json.loads((DATA / "telecom_efa_drivers.json").read_text())


@pytest.fixture(scope="module")
def extra() -> dict:
    return json.loads((DATA / "psych_extra.json").read_text())


def ref_loadings(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows).set_index("_row")


def matched_max_error(ours: pd.DataFrame, theirs: pd.DataFrame) -> float:
    """Largest absolute loading difference after the best column matching and sign flips."""
    a = ours.loc[theirs.index].to_numpy()
    b = theirs.to_numpy()
    congruence = a.T @ b / np.outer(np.linalg.norm(a, axis=0), np.linalg.norm(b, axis=0))
    rows, cols = linear_sum_assignment(-np.abs(congruence))
    err = 0.0
    for i, j in zip(rows, cols, strict=True):
        sign = np.sign(congruence[i, j])
        err = max(err, float(np.abs(sign * a[:, i] - b[:, j]).max()))
    return err


def test_minres_oblimin_matches_psych(telecom, ref):
    # Loadings and communalities within 5e-5 (1.3e-5 measured: psych's minres stops at its own
    # convergence criterion).
    theirs = ref_loadings(ref["loadings"])
    res = run_efa(telecom, list(theirs.index), n_factors=5, method="minres", rotation="oblimin")
    assert res.n == ref["n"]
    assert matched_max_error(res.loadings, theirs) < 5e-5
    for item, h2 in ref["communalities"].items():
        assert res.communalities[item] == pytest.approx(h2, abs=5e-5)


def test_kmo_bartlett_eigenvalues_match_psych(telecom, ref):
    # KMO and Bartlett chi-square within 1e-9 relative (closed form, ~5e-12 measured);
    # eigenvalues within 1e-6.
    items = list(ref_loadings(ref["loadings"]).index)
    res = run_efa(telecom, items, n_factors=5)
    assert res.kmo == pytest.approx(ref["kmo_overall"], rel=1e-9)
    for item, value in ref["kmo_items"].items():
        assert res.kmo_items[item] == pytest.approx(value, rel=1e-9)
    assert res.bartlett_chisq == pytest.approx(ref["bartlett"]["chisq"], rel=1e-9)
    assert res.bartlett_df == ref["bartlett"]["df"]
    assert res.bartlett_p == pytest.approx(ref["bartlett"]["p"], abs=1e-12)
    np.testing.assert_allclose(res.eigenvalues, ref["eigenvalues"], atol=1e-6)


@pytest.mark.parametrize(
    ("key", "method", "rotation"),
    [
        ("efa_ml_varimax", "ml", "varimax"),
        ("efa_minres_promax", "minres", "promax"),
        ("pca_varimax", "principal", "varimax"),
    ],
)
def test_other_methods_and_rotations_match_psych(telecom, extra, key, method, rotation):
    # Loadings and communalities after matching factors within 5e-5: measured 4.5e-6 (ml),
    # 1.3e-5 (minres: psych's own stopping rule), 5e-12 (principal, closed form).
    theirs = ref_loadings(extra[key]["loadings"])
    res = run_efa(telecom, list(theirs.index), n_factors=5, method=method, rotation=rotation)
    assert matched_max_error(res.loadings, theirs) < 5e-5
    for item, h2 in extra[key]["communalities"].items():
        assert res.communalities[item] == pytest.approx(h2, abs=5e-5)


def test_factors_ordered_by_ss_loadings_and_signed_positive(telecom, ref):
    items = list(ref_loadings(ref["loadings"]).index)
    for method, rotation in [("minres", "oblimin"), ("ml", "varimax"), ("principal", "none")]:
        res = run_efa(telecom, items, n_factors=5, method=method, rotation=rotation)
        ss = (res.loadings**2).sum().to_numpy()
        assert np.all(np.diff(ss) <= 1e-12), (method, rotation, ss)
        peak = res.loadings.to_numpy()[np.abs(res.loadings.to_numpy()).argmax(axis=0), np.arange(5)]
        assert np.all(peak > 0)
        phi = res.factor_correlations.to_numpy()
        np.testing.assert_allclose(np.diag(phi), 1.0, atol=1e-8)
    # Under varimax the factors stay uncorrelated.
    assert np.abs(phi - np.eye(5)).max() < 1e-12


def test_parallel_analysis_suggests_five_and_is_reproducible(telecom, ref):
    items = list(ref_loadings(ref["loadings"]).index)
    res = run_efa(telecom, items)  # factors from parallel analysis
    assert res.n_factors_source == "parallel_analysis"
    assert res.parallel_analysis_factors == 5 and res.n_factors == 5
    again = run_efa(telecom, items, seed=1)
    assert again.parallel_threshold == res.parallel_threshold
    other = run_efa(telecom, items, seed=2)
    assert other.parallel_threshold != res.parallel_threshold


def test_parallel_analysis_thresholds_near_one_for_large_n():
    # Random correlation eigenvalues approach 1 as n grows: with p=5, n=100000, the 95th
    # percentile of the largest one is within 0.03 of 1 (Marchenko-Pastur edge ~1.014).
    ev = np.array([3.0, 1.5, 0.2, 0.2, 0.1])
    k, threshold = parallel_analysis(ev, 100_000, n_iter=50, seed=3)
    assert k == 2
    assert abs(threshold[0] - 1.0) < 0.03


def test_max_factors_ledermann_bound():
    assert [max_factors(p) for p in (2, 3, 4, 5, 6, 20)] == [0, 1, 1, 2, 3, 14]


def test_errors_name_the_problem(telecom):
    with pytest.raises(EFAError, match="at least 3 items"):
        run_efa(telecom, ["TAN1"])
    with pytest.raises(EFAError, match="more than 4 items can identify"):
        run_efa(telecom, ["TAN1", "TAN2", "TAN3", "REL1"], n_factors=3)
    with pytest.raises(EFAError, match="too few complete rows"):
        run_efa(telecom.head(5), ["TAN1", "TAN2", "TAN3"], n_factors=1)
    with pytest.raises(EFAError, match="unknown item"):
        run_efa(telecom, ["TAN1", "TAN2", "XYZ"])
    with pytest.raises(EFAError, match="unknown rotation"):
        run_efa(telecom, ["TAN1", "TAN2", "TAN3"], rotation="spin")
    flat = telecom.assign(TAN3=4.0)
    with pytest.raises(EFAError, match="without variance: TAN3"):
        run_efa(flat, ["TAN1", "TAN2", "TAN3"])
    assert issubclass(EFAError, ValueError)


def test_missing_rows_are_dropped_for_items_involved(telecom):
    # NQ items are often N/A: EFA uses only the rows complete on the requested items.
    items = ["NQ1", "NQ2", "NQ3", "NQ4", "PV1", "PV2"]
    res = run_efa(telecom, items, n_factors=1)
    assert res.n == int(telecom[items].notna().all(axis=1).sum())
    assert "complete cases" in res.to_dict()["missing"]
