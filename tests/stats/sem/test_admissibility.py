"""lavaan's admissibility checks, self-measured latents and honest non-converged output (issue 15).

References: tests/data/admissibility.json, made by tests/data/admissibility.R (lavaan 0.6.14's
warnings on Holzinger-Swineford subsets). Estimates of these small-sample Heywood solutions
agree to 5e-5 and chisq to 1e-6 relative, as measured below.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app.fits.diagram import render_svg
from app.fits.report import format_result
from app.stats.sem import ModelError, fit_model

from .golden import STAT_REL, load_csv, load_json

REF = load_json("admissibility")
HS = load_csv("holzinger_swineford_1939.csv")
# lavaan's warning -> the words of pvm's warning for the same finding
FINDINGS = {
    "some estimated ov variances are negative": "negative residual variance",
    "covariance matrix of latent variables is not positive definite": (
        "the covariance matrix of the latent variables"
    ),
}
EST_ABS = 5e-5  # 3.2e-5 measured (hs_age14_pasteur: a flat Heywood solution, n = 31)


def _data(case: dict) -> pd.DataFrame:
    if "rows" in case:
        first, last = case["rows"]
        return HS.iloc[first - 1 : last]
    df = HS[HS["ageyr"].isin(np.atleast_1d(case["ageyr"]))]
    if "school" in case:
        df = df[df["school"] == case["school"]]
    return df


@pytest.mark.parametrize("name", ["hs_rows_81_105", "hs_age14_pasteur"])
def test_warnings_as_lavaan(name: str) -> None:
    case = REF[name]
    res = fit_model(_data(case), case["model"], missing="listwise")
    assert res.converged and case["converged"]
    assert res.fit["chisq"] == pytest.approx(case["fit"]["chisq"], rel=STAT_REL)
    mine = {(e.lhs, e.op, e.rhs): e for e in res.estimates}
    for e in case["estimates"]:
        assert abs(mine[(e["lhs"], e["op"], e["rhs"])].est - e["est"]) <= EST_ABS, e
    lavaan = [w for w in np.atleast_1d(case["warnings"])]
    expected = {pvm for text, pvm in FINDINGS.items() if any(text in w for w in lavaan)}
    found = {pvm for pvm in FINDINGS.values() if any(w.startswith(pvm) for w in res.warnings)}
    assert found == expected and len(res.warnings) == len(lavaan), res.warnings
    negative = [
        e["lhs"]
        for e in case["estimates"]
        if e["op"] == "~~" and e["lhs"] == e["rhs"] and e["lhs"].startswith("x") and e["est"] < 0
    ]
    assert all(v in res.warnings[0] for v in negative) and negative
    d = res.to_dict()
    assert d["warnings"] == res.warnings and d["fit"]["chisq"] is not None
    assert "Warning: negative residual variance" in format_result(d)
    assert "Warning: negative residual variance" in render_svg(d, title="t")


def test_not_converged_says_so_and_reports_no_fit() -> None:
    case = REF["hs_age_configural"]
    assert not case["converged"]  # lavaan does not converge either
    res = fit_model(_data(case), case["model"], group="ageyr", missing="fiml")
    assert not res.converged
    assert res.warnings[0].startswith("the model did not converge")
    d = res.to_dict()
    assert d["converged"] is False and d["warnings"][0].startswith("the model did not converge")
    assert {k for k, v in d["fit"].items() if v is not None} == {"npar", "df"}
    assert all(e[k] is None for e in d["estimates"] for k in ("se", "z", "pvalue", "ci.lower"))
    text = format_result(d)
    assert "Warning: the model did not converge" in text
    svg = render_svg(d, title="t", group="12")
    assert "Warning: the model did not converge" in svg and "χ²" not in svg


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("visual =~ visual + x1 + x2 + x3", "latent variable visual can not be measured by itself"),
        ("x1 =~ x1 + x2 + x3", "latent variable x1 can not be measured by itself"),
        ("visual =~ x1 + x2 + x3\nx4 ~ x4", "x4 can not be regressed on itself"),
    ],
)
def test_self_reference_is_a_model_error(model: str, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        fit_model(HS, model)
