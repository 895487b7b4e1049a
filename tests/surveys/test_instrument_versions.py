"""An edited instrument becomes a new stored version; surveys with responses never change."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from app.surveys import service
from app.surveys.models import Instrument
from app.surveys.schemas import SurveyCreate

# version 1 alone, as the current file of a folder of its own (the edits below make version 2)
SOURCE = Path(__file__).resolve().parents[2] / "instruments" / "telecom-pv.v1.yaml"


@pytest.fixture
def instrument_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "instruments"
    folder.mkdir()
    target = folder / "telecom-pv.yaml"
    shutil.copy(SOURCE, target)
    monkeypatch.setenv("PVM_INSTRUMENTS_DIR", str(folder))
    return target


def test_edit_makes_new_version(instrument_file: Path, factory, session) -> None:
    factory.branches(["BR01"])
    fielded = factory.survey("fielded")
    idle = factory.survey("idle")
    assert (
        factory.submit("fielded", {"branch": "BR01", "answers": factory.answers(4)}).status_code
        == 201
    )

    text = instrument_file.read_text(encoding="utf-8")
    instrument_file.write_text(text.replace("Tangibles", "Physical evidence", 1), encoding="utf-8")
    service.sync_instruments(session)

    rows = session.scalars(select(Instrument).order_by(Instrument.version)).all()
    assert [r.version for r in rows] == [1, 2]
    assert rows[0].content_hash != rows[1].content_hash
    fielded = service.get_survey(session, slug="fielded")
    idle = service.get_survey(session, slug="idle")
    assert fielded.instrument_version == 1  # has responses: stays on what respondents saw
    assert idle.instrument_version == 2  # no responses yet: follows the edit
    assert service.survey_spec(fielded).constructs[0].name["en"] == "Tangibles"
    new = service.create_survey(session, data=SurveyCreate(slug="new"))
    assert new.instrument_version == 2
    # Syncing again with an unchanged file adds nothing.
    service.sync_instruments(session)
    assert len(session.scalars(select(Instrument)).all()) == 2
    # The old version stays readable through the API.
    headers = factory.key("operator")
    old = factory.client.get("/api/v1/instruments/telecom-pv?version=1", headers=headers).json()
    assert old["constructs"][0]["name"]["en"] == "Tangibles"
