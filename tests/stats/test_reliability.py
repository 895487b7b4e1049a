"""Reliability (alpha, omega, CR, AVE, item statistics) against psych / semTools output.

Reference numbers: tests/data/hs_reliability.json and telecom_reliability.json, made by R
psych 2.2.9 and semTools 0.5-6 (see the header of each test for the tolerance).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app.stats.reliability import (
    ReliabilityError,
    average_variance_extracted,
    composite_reliability,
    construct_reliability,
)
from app.stats.reliability_report import reliability_report

DATA = Path(__file__).resolve().parents[1] / "data"
HS_CONSTRUCTS = {
    "visual": ["x1", "x2", "x3"],
    "textual": ["x4", "x5", "x6"],
    "speed": ["x7", "x8", "x9"],
}


@pytest.fixture(scope="module")
def hs() -> pd.DataFrame:
    return pd.read_csv(DATA / "holzinger_swineford_1939.csv")


@pytest.fixture(scope="module")
def hs_ref() -> dict:
    return json.loads((DATA / "hs_reliability.json").read_text())


@pytest.fixture(scope="module")
def telecom() -> pd.DataFrame:
    return pd.read_csv(DATA / "telecom_1500.csv")


@pytest.fixture(scope="module")
def telecom_ref() -> dict:
    return json.loads((DATA / "telecom_reliability.json").read_text())


def telecom_constructs(frame: pd.DataFrame) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for col in frame.columns:
        if col[-1].isdigit():
            out.setdefault(col.rstrip("0123456789"), []).append(col)
    return out


def test_hs_alpha_matches_psych(hs, hs_ref):
    # alpha is closed form: tolerance 1e-6 (the JSON carries 10 significant digits).
    for name, items in HS_CONSTRUCTS.items():
        res = construct_reliability(hs, items, construct=name)
        assert res.alpha == pytest.approx(hs_ref["alpha"][name], abs=1e-6)
        assert res.n == 301


def test_telecom_alpha_on_complete_cases_matches_psych(telecom, telecom_ref):
    # psych::alpha(na.omit(d[, items])): tolerance 1e-6; NQ uses only its complete rows.
    constructs = telecom_constructs(telecom)
    assert list(constructs) == list(telecom_ref["alpha"])
    for name, items in constructs.items():
        res = construct_reliability(telecom, items, construct=name)
        assert res.alpha == pytest.approx(telecom_ref["alpha"][name], abs=1e-6)
        assert res.n == int(telecom[items].notna().all(axis=1).sum())
    nq = construct_reliability(telecom, constructs["NQ"])
    assert nq.n < 1500


def test_item_statistics_agree_with_naive_pandas(telecom):
    # Independent route: pandas on the complete cases. Tolerance 1e-10 (same arithmetic).
    items = ["EMP1", "EMP2", "EMP3", "EMP4", "EMP5"]
    res = construct_reliability(telecom, items)
    cc = telecom[items].dropna()
    total = cc.sum(axis=1)

    def alpha(frame: pd.DataFrame) -> float:
        k = frame.shape[1]
        return k / (k - 1) * (1 - frame.var().sum() / frame.sum(axis=1).var())

    for stat in res.items:
        assert stat.mean == pytest.approx(cc[stat.code].mean(), abs=1e-10)
        assert stat.sd == pytest.approx(cc[stat.code].std(), abs=1e-10)
        rest = total - cc[stat.code]
        assert stat.item_total_r == pytest.approx(cc[stat.code].corr(rest), abs=1e-10)
        others = cc.drop(columns=stat.code)
        assert stat.alpha_if_deleted == pytest.approx(alpha(others), abs=1e-10)


def test_two_and_one_item_constructs_report_what_is_defined(telecom):
    two = construct_reliability(telecom, ["PV1", "PV2"])
    assert two.alpha is not None
    assert all(s.alpha_if_deleted is None for s in two.items)
    one = construct_reliability(telecom, ["PV1"])
    assert one.alpha is None and one.items[0].item_total_r is None


def test_unknown_item_and_too_few_rows_raise(telecom):
    with pytest.raises(ReliabilityError, match="unknown item"):
        construct_reliability(telecom, ["TAN1", "NOPE"], construct="TAN")
    with pytest.raises(ReliabilityError, match="complete cases"):
        construct_reliability(telecom.head(1), ["TAN1", "TAN2"], construct="TAN")
    with pytest.raises(ValueError, match="belongs to both"):
        reliability_report(telecom, {"A": ["TAN1", "TAN2"], "B": ["TAN2", "TAN3"]})


def test_omega_and_ave_formulas_on_a_known_model():
    # One factor, loadings (1, .8, .6), phi = 2, theta = 1: exact values by hand (1e-12).
    lam = pd.DataFrame({"F": [1.0, 0.8, 0.6]}, index=["a", "b", "c"])
    phi = pd.DataFrame([[2.0]], index=["F"], columns=["F"])
    implied = pd.DataFrame(
        lam.to_numpy() @ lam.to_numpy().T * 2 + np.eye(3), index=lam.index, columns=lam.index
    )
    omega = composite_reliability(lam, phi, implied)["F"]
    assert omega == pytest.approx(2.4**2 * 2 / (2.4**2 * 2 + 3), abs=1e-12)
    ave = average_variance_extracted(lam, phi, implied)["F"]
    assert ave == pytest.approx(2 * 2.0 / (2 * 2.0 + 3), abs=1e-12)


def test_hs_omega_ave_htmt_match_semtools(hs, hs_ref):
    # compRelSEM / AVE (obs.var=TRUE) from the ML CFA: tolerance 1e-6 (3.1e-7 measured: the
    # optimizer's stopping point); HTMT and HTMT2 use sample correlations only: 1e-6.
    rep = reliability_report(hs, HS_CONSTRUCTS)
    assert rep.model_error is None
    for row in rep.constructs:
        assert row.omega == pytest.approx(hs_ref["omega"][row.construct], abs=1e-6)
        assert row.ave == pytest.approx(hs_ref["ave"][row.construct], abs=1e-6)
        assert row.alpha == pytest.approx(hs_ref["alpha"][row.construct], abs=1e-6)
    np.testing.assert_allclose(rep.htmt.to_numpy(), np.array(hs_ref["htmt"]), atol=1e-6)
    np.testing.assert_allclose(rep.htmt2.to_numpy(), np.array(hs_ref["htmt2"]), atol=1e-6)
    assert rep.missing["model"] == "no missing values"
    fl = rep.fornell_larcker
    assert fl is not None
    for row in rep.constructs:
        assert fl.matrix.loc[row.construct, row.construct] == pytest.approx(np.sqrt(row.ave))


def test_telecom_htmt_from_em_correlations_matches_semtools(telecom, telecom_ref):
    # htmt(missing="ml"): correlations from the EM saturated covariance. Tolerance 2e-5
    # (6.1e-6 measured): lavaan's and pvm's EM stop at different convergence criteria.
    constructs = telecom_constructs(telecom)
    rep = reliability_report(telecom, constructs, fit_model=False)
    np.testing.assert_allclose(rep.htmt.to_numpy(), np.array(telecom_ref["htmt"]), atol=2e-5)
    np.testing.assert_allclose(rep.htmt2.to_numpy(), np.array(telecom_ref["htmt2"]), atol=2e-5)
    assert "EM" in rep.missing["htmt"]
    assert list(rep.htmt.index) == list(constructs)


def test_telecom_omega_ave_by_fiml_match_semtools(telecom, telecom_ref):
    # compRelSEM / AVE on cfa(missing="ml"), obs.var=TRUE -> EM covariance. Tolerance 2e-5
    # (5.2e-6 measured): the FIML optimum is flat and obs.var uses the EM covariance.
    # Needs the in-house FIML engine (app.stats.sem.fit_model); fails loudly without it.
    constructs = telecom_constructs(telecom)
    rep = reliability_report(telecom, constructs, missing="fiml")
    assert rep.model_error is None, rep.model_error
    assert rep.model_nobs == 1500
    for row in rep.constructs:
        assert row.omega == pytest.approx(telecom_ref["omega"][row.construct], abs=2e-5)
        assert row.ave == pytest.approx(telecom_ref["ave"][row.construct], abs=2e-5)


@pytest.fixture(scope="module")
def extra() -> dict:
    return json.loads((DATA / "psych_extra.json").read_text())


def test_item_statistics_match_psych(hs, telecom, extra):
    # psych::alpha item.stats r.drop / alpha.drop raw_alpha / mean / sd: tolerance 1e-6.
    vis = construct_reliability(hs, HS_CONSTRUCTS["visual"])
    ref = extra["hs_visual_alpha"]
    np.testing.assert_allclose([s.item_total_r for s in vis.items], ref["r_drop"], atol=1e-6)
    np.testing.assert_allclose(
        [s.alpha_if_deleted for s in vis.items], ref["alpha_drop"], atol=1e-6
    )
    np.testing.assert_allclose([s.mean for s in vis.items], ref["mean"], atol=1e-6)
    np.testing.assert_allclose([s.sd for s in vis.items], ref["sd"], atol=1e-6)
    nq = construct_reliability(telecom, ["NQ1", "NQ2", "NQ3", "NQ4"])
    ref = extra["telecom_nq_alpha"]
    assert nq.n == ref["n"]
    assert nq.alpha == pytest.approx(ref["raw_alpha"], abs=1e-6)
    np.testing.assert_allclose([s.item_total_r for s in nq.items], ref["r_drop"], atol=1e-6)
    np.testing.assert_allclose([s.alpha_if_deleted for s in nq.items], ref["alpha_drop"], atol=1e-6)


def test_telecom_listwise_omega_ave_htmt_match_semtools(telecom, extra):
    # cfa(meas, d) drops to the 185 complete rows; compRelSEM/AVE within 1e-5 (3.3e-6
    # measured: a flat optimum on 185 rows), htmt (sample correlations) within 1e-9.
    ref = extra["telecom_listwise"]
    constructs = telecom_constructs(telecom)
    rep = reliability_report(telecom, constructs, missing="listwise")
    assert rep.model_error is None, rep.model_error
    assert rep.model_nobs == ref["nobs"] == 185
    for row in rep.constructs:
        assert row.omega == pytest.approx(ref["omega"][row.construct], abs=1e-5)
        assert row.ave == pytest.approx(ref["ave"][row.construct], abs=1e-5)
    np.testing.assert_allclose(rep.htmt.to_numpy(), np.array(ref["htmt"]), atol=1e-9)
    assert rep.missing["model"] == "complete cases of all items"


def test_telecom_fornell_larcker_uses_fiml_latent_correlations(telecom, telecom_ref, extra):
    # Off-diagonal: lavInspect(cfa(missing="ml"), "cor.lv"), diagonal sqrt(AVE): within 5e-6
    # (1.2e-6 measured, the flat FIML optimum).
    constructs = telecom_constructs(telecom)
    rep = reliability_report(telecom, constructs, missing="fiml")
    assert rep.fornell_larcker is not None, rep.model_error
    mat = rep.fornell_larcker.matrix
    ref_cor = pd.DataFrame(extra["telecom_fiml_cor_lv"], index=list(constructs))
    for a in constructs:
        for b in constructs:
            want = np.sqrt(telecom_ref["ave"][a]) if a == b else ref_cor.loc[a, b]
            assert mat.loc[a, b] == pytest.approx(want, abs=5e-6), (a, b)
    d = rep.to_dict()
    assert set(d["fornell_larcker"]["passed"]) == set(constructs)


def test_a_singular_small_sample_is_a_reliability_error_not_a_crash():
    """Six web responses from the fieldwork test (tests/browser/test_fieldwork_e2e.py), one
    "not applicable": VAL2 = VAL1 + 1 throughout, so neither the CFA (its observed information
    had no admissible finite-difference step) nor the EM covariance exists. Both once escaped
    as AssertionError / LinAlgError (a 500); now a ReliabilityError naming the cause (a 422)."""
    rows = [
        [1, 2, 3, 1, 2, 3],
        [2, 3, np.nan, 2, 3, 4],
        [3, 4, 5, 3, 4, 5],
        [4, 5, 1, 4, 5, 6],
        [1, 2, 3, 6, 7, 8],
        [4, 4, 4, 7, 8, 9],
    ]
    frame = pd.DataFrame(rows, columns=["SQ1", "SQ2", "SQ3", "VAL1", "VAL2", "VAL3"])
    constructs = {"SQ": ["SQ1", "SQ2", "SQ3"], "VAL": ["VAL1", "VAL2", "VAL3"]}
    for n in (6, 4):
        with pytest.raises(ReliabilityError, match=f"from {n} responses .singular"):
            reliability_report(frame.head(n), constructs)
