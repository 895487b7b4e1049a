"""``pvm reliability`` and ``pvm efa`` against the imported telecom data."""

from __future__ import annotations

import json

import pytest

from app.cli import main as pvm
from tests.conftest import DATA_DIR


@pytest.fixture
def cli_env(settings, monkeypatch):
    monkeypatch.setenv("PVM_DATABASE_URL", settings.database_url)
    from app.config import get_settings

    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_reliability_cli_prints_tables_and_json(cli_env, telecom_survey, capsys):
    ref = json.loads((DATA_DIR / "telecom_reliability.json").read_text())
    assert pvm(["reliability", "telecom", "--missing", "listwise", "--constructs", "TAN,REL"]) == 0
    out = capsys.readouterr().out
    assert "construct" in out and "HTMT" in out and "Fornell-Larcker" in out
    tan_line = next(line for line in out.splitlines() if line.startswith("TAN "))
    # alpha printed with 3 decimals: agrees with psych to the printed precision.
    assert f"{ref['alpha']['TAN']:.3f}" in tan_line
    assert pvm(["reliability", "telecom", "--json", "--constructs", "PV"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["constructs"]["PV"]["alpha"] == pytest.approx(ref["alpha"]["PV"], abs=1e-6)
    boot = ["reliability", "telecom", "--missing", "listwise", "--constructs", "TAN,REL"]
    assert pvm([*boot, "--htmt-bootstrap", "10", "--seed", "2"]) == 0
    out = capsys.readouterr().out
    assert "HTMT bootstrap: 10 of 10 draws (seed 2; dropped: none)" in out
    assert next(line for line in out.splitlines() if line.startswith("TAN-REL"))
    assert pvm([*boot, "--htmt-bootstrap", "-1"]) == 2
    assert "--htmt-bootstrap must be 0..5000" in capsys.readouterr().err


def test_efa_cli_and_errors(cli_env, telecom_survey, capsys):
    items = "TAN1,TAN2,TAN3,REL1,REL2,REL3,REL4"
    assert pvm(["efa", "telecom", "--items", items, "--rotation", "varimax"]) == 0
    out = capsys.readouterr().out
    assert "KMO =" in out and "parallel analysis suggests 2 factor(s)" in out
    assert "F2" in out and "h2" in out
    assert pvm(["efa", "telecom", "--items", "TAN1"]) == 2
    assert "at least 3 items" in capsys.readouterr().err
    assert pvm(["efa", "nope"]) == 2


def test_efa_cli_constructs_pairwise_sorted_and_blanked(cli_env, telecom_survey, capsys):
    # TAN, REL and NQ: NQ allows "not applicable", so listwise keeps 185 of 1,500 rows
    assert pvm(["efa", "telecom", "--constructs", "TAN,REL,NQ", "--factors", "3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("warning: listwise deletion kept 185 of 1500 rows (12%)")
    assert "185 of 1500 rows complete" in out
    assert (
        pvm(
            [
                "efa",
                "telecom",
                "--constructs",
                "TAN,REL,NQ",
                "--factors",
                "3",
                "--use",
                "pairwise",
                "--json",
            ]
        )
        == 0
    )
    body = json.loads(capsys.readouterr().out)
    assert body["use"] == "pairwise" and body["warnings"] == [] and body["n"] == 262
    fiml = ["efa", "telecom", "--constructs", "TAN,REL,NQ", "--factors", "3", "--use", "fiml"]
    assert pvm(fiml) == 0
    out = capsys.readouterr().out
    assert "n = 1500 (fiml:" in out and "1500 rows, 185 complete" in out
    assert not out.startswith("warning")
    assert (
        pvm(
            [
                "efa",
                "telecom",
                "--constructs",
                "TAN,REL,NQ",
                "--factors",
                "3",
                "--use",
                "pairwise",
                "--cut",
                "0.5",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "loadings below 0.5 in absolute value are not shown" in out
    lines = out.splitlines()
    start = next(k for k, line in enumerate(lines) if line.startswith("item"))
    table = [line.split() for line in lines[start + 2 : start + 13]]
    order = [row[0] for row in table]
    assert [r["item"] for r in body["loadings_sorted"]["rows"]] == order
    for row in table:  # item, the loadings shown (|v| >= 0.5), h2, MSA
        shown = [float(v) for v in row[1:-2]]
        assert shown and all(abs(v) >= 0.5 for v in shown)
    assert pvm(["efa", "telecom", "--constructs", "XX"]) == 2
    assert "unknown construct(s): XX" in capsys.readouterr().err
