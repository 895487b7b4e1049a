"""Resuming a paged questionnaire from its invitation link (issue 17 item 6), in Chromium with
JavaScript off (axe-core, which needs it, looks at the same pages in a context with it) and the
internet blocked: page 1 answered, the browser closed, the same link
opened in another browser lands on page 2 with page 1's answers kept, and the finished response
is stored once, its partial response gone. axe-core on the resumed pages; screenshots of the
resumed page at 390 px and 1366 px go to $PVM_SCREENSHOT_DIR, else var/screenshots/."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.auth.service import create_tokens
from app.surveys import partials, service
from app.surveys.models import Branch, Response
from app.surveys.schemas import SurveyCreate
from tests.browser.conftest import BROWSER_MARKS, SHOTS, assert_accessible, block_internet
from tests.conftest import DATA_DIR

pytestmark = BROWSER_MARKS
pytest.importorskip("playwright.sync_api")

REPO = Path(__file__).resolve().parents[2]
SHOT_DIR = SHOTS or REPO / "var" / "screenshots"


@pytest.fixture(scope="module")
def link(
    live_app: FastAPI, live_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The invitation link of one token of survey "visit" (the paged test instrument)."""
    folder = tmp_path_factory.mktemp("instruments")
    for path in (REPO / "instruments").glob("*.yaml"):
        shutil.copy(path, folder / path.name)
    shutil.copy(DATA_DIR / "paged_instrument.yaml", folder / "visit.yaml")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PVM_INSTRUMENTS_DIR", str(folder))
        with live_app.state.sessionmaker() as session:
            session.add(Branch(code="BR01", name="Filiale Mitte"))
            session.commit()
            survey = service.create_survey(
                session,
                data=SurveyCreate(slug="visit", instrument="visit", requires_token=True),
            )
            [token] = create_tokens(session, survey=survey, branch_code="BR01", count=1)
        yield f"{live_url}/s/visit?branch=BR01&lang=en&token={token}"


def no_js(browser: Any, width: int) -> Any:
    context = browser.new_context(
        viewport={"width": width, "height": 900}, java_script_enabled=False
    )
    assert block_internet(context) == []
    context.set_default_timeout(20_000)
    return context


def axe_check(browser: Any, url: str, width: int, where: str) -> None:
    """axe-core needs JavaScript: the same page (a GET changes nothing) in a context with it."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    block_internet(context)
    try:
        page = context.new_page()
        page.goto(url)
        assert_accessible(page, where)
    finally:
        context.close()


def choose(page: Any, answers: dict[str, str]) -> None:
    for code, value in answers.items():
        page.click(f'label:has(input[name="{code}"][value="{value}"])')


def next_page(page: Any, button: str = ".actions button.next") -> None:
    with page.expect_navigation():
        page.click(button)


def test_close_reopen_resume_finish(live_app: FastAPI, link: str, browser: Any) -> None:
    SHOT_DIR.mkdir(parents=True, exist_ok=True)
    first = no_js(browser, 390)
    page = first.new_page()
    page.goto(link)
    assert page.locator("#progress").inner_text() == "Page 1 of 3"
    assert page.input_value("#token") == link.rsplit("token=", 1)[1]  # the link's token, shown
    choose(page, {"SQ1": "4", "SQ2": "5", "SQ3": "na", "CH1": "car"})
    next_page(page)
    assert page.locator("#progress").inner_text() == "Page 2 of 3"
    first.close()  # the respondent leaves

    for width in (390, 1366):  # later, on another device: the same link
        again = no_js(browser, width)
        page = again.new_page()
        page.goto(link)
        assert page.locator("#progress").inner_text() == "Page 2 of 3"
        assert page.locator("p.error").count() == 0
        axe_check(browser, link, width, f"resumed page 2 at {width}")
        page.screenshot(path=str(SHOT_DIR / f"resume-visit-en-{width}.png"), full_page=True)
        if width == 390:
            again.close()
    # Back shows page 1 as it was answered
    next_page(page, ".actions button.back")
    assert page.locator("#progress").inner_text() == "Page 1 of 3"
    assert page.is_checked('input[name="SQ1"][value="4"]')
    assert page.is_checked('input[name="SQ3"][value="na"]')
    assert page.is_checked('input[name="CH1"][value="car"]')
    next_page(page)
    choose(page, {"VAL1": "7", "VAL2": "10", "VAL3": "1", "REC": "0"})
    next_page(page)
    assert page.locator("#progress").inner_text() == "Page 3 of 3"
    choose(page, {"region": "north"})
    next_page(page, ".actions button.submit")
    assert "/s/visit/thanks" in page.url
    again.close()

    with live_app.state.sessionmaker() as session:
        survey = service.get_survey(session, slug="visit")
        [row] = session.scalars(select(Response).where(Response.survey_id == survey.id)).all()
        assert row.answers[:4] == [4, 5, "na", 2] and row.attributes == {"region": "north"}
        assert row.duration_seconds is not None
        assert partials.partial_counts(session, survey) == {}
