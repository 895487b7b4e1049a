"""Every ``pvm`` command with bad input answers with a one-line message, never a traceback
(issue 14, item 9); every option has help text; ``pvm --version``."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from app import cli
from app.config import get_settings
from app.surveys.models import Survey


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("PVM_DATABASE_URL", database_url)
    monkeypatch.setenv("PVM_ENVIRONMENT", "test")
    monkeypatch.setenv("PVM_SECRET_KEY", "cli-test-secret-" + "y" * 32)
    monkeypatch.delenv("PVM_BROKER_URL", raising=False)
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """``pvm ARGV``: its exit code and what it wrote to stderr (argparse exits too)."""
    try:
        code = cli.main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    err = capsys.readouterr().err
    return code, err


def files(tmp_path: Path) -> dict[str, str]:
    bad_model = tmp_path / "bad.lav"
    bad_model.write_text("TAN =~ TAN1 + TAN2\n\nREL =~ REL1 + 2REL\n")
    unknown = tmp_path / "unknown.lav"
    unknown.write_text("TAN =~ TAN1 + TAN2 + NOPE1\n")
    binary = tmp_path / "latin1.csv"
    binary.write_bytes(b"branch,TAN1\nBR01,\xe9\n")
    return {
        "missing": str(tmp_path / "no-such-file.csv"),
        "bad_model": str(bad_model),
        "unknown_model": str(unknown),
        "binary": str(binary),
        "dir": str(tmp_path),
    }


BAD_INPUT: list[tuple[list[str], str]] = [
    ([], "required"),
    (["nope"], "invalid choice"),
    (["serve", "--port", "abc"], "--port"),
    (["demo", "--responses", "many"], "--responses"),
    (["import", "--survey", "telecom", "{missing}"], "no-such-file.csv"),
    (["import", "--survey", "telecom", "{dir}"], "cannot use"),
    (["import", "--survey", "nope", "{binary}"], "nope"),
    (["import", "{missing}"], "--survey"),
    (["keys", "create"], "--role"),
    (["keys", "create", "--role", "boss"], "--role"),
    (["keys", "create", "--role", "operator", "--branches", "ZZ99"], "ZZ99"),
    (["keys", "revoke", "abc"], "id"),
    (["keys", "revoke", "99999"], "99999"),
    (["keys", "rotate", "99999"], "99999"),
    (["audit", "list", "--limit", "x"], "--limit"),
    (["audit", "list", "--action", "nope"], "--action"),
    (["responses", "delete", "--survey", "telecom", "not-a-uuid"], "not-a-uuid"),
    (["responses", "erase", "--survey", "nope", "--token", "t"], "nope"),
    (["retention", "run", "--days", "-1"], "--days"),
    (["reliability", "nope"], "nope"),
    (["reliability", "telecom", "--missing", "pairwise"], "--missing"),
    (["reliability", "telecom", "--constructs", "NOPE"], "NOPE"),
    (["efa", "telecom", "--factors", "zero"], "--factors"),
    (["efa", "telecom", "--items", "TAN1,NOPE"], "NOPE"),
    (["fit", "nope"], "nope"),
    (["fit", "telecom", "--model", "{missing}"], "no-such-file.csv"),
    (["fit", "telecom", "--model", "{bad_model}"], "line 3, column 15"),
    (["fit", "telecom", "--model", "{unknown_model}"], "NOPE1"),
    (["fit", "telecom", "--bootstrap", "5"], "bootstrap"),
    (["fit", "telecom", "--estimator", "WLS"], "--estimator"),
    (["fit", "telecom", "--invariance"], "group"),
    (["fit", "telecom", "--cluster", "region"], "cluster"),
    (["fit", "telecom", "--sampling-weights", "tenure", "--missing", "listwise"], "numbers"),
    (["fit", "telecom", "--out", "{dir}/x.pdf"], ".csv or .xlsx"),
    (["fits"], "required"),
    (["fits", "list", "nope"], "nope"),
    (["fits", "list", "telecom", "--status", "finished"], "finished"),
    (["fits", "list", "telecom", "--created-from", "yesterday"], "--created-from"),
    (["fits", "list", "telecom", "--limit", "0"], "--limit"),
    (["fits", "show", "nope"], "nope"),
    (["worker"], "PVM_BROKER_URL"),
    (["aggregates", "rebuild", "--survey", "nope"], "nope"),
    (["instruments", "validate", "{missing}"], "no-such-file.csv"),
    (["instruments", "add", "{dir}"], "cannot"),
]


@pytest.mark.parametrize(
    "argv, says", BAD_INPUT, ids=[" ".join(a) or "(nothing)" for a, _ in BAD_INPUT]
)
def test_bad_input_gives_one_line_and_no_traceback(
    argv: list[str],
    says: str,
    cli_env: str,
    telecom_survey: Survey,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    paths = files(tmp_path)
    code, err = run([a.format(**paths) for a in argv], capsys)
    assert code != 0, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("\r")]
    lines = [line for line in lines if "[" not in line[:2]]  # the fit's progress bar
    assert len(lines) == 1, err
    assert says in lines[0], err


def test_instrument_problems_are_listed_one_per_line(
    cli_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = tmp_path / "bad.yaml"
    doc.write_text("id: x\nlanguages: [en]\nitems: 3\n")
    code, err = run(["instruments", "validate", str(doc)], capsys)
    assert code != 0 and "Traceback" not in err
    assert "problem" in err.splitlines()[0]


def test_an_unexpected_error_is_one_line_and_its_traceback_needs_verbose(
    cli_env: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(_: argparse.Namespace) -> int:
        raise RuntimeError("something broke")

    monkeypatch.setattr(cli, "cmd_migrate", boom)
    code, err = run(["migrate"], capsys)
    assert code == 1 and "Traceback" not in err
    assert err.strip() == (
        "error: internal error (RuntimeError: something broke); run with -v for the traceback"
    )
    with pytest.raises(RuntimeError):
        cli.main(["-v", "migrate"])


def test_every_option_has_help() -> None:
    missing: list[str] = []

    def walk(parser: argparse.ArgumentParser, path: list[str]) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, [*path, name])
            elif not isinstance(action, argparse._HelpAction) and not action.help:
                missing.append(" ".join([*path, *(action.option_strings or [action.dest])]))

    walk(cli.build_parser(), ["pvm"])
    assert missing == []


def test_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "app.cli", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("pvm ") and out.stdout.strip() != "pvm"
