"""Factor scores (``lavPredict``) against lavaan 0.6.14 (tests/data/factor_scores.R)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app.stats.sem import ModelError
from app.stats.sem.scores import factor_scores

DATA = Path(__file__).resolve().parents[2] / "data"
REF = json.loads((DATA / "factor_scores.json").read_text())
HS = pd.read_csv(DATA / "holzinger_swineford_1939.csv")
PD = pd.read_csv(DATA / "political_democracy.csv")


def _hs_missing() -> pd.DataFrame:
    df = HS.copy()
    df.loc[df.index[::7], "x1"] = np.nan
    df.loc[df.index[2::11], "x5"] = np.nan
    df.loc[1, ["x1", "x2", "x3"]] = np.nan  # visual unmeasured in row 2 (1-based)
    return df


CASES = {
    "hs_ml": (HS, "HS", {"missing": "listwise"}),
    "hs_fiml": (_hs_missing(), "HS", {"missing": "fiml"}),
    "pd_ml": (PD, "PD", {"missing": "listwise"}),
    "hs_groups": (
        HS,
        "HS",
        {"missing": "listwise", "group": "school", "group_equal": ["loadings"]},
    ),
}


@pytest.mark.parametrize("method", ["regression", "bartlett"])
@pytest.mark.parametrize("case", list(CASES))
def test_scores_match_lavpredict(case: str, method: str) -> None:
    data, model, kw = CASES[case]
    ref = REF[case][method]
    got = factor_scores(data, REF["models"][model], method=method, **kw)
    want = np.array([[np.nan if v == "NA" else v for v in row] for row in ref["values"]], float)
    values = got[ref["columns"]].to_numpy()
    assert values.shape == want.shape
    assert list(got.index) == list(data.index)  # every row used, in data order
    assert np.array_equal(np.isnan(values), np.isnan(want))  # Bartlett: NA where unmeasured
    # agreement achieved: 6.2e-6 (the optimiser's convergence, not the formula)
    np.testing.assert_allclose(values, want, atol=1e-5, equal_nan=True)
    if "group" in kw:
        assert list(got["group"]) == [str(s) for s in data["school"]]


def test_listwise_scores_only_complete_rows() -> None:
    got = factor_scores(_hs_missing(), REF["models"]["HS"], missing="listwise")
    assert len(got) == int(_hs_missing()[[f"x{i}" for i in range(1, 10)]].notna().all(axis=1).sum())
    assert 1 not in got.index and 0 not in got.index


@pytest.mark.parametrize(
    ("kw", "field"),
    [({"method": "ebm"}, "method"), ({"missing": "pairwise"}, "missing")],
)
def test_refusals_name_the_field(kw: dict, field: str) -> None:
    with pytest.raises(ModelError) as err:
        factor_scores(HS, REF["models"]["HS"], **kw)
    assert err.value.field == field


def test_model_without_latents_is_refused() -> None:
    with pytest.raises(ModelError) as err:
        factor_scores(PD, "y1 ~ x1 + x2")
    assert err.value.field == "model"
