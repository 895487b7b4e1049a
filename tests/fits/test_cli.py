"""``pvm fit``: progress bar on stderr, lavaan-like report on stdout."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from app.cli import main
from app.config import Settings
from app.fits import cli
from app.surveys.models import Survey

PvmFit = Callable[..., int]


@pytest.fixture
def pvm_fit(
    settings: Settings, telecom_survey: Survey, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> PvmFit:
    """Runs ``pvm fit telecom --model FILE [options]`` with the model text in FILE."""
    monkeypatch.setattr(cli, "get_settings", lambda: settings)

    def run(model: str, *options: str) -> int:
        path = tmp_path / "model.lav"
        path.write_text(model)
        return main(["fit", "telecom", "--model", str(path), *options])

    return run


def test_pvm_fit_prints_fit_measures_and_estimates(
    pvm_fit: PvmFit, capsys: pytest.CaptureFixture[str]
) -> None:
    model = "TAN =~ TAN1 + TAN2 + TAN3\nREL =~ REL1 + REL2 + REL3 + REL4\n"
    assert pvm_fit(model, "--missing", "listwise") == 0
    out, err = capsys.readouterr()
    assert "100%" in err and "[" + "#" * 30 + "]" in err
    assert "Degrees of freedom" in out and "13" in out
    assert "Comparative Fit Index (CFI)" in out
    assert "Latent Variables:" in out and "  TAN =~" in out and "Covariances:" in out
    assert "R-Square:" in out


def test_pvm_fit_reports_model_errors(pvm_fit: PvmFit, capsys: pytest.CaptureFixture[str]) -> None:
    assert pvm_fit("F =~ TAN1 + NOPE1\n") == 1
    assert "NOPE1" in capsys.readouterr().err


def test_pvm_fit_method_pls(pvm_fit: PvmFit, capsys: pytest.CaptureFixture[str]) -> None:
    model = "REL =~ REL1 + REL2 + REL3 + REL4\nPV =~ PV1 + PV2\nPV ~ REL\n"
    options = ("--method", "pls", "--composite", "--predict", "5x1", "--ipma", "PV")
    assert pvm_fit(model, *options) == 0
    out, _ = capsys.readouterr()
    assert "SRMR (saturated model)" in out and "PV ~ REL" in out and "REL <= REL1" in out
    assert "PLSpredict (5 folds x 1)" in out and "IPMA of PV" in out and "Blindfolding" in out
    assert pvm_fit(model, *options, "--json") == 0
    result = json.loads(capsys.readouterr().out)
    assert result["method"] == "pls" and result["consistent"] is False
    assert result["ipma"]["target"] == "PV" and len(result["predict"]["items"]) == 2
    assert pvm_fit(model, "--method", "pls", "--ipma", "SAT") == 1
    assert "ipma.target" in capsys.readouterr().err


def test_pvm_fit_request_options(pvm_fit: PvmFit, capsys: pytest.CaptureFixture[str]) -> None:
    """--name, --ordered (all or items) with --estimator WLSMV/DWLS, --group-partial and
    --bootstrap-ci reach the fit as the API's fields do."""
    model = "TAN =~ TAN1 + TAN2 + TAN3\nREL =~ REL1 + REL2 + REL3 + REL4\n"
    options = ("--missing", "listwise", "--ordered", "--estimator", "DWLS", "--json")
    assert pvm_fit(model, *options) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["estimator"] == "DWLS"
    assert any(e["op"] == "|" for e in result["estimates"])  # thresholds: ordinal items
    assert pvm_fit(model, "--missing", "listwise", "--ordered", "TAN1,TAN2", "--json") == 0
    result = json.loads(capsys.readouterr().out)
    assert {e["lhs"] for e in result["estimates"] if e["op"] == "|"} == {"TAN1", "TAN2"}

    grouped = ("--missing", "listwise", "--group", "customer_type", "--group-equal", "intercepts")
    assert pvm_fit(model, *grouped, "--json") == 0
    equal = json.loads(capsys.readouterr().out)
    assert pvm_fit(model, *grouped, "--group-partial", "REL1~1", "--json") == 0
    partial = json.loads(capsys.readouterr().out)
    freed = len(partial["groups"]) - 1  # REL1's intercept free in every group but the first
    assert partial["fit"]["df"] == equal["fit"]["df"] - freed

    assert pvm_fit(model, "--missing", "listwise", "--name", "My CFA") == 0
    assert capsys.readouterr().out.startswith("My CFA")
