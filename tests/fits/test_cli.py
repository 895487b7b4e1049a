"""``pvm fit``: progress bar on stderr, lavaan-like report on stdout."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import main
from app.config import Settings
from app.fits import cli
from app.surveys.models import Survey


def test_pvm_fit_prints_fit_measures_and_estimates(
    settings: Settings,
    telecom_survey: Survey,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(cli, "get_settings", lambda: settings)
    model = tmp_path / "model.lav"
    model.write_text("TAN =~ TAN1 + TAN2 + TAN3\nREL =~ REL1 + REL2 + REL3 + REL4\n")
    assert main(["fit", "telecom", "--model", str(model), "--missing", "listwise"]) == 0
    out, err = capsys.readouterr()
    assert "100%" in err and "[" + "#" * 30 + "]" in err
    assert "Degrees of freedom" in out and "13" in out
    assert "Comparative Fit Index (CFI)" in out
    assert "Latent Variables:" in out and "  TAN =~" in out and "Covariances:" in out
    assert "R-Square:" in out


def test_pvm_fit_reports_model_errors(
    settings: Settings,
    telecom_survey: Survey,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(cli, "get_settings", lambda: settings)
    model = tmp_path / "bad.lav"
    model.write_text("F =~ TAN1 + NOPE1\n")
    assert main(["fit", "telecom", "--model", str(model)]) == 1
    assert "NOPE1" in capsys.readouterr().err
