"""``pvm instruments validate|add|list``."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import yaml
from sqlalchemy import select

from app import cli
from app.config import get_settings
from app.surveys.models import Instrument
from tests.instruments.helpers import EXAMPLE, TELECOM, example


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("PVM_DATABASE_URL", database_url)
    monkeypatch.setenv("PVM_ENVIRONMENT", "test")
    monkeypatch.setenv("PVM_SECRET_KEY", "cli-test-secret-" + "y" * 32)
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


def test_validate_ok(capsys) -> None:
    assert cli.main(["instruments", "validate", str(EXAMPLE)]) == 0
    assert capsys.readouterr().out.strip() == "ok: cafe-visit version 1, 12 items"
    assert cli.main(["instruments", "validate", str(TELECOM)]) == 0
    assert capsys.readouterr().out.strip() == "ok: telecom-pv version 2, 43 items"


def test_validate_json_file(capsys, tmp_path) -> None:
    path = tmp_path / "cafe.json"
    path.write_text(json.dumps(example()), encoding="utf-8")
    assert cli.main(["instruments", "validate", str(path)]) == 0
    assert "ok: cafe-visit version 1" in capsys.readouterr().out


def test_validate_prints_every_problem(capsys, tmp_path) -> None:
    doc = example()
    del doc["items"][3]["text"]["en"]
    doc["default_model"] = doc["default_model"].replace("LOY3", "LOY9")
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    assert cli.main(["instruments", "validate", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert lines[0] == f"{path}: 2 problem(s):"
    assert "  items[3].text.en: missing translation 'en' for item SRV3" in lines
    assert "  default_model: indicator 'LOY9' of 'LOY' is not an item" in lines


def test_validate_unreadable(capsys, tmp_path) -> None:
    assert cli.main(["instruments", "validate", str(tmp_path / "none.yaml")]) == 1
    assert "cannot read" in capsys.readouterr().err
    dup = tmp_path / "dup.yaml"
    dup.write_text("id: a\nid: b\n", encoding="utf-8")
    assert cli.main(["instruments", "validate", str(dup)]) == 1
    assert "id: duplicate key 'id' (line 2)" in capsys.readouterr().err


def test_add_and_list(cli_env, capsys, app, session) -> None:
    assert cli.main(["instruments", "add", str(EXAMPLE)]) == 0
    assert capsys.readouterr().out.startswith("stored: cafe-visit version 1 (")
    assert cli.main(["instruments", "add", str(EXAMPLE)]) == 0
    assert capsys.readouterr().out.startswith("already stored: cafe-visit version 1 (")
    row = session.scalar(select(Instrument).where(Instrument.id == "cafe-visit"))
    assert row is not None and row.source == "cli"
    assert cli.main(["instruments", "list"]) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert [r[0] for r in rows] == sorted({r[0] for r in rows})
    listed = {r[0]: r[1:3] for r in rows}
    assert listed["cafe-visit"] == ["version 1", "12 items"]
    assert listed["telecom-pv"] == ["version 2", "43 items"]


def test_add_refuses_an_invalid_document(cli_env, capsys, app, session, tmp_path) -> None:
    doc = example()
    doc["outcome"] = "NOPE"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    assert cli.main(["instruments", "add", str(path)]) == 1
    assert "outcome: NOPE is not a construct" in capsys.readouterr().err
    assert session.scalar(select(Instrument).where(Instrument.id == "cafe-visit")) is None
