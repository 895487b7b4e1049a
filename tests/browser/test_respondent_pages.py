"""Every page a respondent can see, in Chromium with the internet blocked (issue 13 items 8-10):
the questionnaire in each language (blank, with the server's errors, page 2 of a paged one),
the thank-you page and the message pages (survey not found, branch not found, survey closed).

On each: axe-core finds no serious or critical violation (WCAG 2.x A/AA, contrast included),
nothing was fetched from outside the machine, the favicon and the privacy notice are there (the
notice linked from the header and saying what this survey stores: less for an anonymous one),
and no native validation bubble can appear (the form has `novalidate`; no `required`, `min`,
`max` or `pattern` attribute). Screenshots of the questionnaire in zh, en and de at 390 px and
1366 px go to $PVM_SCREENSHOT_DIR, else var/screenshots/ (not committed)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from app.surveys import service
from app.surveys.models import Branch
from app.surveys.schemas import SurveyCreate, SurveyUpdate
from tests.browser.conftest import BROWSER_MARKS, SHOTS, assert_accessible, block_internet
from tests.conftest import DATA_DIR

pytestmark = BROWSER_MARKS
pytest.importorskip("playwright.sync_api")

REPO = Path(__file__).resolve().parents[2]
SHOT_DIR = SHOTS or REPO / "var" / "screenshots"
PRIVACY = {  # (heading, a phrase of the notice of a survey that stores the client's IP)
    "zh": ("隐私说明", "以及您的 IP 地址"),
    "en": ("Privacy", "and your IP address"),
    "de": ("Datenschutz", "Ihre IP-Adresse"),
}
ANONYMOUS = {"zh": "匿名", "en": "anonymous", "de": "anonym"}


@pytest.fixture(scope="module")
def site(
    live_app: FastAPI, live_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("instruments")
    for path in (REPO / "instruments").glob("*.yaml"):
        shutil.copy(path, folder / path.name)
    shutil.copy(DATA_DIR / "paged_instrument.yaml", folder / "visit.yaml")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PVM_INSTRUMENTS_DIR", str(folder))
        with live_app.state.sessionmaker() as session:
            session.add(Branch(code="BR01", name="北京朝阳营业厅"))
            session.commit()
            # telecom-pv version 1: the one-page questionnaire (version 2 is paged)
            service.create_survey(session, data=SurveyCreate(slug="web", instrument_version=1))
            service.create_survey(session, data=SurveyCreate(slug="visit", instrument="visit"))
            service.create_survey(
                session, data=SurveyCreate(slug="anon", anonymous=True, instrument_version=1)
            )
            shut = service.create_survey(
                session, data=SurveyCreate(slug="shut", instrument_version=1)
            )
            service.update_survey(session, survey=shut, data=SurveyUpdate(status="closed"))
        yield live_url


@pytest.fixture
def offline(browser: Any) -> Iterator[tuple[Any, list[str]]]:
    """A phone-sized page whose requests to anywhere but this machine are refused."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    refused = block_internet(context)
    try:
        yield context.new_page(), refused
    finally:
        context.close()
    assert refused == []


def shot(page: Any, name: str) -> None:
    """The whole page, and the first screen of it (what a respondent sees first)."""
    SHOT_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOT_DIR / f"{name}.png"), full_page=True)
    page.screenshot(path=str(SHOT_DIR / f"{name}-screen.png"))


def respondent_page_ok(page: Any, lang: str, where: str, *, stores_ip: bool = True) -> None:
    """What every respondent page has, then axe-core."""
    assert page.get_attribute("html", "lang") == ("zh-CN" if lang == "zh" else lang)
    icon = page.get_attribute('link[rel="icon"]', "href")
    assert icon and page.request.get(page.url.split("/s/")[0] + icon).ok
    heading, phrase = PRIVACY[lang]
    assert page.locator("a.privacy-link").inner_text() == heading
    assert page.get_attribute("a.privacy-link", "href") == "#privacy"
    notice = page.locator("#privacy").inner_text()
    assert (phrase in notice) is stores_ip, notice
    controls = ":is(input, select, textarea)"
    assert page.locator(f"{controls}:is([required], [min], [max], [pattern])").count() == 0
    if page.locator("form").count():
        assert page.eval_on_selector("form.survey", "f => f.noValidate") is True
    assert_accessible(page, where)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_one_page_questionnaire(site: str, offline: tuple[Any, list[str]], lang: str) -> None:
    page, _ = offline
    page.goto(f"{site}/s/web?branch=BR01&lang={lang}")
    respondent_page_ok(page, lang, f"web {lang} blank")
    with page.expect_navigation():
        page.click("button.submit")
    assert page.locator("#error-summary").is_visible()
    errors = page.locator("p.error")
    assert errors.count() > 30
    first = errors.first.inner_text()
    assert first == ("请回答此题。" if lang == "zh" else "Please answer this question.")
    # each message is tied to its question and linked from the summary
    fieldset = page.locator("fieldset[aria-invalid=true]").first
    assert fieldset.get_attribute("aria-describedby") == errors.first.get_attribute("id")
    target = page.locator("#error-summary a").first.get_attribute("href")
    assert target == "#" + fieldset.get_attribute("id")
    respondent_page_ok(page, lang, f"web {lang} with errors")


@pytest.mark.parametrize("lang", ["de", "en", "zh"])
def test_paged_questionnaire_page_two(site: str, offline: tuple[Any, list[str]], lang: str) -> None:
    page, _ = offline
    page.goto(f"{site}/s/visit?branch=BR01&lang={lang}")
    respondent_page_ok(page, lang, f"visit {lang} page 1")
    with page.expect_navigation():
        page.click(".actions button.next")
    respondent_page_ok(page, lang, f"visit {lang} page 1 with errors")
    for code, value in {"SQ1": 4, "SQ2": 5, "SQ3": "na", "CH1": "car"}.items():
        page.click(f'label:has(input[name="{code}"][value="{value}"])')
    with page.expect_navigation():
        page.click(".actions button.next")
    assert page.locator("#progress").count() == 1 and page.locator("p.error").count() == 0
    respondent_page_ok(page, lang, f"visit {lang} page 2")
    with page.expect_navigation():
        page.click(".actions button.next")
    respondent_page_ok(page, lang, f"visit {lang} page 2 with errors")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_thanks_and_message_pages(site: str, offline: tuple[Any, list[str]], lang: str) -> None:
    page, _ = offline
    page.goto(f"{site}/s/web/thanks?lang={lang}")
    respondent_page_ok(page, lang, f"thanks {lang}")
    page.screenshot(path=str(SHOT_DIR / f"thanks-web-{lang}-390.png"))
    response = page.goto(f"{site}/s/shut?branch=BR01&lang={lang}")
    assert response is not None and response.status == 410
    respondent_page_ok(page, lang, f"closed {lang}")
    response = page.goto(f"{site}/s/web?branch=NOPE&lang={lang}")
    assert response is not None and response.status == 404
    respondent_page_ok(page, lang, f"branch not found {lang}")
    response = page.goto(f"{site}/s/no-such-survey?lang={lang}")
    assert response is not None and response.status == 404
    respondent_page_ok(page, lang, f"survey not found {lang}", stores_ip=False)
    page.screenshot(path=str(SHOT_DIR / f"notfound-{lang}-390.png"))
    assert page.locator("#privacy p").inner_text() in (
        "本页面不收集任何回答。",
        "No answers are collected on this page.",
    )


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_anonymous_survey_says_less_is_stored(
    site: str, offline: tuple[Any, list[str]], lang: str
) -> None:
    page, _ = offline
    page.goto(f"{site}/s/anon?branch=BR01&lang={lang}")
    respondent_page_ok(page, lang, f"anonymous {lang}", stores_ip=False)
    assert ANONYMOUS[lang] in page.locator("#privacy").inner_text()
    page.goto(f"{site}/s/anon/thanks?lang={lang}")
    assert ANONYMOUS[lang] in page.locator("#privacy").inner_text()


@pytest.mark.parametrize(("slug", "lang"), [("web", "zh"), ("web", "en"), ("visit", "de")])
@pytest.mark.parametrize("width", [390, 1366])
def test_screenshots(site: str, browser: Any, slug: str, lang: str, width: int) -> None:
    """For a person to look at: the questionnaire blank and with errors at both widths."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    block_internet(context)
    page = context.new_page()
    try:
        page.goto(f"{site}/s/{slug}?branch=BR01&lang={lang}")
        shot(page, f"questionnaire-{slug}-{lang}-{width}")
        with page.expect_navigation():
            page.click(".actions button.primary")
        shot(page, f"questionnaire-{slug}-{lang}-{width}-errors")
        page.locator(".actions").scroll_into_view_if_needed()  # the end: attributes, submit
        page.screenshot(path=str(SHOT_DIR / f"questionnaire-{slug}-{lang}-{width}-end.png"))
        widths = page.evaluate("() => [document.documentElement.scrollWidth, innerWidth]")
        assert widths[0] <= widths[1], widths  # nothing overflows sideways
    finally:
        context.close()
