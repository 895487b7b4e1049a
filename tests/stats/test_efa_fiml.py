"""EFA on FIML (EM) correlations (issue 14 item 7): ``run_efa(use="fiml")`` against lavaan
0.6.14's ``lavCor(missing = "ml")`` and psych 2.2.9's ``fa``/``KMO``/``cortest.bartlett`` on
that matrix with n = the rows with an item (tests/data/efa_fiml.R -> efa_fiml.json), on
telecom_1500's TAN, REL and NQ items (185 of 1,500 rows complete).

Tolerances at the agreement measured: the EM correlations 1e-6 (both EMs stop at a tolerance;
lavCor run with em.h1.tol = 1e-12, measured 3.5e-9); KMO 1e-8 (7.7e-11) and Bartlett's
chi-square 1e-8 relative (6.7e-10); loadings and communalities 2e-5 after matching factors
(factor_analyzer's minres / ml optimisers against psych's, measured 7.6e-6).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app.psychometrics.cli import render_efa
from app.stats.efa import EFAError, run_efa
from tests.stats.test_efa import matched_max_error, ref_loadings

DATA = Path(__file__).resolve().parents[1] / "data"
REF = json.loads((DATA / "efa_fiml.json").read_text())
COR_ABS, STAT_TOL, LOAD_ABS = 1e-6, 1e-8, 2e-5


@pytest.fixture(scope="module")
def telecom() -> pd.DataFrame:
    return pd.read_csv(DATA / "telecom_1500.csv")


@pytest.mark.parametrize(
    ("key", "method", "rotation"),
    [("minres_oblimin", "minres", "oblimin"), ("ml_varimax", "ml", "varimax")],
)
def test_fiml_efa_matches_lavcor_and_psych(
    telecom: pd.DataFrame, key: str, method: str, rotation: str
) -> None:
    res = run_efa(telecom, REF["items"], n_factors=3, method=method, rotation=rotation, use="fiml")
    assert res.kmo == pytest.approx(REF["kmo"], abs=STAT_TOL)
    assert res.bartlett_chisq == pytest.approx(REF["bartlett"]["chisq"], rel=STAT_TOL)
    assert res.bartlett_df == REF["bartlett"]["df"]
    assert matched_max_error(res.loadings, ref_loadings(REF[key]["loadings"])) < LOAD_ABS
    for item, h2 in REF[key]["communalities"].items():
        assert res.communalities[item] == pytest.approx(h2, abs=LOAD_ABS)
    out = res.to_dict()
    assert (out["use"], out["n"], out["n_rows"], out["n_complete"]) == ("fiml", 1500, 1500, 185)
    assert out["n_dropped"] == 0 and out["warnings"] == []
    assert out["missing"].startswith("fiml")
    assert "1500 rows, 185 complete" in render_efa(out)


def test_fiml_correlations_are_lavcors(telecom: pd.DataFrame) -> None:
    from app.stats.sem import saturated_em

    x = telecom[REF["items"]].to_numpy(dtype=float)
    cov = saturated_em(x).cov
    d = np.sqrt(np.diag(cov))
    np.testing.assert_allclose(cov / np.outer(d, d), np.array(REF["cor"]), atol=COR_ABS)


def test_listwise_warning_offers_fiml(telecom: pd.DataFrame) -> None:
    res = run_efa(telecom, REF["items"], n_factors=3)
    assert "use=fiml" in res.warnings[0]


def test_fiml_needs_rows_and_variance() -> None:
    few = pd.DataFrame({"a": [1.0, 2, 3], "b": [2.0, 1, 3], "c": [3.0, 1, 2]})
    with pytest.raises(EFAError, match="too few rows for FIML"):
        run_efa(few, ["a", "b", "c"], n_factors=1, use="fiml")
    rng = np.random.default_rng(1)
    flat = pd.DataFrame(rng.normal(size=(40, 3)), columns=["a", "b", "c"])
    flat["c"] = 2.0
    with pytest.raises(EFAError, match="without variance: c"):
        run_efa(flat, ["a", "b", "c"], n_factors=1, use="fiml")
