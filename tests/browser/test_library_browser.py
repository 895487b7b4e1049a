"""Every bundled instrument (instruments/*.yaml) fielded in Chromium in each of its languages:
a survey on it, the questionnaire filled in page by page as a respondent does (every item type
the instrument has, its attributes), submitted, the stored row equal to what was chosen; then
Back after submitting and Submit again store nothing new. The API side of the same instruments
(import, export, fits) is tests/instruments/test_library.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.instruments.registry import load_instrument
from app.surveys import service
from app.surveys.models import Branch, Response
from app.surveys.schemas import SurveyCreate
from tests.browser.conftest import BROWSER_MARKS, assert_accessible
from tests.browser.fielding import check_stored, field_all_pages

pytestmark = BROWSER_MARKS
pytest.importorskip("playwright.sync_api")

LIBRARY = sorted((Path(__file__).resolve().parents[2] / "instruments").glob("*.yaml"))
SPECS = {spec.id: spec for spec in map(load_instrument, LIBRARY)}
CASES = [(i, lang) for i, spec in SPECS.items() for lang in spec.languages]


@pytest.fixture(scope="module")
def library(live_app: FastAPI, live_url: str) -> Iterator[tuple[str, FastAPI]]:
    with live_app.state.sessionmaker() as session:
        session.add(Branch(code="BR01", name="Branch one"))
        session.commit()
        for instrument_id in SPECS:
            service.create_survey(
                session, data=SurveyCreate(slug=instrument_id, instrument=instrument_id)
            )
    yield live_url, live_app


def rows(app: FastAPI, slug: str) -> list[Response]:
    with app.state.sessionmaker() as session:
        survey = service.get_survey(session, slug=slug)
        return list(session.scalars(select(Response).where(Response.survey_id == survey.id)))


def test_every_bundled_instrument_is_here() -> None:
    assert set(SPECS) >= {
        "telecom-pv", "retail-pv", "benefit-sacrifice", "servqual-gap", "csi"
    }  # fmt: skip


@pytest.mark.parametrize(("instrument_id", "lang"), CASES, ids=[f"{i}-{lg}" for i, lg in CASES])
def test_fielded_in_chromium(
    library: tuple[str, FastAPI], browser: Any, instrument_id: str, lang: str
) -> None:
    base, app = library
    spec = SPECS[instrument_id]
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    before = len(rows(app, instrument_id))
    try:
        page.goto(f"{base}/s/{instrument_id}?branch=BR01&lang={lang}")
        assert page.locator("h1.title").inner_text() == spec.title[lang]
        chosen = field_all_pages(page, spec, k=len(lang))
        assert page.url.endswith(f"/s/{instrument_id}/thanks?lang={lang}"), page.url
        assert_accessible(page, f"{instrument_id} {lang} thanks")
        assert len(rows(app, instrument_id)) == before + 1
        page.go_back()
        with page.expect_navigation():
            page.click(".actions button.submit")
        assert page.url.endswith(f"/s/{instrument_id}/thanks?lang={lang}")
        assert len(rows(app, instrument_id)) == before + 1
    finally:
        context.close()
    [response] = [r for r in rows(app, instrument_id) if r.lang == lang]
    check_stored(spec, response, chosen)
