"""What a fit's header says (issue 14 items 5 and 8): a group's diagram gives that group's n,
and under MLR the diagram header and the text report show the robust CFI/TLI/RMSEA with the
robust RMSEA interval (the numbers are the engine's, checked against lavaan in
tests/stats/sem/test_robust_rmsea.py)."""

from __future__ import annotations

from typing import Any

import pytest

from app.fits.diagram import render_svg
from app.fits.grouped import run_grouped
from app.fits.report import fit_block
from app.stats.sem import fit_model
from tests.stats.sem.golden import load_csv

HS = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"


@pytest.fixture(scope="module")
def mlr() -> dict[str, Any]:
    data = load_csv("holzinger_swineford_1939.csv")
    return fit_model(data, HS, estimator="MLR", missing="listwise").to_dict()


def test_mlr_diagram_header_shows_robust_indices_and_interval(mlr: dict[str, Any]) -> None:
    fit = mlr["fit"]
    svg = render_svg(mlr, title="hs")
    assert f"χ²scaled(24) = {fit['chisq.scaled']:.1f}" in svg
    assert f"CFI (robust) = {fit['cfi.robust']:.3f}" in svg
    assert f"TLI (robust) = {fit['tli.robust']:.3f}" in svg
    lo, hi = fit["rmsea.ci.lower.robust"], fit["rmsea.ci.upper.robust"]
    assert f"RMSEA (robust) = {fit['rmsea.robust']:.3f} [{lo:.3f}, {hi:.3f}]" in svg
    ml = dict(mlr, estimator="ML")
    plain = render_svg(ml, title="hs")
    assert f"CFI = {fit['cfi']:.3f}" in plain and "robust" not in plain
    assert f"[{fit['rmsea.ci.lower']:.3f}, {fit['rmsea.ci.upper']:.3f}]" in plain


def test_mlr_text_report_lists_robust_rows(mlr: dict[str, Any]) -> None:
    text = "\n".join(fit_block(mlr))
    fit = mlr["fit"]
    for label, key in [
        ("Robust Comparative Fit Index (CFI)", "cfi.robust"),
        ("Robust Tucker-Lewis Index (TLI)", "tli.robust"),
        ("Robust RMSEA", "rmsea.robust"),
        ("P-value H_0: Robust RMSEA <= 0.050", "rmsea.pvalue.robust"),
    ]:
        assert f"  {label:<44}{fit[key]:>14.3f}" in text
    assert text.count("90 Percent confidence interval - lower") == 2
    assert f"  {'Standard errors':<44}robust.huber.white" in text
    assert f"  {'Test':<44}yuan.bentler.mplus" in text
    assert f"{fit['rmsea.ci.upper.robust']:>14.3f}" in text
    ml = fit_model(load_csv("holzinger_swineford_1939.csv"), HS, missing="listwise").to_dict()
    assert "Robust" not in "\n".join(fit_block(ml))
    assert "Standard errors" not in "\n".join(fit_block(ml))


def test_group_diagram_gives_the_groups_own_n() -> None:
    data = load_csv("holzinger_swineford_1939.csv")
    spec = {"model": HS, "group": "school", "missing": "listwise", "estimator": "ML"}
    result = run_grouped(data, spec)
    sizes = {g["group"]: g["nobs"] for g in result["groups"]}
    assert sizes == {"Pasteur": 156, "Grant-White": 145} and result["nobs"] == 301
    assert "n = 145 of 301" in render_svg(result, group="Grant-White")
    assert "n = 156 of 301" in render_svg(result)  # the first group by default


def test_text_report_says_what_the_bootstrap_did() -> None:
    data = load_csv("holzinger_swineford_1939.csv")
    res = fit_model(data, HS, missing="listwise", bootstrap=100, seed=2).to_dict()
    text = "\n".join(fit_block(res))
    assert "Bootstrap:" in text
    assert f"  {'Draws requested':<44}{100:>14}" in text
    assert f"  {'Draws succeeded':<44}{res['bootstrap']['succeeded']:>14}" in text
    assert f"  {'Interval':<44}{'perc 95%':>14}" in text


def test_text_report_names_the_ordinal_parameterization() -> None:
    result = {
        "estimator": "WLSMV",
        "missing": "listwise",
        "nobs": 500,
        "fit": {"npar": 20},
        "ordinal": {"parameterization": "theta", "ordered": ["x1", "x2"]},
    }
    assert f"  {'Parameterization':<44}{'theta':>14}" in fit_block(result)
    assert not any(line.lstrip().startswith("Parameterization") for line in fit_block({}))
