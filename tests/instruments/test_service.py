"""The versioning rules of app.instruments.service (stored versions, the current one, which
surveys follow a new version) and that every process sees an upload."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import event, select

from app.errors import InvalidInput
from app.instruments import service
from app.instruments.registry import parse_instrument
from app.main import create_app
from app.surveys import service as surveys
from app.surveys.models import Instrument
from app.surveys.schemas import SurveyCreate
from app.surveys.specs import survey_spec
from tests.instruments.helpers import EXAMPLE, example, post_yaml, telecom


def edited(text: str, **fields: Any) -> Any:
    """The current telecom-pv file (version 2; version 1 is stored before it) with new text."""
    doc = telecom()
    doc["items"][0]["text"]["en"] = text
    doc.update(fields)
    return parse_instrument(doc)


def versions(session) -> list[int]:
    session.commit()
    return list(
        session.scalars(
            select(Instrument.version)
            .where(Instrument.id == "telecom-pv")
            .order_by(Instrument.version)
        )
    )


def test_survey_service_keeps_the_instrument_names() -> None:
    assert surveys.sync_instruments is service.sync_instruments
    assert surveys.ensure_instrument is service.ensure_instrument
    assert surveys.get_instrument_definition is service.get_instrument_definition


def test_restart_does_not_undo_an_upload(factory, session) -> None:
    factory.branches(["BR01"])
    row, created = service.store_instrument(session, spec=edited("Second."), source="api")
    assert (row.version, created) == (3, True)
    idle = factory.survey("idle", instrument_version=None)
    assert idle.instrument_version == 3
    # the bundled files still hold versions 1 and 2: syncing them stores nothing
    service.sync_instruments(session)
    assert versions(session) == [1, 2, 3]
    assert service.current_version(session, instrument_id="telecom-pv").version == 3
    assert surveys.get_survey(session, slug="idle").instrument_version == 3


def test_only_surveys_on_the_previous_current_version_follow(factory, session) -> None:
    factory.branches(["BR01"])
    service.store_instrument(session, spec=edited("Second."), source="api")
    old = factory.survey("old", instrument_version=2)  # pinned on purpose
    follows = factory.survey("follows", instrument_version=None)
    factory.survey("fielded", instrument_version=None)
    body = {"branch": "BR01", "answers": factory.answers(4, version=3)}
    assert factory.submit("fielded", body).status_code == 201
    assert (old.instrument_version, follows.instrument_version) == (2, 3)
    service.store_instrument(session, spec=edited("Third."), source="api")
    session.commit()
    pinned = {
        slug: surveys.get_survey(session, slug=slug).instrument_version
        for slug in ("old", "follows", "fielded")
    }
    assert pinned == {"old": 2, "follows": 4, "fielded": 3}
    listed = service.list_versions(session, instrument_id="telecom-pv")
    info = {v.row.version: (v.surveys, v.fielded) for v in listed}
    assert info == {1: (0, False), 2: (1, False), 3: (1, True), 4: (1, False)}


def test_a_survey_loaded_in_the_session_sees_its_new_version(factory, session) -> None:
    survey = surveys.create_survey(session, data=SurveyCreate(slug="idle"))
    assert survey_spec(survey).items[0].text["en"] != "Second."
    assert survey.instrument_version == 2
    service.store_instrument(session, spec=edited("Second."), source="api")
    assert survey.instrument_version == 3
    assert survey_spec(survey).items[0].text["en"] == "Second."


def test_stored_definition_carries_its_stored_version(session) -> None:
    # a file edited without a version bump: stored as 3, and says so
    row, _ = service.store_instrument(session, spec=edited("Second."), source="file")
    assert row.version == 3 and row.definition["version"] == 3
    shown = service.get_instrument_definition(session, instrument_id="telecom-pv")
    assert (shown["version"], shown["content_hash"]) == (3, row.content_hash)
    # the same content with another version number is the same content
    again, created = service.store_instrument(
        session, spec=edited("Second.", version=5), source="api"
    )
    assert (again.version, created) == (3, False)
    assert versions(session) == [1, 2, 3]


def test_current_instruments(session) -> None:
    service.store_instrument(session, spec=parse_instrument(example()), source="cli")
    service.store_instrument(session, spec=edited("Second."), source="api")
    current = {r.id: r.version for r in service.current_instruments(session)}
    assert current["cafe-visit"] == 1 and current["telecom-pv"] == 3
    assert list(current) == sorted(current) and "retail-pv" in current


def test_every_process_sees_an_upload(factory, settings, researcher_headers) -> None:
    """A second app on the same database (another worker) serves an instrument uploaded
    through the first, and a survey can be created on it there."""
    assert post_yaml(factory.client, example(), researcher_headers).status_code == 201
    other = create_app(settings)
    try:
        with TestClient(other) as client:
            r = client.get("/api/v1/instruments/cafe-visit", headers=researcher_headers)
            assert r.status_code == 200 and r.json()["id"] == "cafe-visit"
            r = client.post(
                "/api/v1/surveys",
                json={"slug": "cafe", "instrument": "cafe-visit"},
                headers=researcher_headers,
            )
            assert r.status_code == 201, r.text
    finally:
        other.state.engine.dispose()


def test_unknown_instrument_for_a_survey(session) -> None:
    with pytest.raises(InvalidInput) as info:
        surveys.create_survey(session, data=SurveyCreate(slug="x", instrument="nope"))
    assert info.value.errors[0]["field"] == "instrument"


def test_two_uploads_racing_for_one_version_number(backend, app, session) -> None:
    """Another process stores the next version between this upload's read and its insert: the
    insert fails on the primary key, and the retry takes the number after it."""
    if backend == "sqlite":
        pytest.skip("SQLite serialises writers up front (BEGIN IMMEDIATE): no race to lose")
    raced = []

    def other_process_first(db, *_: Any) -> None:
        if raced:
            return
        raced.append(True)
        with app.state.sessionmaker() as other:
            service.store_instrument(other, spec=edited("Other."), source="api")

    event.listen(session, "before_flush", other_process_first)
    try:
        row, created = service.store_instrument(session, spec=edited("Mine."), source="api")
    finally:
        event.remove(session, "before_flush", other_process_first)
    assert raced and created and row.version == 4
    assert versions(session) == [1, 2, 3, 4]
    shown = service.get_instrument_definition(session, instrument_id="telecom-pv", version=3)
    assert shown["items"][0]["text"]["en"] == "Other."


def test_a_file_added_after_start_is_stored_on_first_use(
    session, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "instruments"
    folder.mkdir()
    (folder / "cafe-visit.yaml").write_text(EXAMPLE.read_text(encoding="utf-8"), "utf-8")
    monkeypatch.setenv("PVM_INSTRUMENTS_DIR", str(folder))
    assert service.current_version(session, instrument_id="cafe-visit") is None
    survey = surveys.create_survey(session, data=SurveyCreate(slug="c", instrument="cafe-visit"))
    assert (survey.instrument_id, survey.instrument_version) == ("cafe-visit", 1)
    row = service.current_version(session, instrument_id="cafe-visit")
    assert row is not None and row.source == "file"


def test_archived_files_are_stored_before_the_current_one(
    session, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh database gets every bundled version: a survey can pin the archived one, and new
    surveys get the current file's version."""
    folder = tmp_path / "instruments"
    folder.mkdir()
    (folder / "cafe-visit.v1.yaml").write_text(EXAMPLE.read_text(encoding="utf-8"), "utf-8")
    revised = {**example(), "version": 2, "title": {"en": "Your visit", "fr": "Votre visite"}}
    (folder / "cafe-visit.yaml").write_text(yaml.safe_dump(revised, allow_unicode=True), "utf-8")
    monkeypatch.setenv("PVM_INSTRUMENTS_DIR", str(folder))
    new = surveys.create_survey(session, data=SurveyCreate(slug="new", instrument="cafe-visit"))
    assert new.instrument_version == 2 and new.title["en"] == "Your visit"
    old = surveys.create_survey(
        session, data=SurveyCreate(slug="old", instrument="cafe-visit", instrument_version=1)
    )
    assert old.instrument_version == 1 and old.title["en"] == "Your visit to our café"
    listed = service.list_versions(session, instrument_id="cafe-visit")
    assert [(v.row.version, v.row.source) for v in listed] == [(1, "file"), (2, "file")]
    # a restart stores nothing new and moves neither survey
    service.sync_instruments(session)
    listed = service.list_versions(session, instrument_id="cafe-visit")
    assert [(v.row.version, v.surveys) for v in listed] == [(1, 1), (2, 1)]
