"""``pvm fit``: progress bar on stderr, lavaan-like report on stdout."""

from __future__ import annotations

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
