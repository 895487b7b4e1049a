"""The questionnaire in a real browser: headless Debian chromium driven by Playwright against the
app served by uvicorn on a loopback port, with a temporary SQLite database.

Two surveys: "web" (telecom-pv, one page, zh and en) and "visit" (tests/data/paged_instrument.yaml:
three pages, German, English and Chinese, every item type). Screenshots at 390 px and 1366 px go
to $PVM_SCREENSHOT_DIR, else var/screenshots/ (not committed), for a person to look at."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from app.instruments.registry import get_instrument, load_instrument
from app.surveys import service
from app.surveys.models import Branch, Response
from app.surveys.schemas import SurveyCreate
from tests.browser.conftest import BROWSER_MARKS, SHOTS
from tests.conftest import DATA_DIR

SPEC = get_instrument("telecom-pv", version=1)
VISIT = load_instrument(DATA_DIR / "paged_instrument.yaml")
REPO = Path(__file__).resolve().parents[2]
SHOT_DIR = SHOTS or REPO / "var" / "screenshots"

pytestmark = BROWSER_MARKS
pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def served(
    live_app: FastAPI, live_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, FastAPI]]:
    folder = tmp_path_factory.mktemp("instruments")
    for path in (REPO / "instruments").glob("*.yaml"):
        shutil.copy(path, folder / path.name)
    shutil.copy(DATA_DIR / "paged_instrument.yaml", folder / "visit.yaml")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PVM_INSTRUMENTS_DIR", str(folder))
        with live_app.state.sessionmaker() as session:
            session.add_all(Branch(code=f"BR{i:02d}", name=f"第{i}营业厅") for i in range(1, 4))
            session.add(Branch(code="BR09", name="Filiale Mitte"))
            session.commit()
            service.create_survey(session, data=SurveyCreate(slug="web", instrument_version=1))
            service.create_survey(session, data=SurveyCreate(slug="visit", instrument="visit"))
        yield live_url, live_app


def stored(app: FastAPI, lang: str, slug: str = "web") -> list[tuple[str, Response]]:
    with app.state.sessionmaker() as session:
        survey = service.get_survey(session, slug=slug)
        rows = session.execute(
            select(Branch.code, Response)
            .join(Branch)
            .where(Response.lang == lang, Response.survey_id == survey.id)
        ).all()
        return [(code, r) for code, r in rows]


def count(app: FastAPI) -> int:
    with app.state.sessionmaker() as session:
        return int(session.scalar(select(func.count()).select_from(Response)) or 0)


def shot(page: Any, name: str, **kwargs: Any) -> None:
    SHOT_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOT_DIR / f"{name}.png"), **kwargs)


def no_overflow(page: Any) -> None:
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, window.innerWidth, document.body.scrollWidth]"
    )
    assert widths[0] <= widths[1] and widths[2] <= widths[1], widths


def unnamed(page: Any) -> list[str]:
    """Controls a screen reader could not name: inputs without a label, groups without a legend
    or label, buttons without text (the honeypot, hidden from everyone, aside)."""
    return list(
        page.evaluate(
            """() => {
            const bad = [];
            for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
              if (el.name === 'website') continue;
              if (!el.labels || el.labels.length === 0 || !el.labels[0].innerText.trim())
                bad.push(el.name + '=' + el.value);
            }
            for (const fs of document.querySelectorAll('fieldset')) {
              const id = fs.getAttribute('aria-labelledby');
              const named = id ? document.getElementById(id) : fs.querySelector('legend');
              if (!named || !named.innerText.trim()) bad.push('fieldset ' + fs.id);
            }
            for (const b of document.querySelectorAll('button'))
              if (!b.innerText.trim() && !b.getAttribute('aria-hidden')) bad.push('button');
            for (const el of document.querySelectorAll('[aria-describedby]'))
              for (const ref of el.getAttribute('aria-describedby').split(' '))
                if (!document.getElementById(ref)) bad.push('describedby ' + ref);
            return bad;
        }"""
        )
    )


def phone(browser: Any) -> Any:
    return browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )


def answer_all(page: Any) -> dict[str, int | str | None]:
    """Click a label for every item (NQ1 "not applicable"); returns what was chosen."""
    chosen: dict[str, int | str | None] = {}
    for n, item in enumerate(SPEC.items):
        if item.code == "NQ1":
            page.click('label:has(input[name="NQ1"][value="na"])')
            chosen[item.code] = "na"  # stored apart from "not answered" (null)
            continue
        value = 1 + (n % 7)
        page.click(f'label:has(input[name="{item.code}"][value="{value}"])')
        chosen[item.code] = value
    return chosen


# ---- telecom-pv: one page, zh and en ---------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "branch", "thanks"), [("zh", "BR01", "感谢您的参与"), ("en", "BR02", "Thank you")]
)
def test_fill_and_submit(
    served: tuple[str, FastAPI], browser: Any, lang: str, branch: str, thanks: str
) -> None:
    base, app = served
    page = browser.new_page()
    try:
        page.goto(f"{base}/s/web?branch={branch}&lang={lang}")
        assert page.locator("h1.title").inner_text() == SPEC.title[lang]
        # one group per question, named by its text (no construct headings: none declared)
        assert page.locator("fieldset legend").count() == len(SPEC.items) + 2
        assert page.get_by_role("radiogroup", name=SPEC.items[0].text[lang]).count() == 1
        chosen = answer_all(page)
        page.click('label:has(input[name="customer_type"][value="business"])')
        page.click('label:has(input[name="tenure"][value="long_term"])')
        submission = page.get_attribute('input[name="submission_id"]', "value")
        with page.expect_navigation():
            page.click("button.submit")
        assert page.url.endswith(f"/s/web/thanks?lang={lang}")
        assert thanks in page.locator("h1").inner_text()
        # Back after submitting: the same page, the same submission id, answers as they were;
        # submitting again shows the thanks page and stores nothing new
        page.go_back()
        assert page.get_attribute('input[name="submission_id"]', "value") == submission
        assert page.is_checked(f'input[name="TAN1"][value="{chosen["TAN1"]}"]')
        with page.expect_navigation():
            page.click("button.submit")
        assert page.url.endswith(f"/s/web/thanks?lang={lang}")
    finally:
        page.close()
    [(code, response)] = stored(app, lang)
    assert code == branch
    assert response.channel == "web"
    assert response.attributes == {"customer_type": "business", "tenure": "long_term"}
    assert dict(zip(SPEC.item_codes, response.answers, strict=True)) == chosen


def test_phone_width_has_no_horizontal_overflow(served: tuple[str, FastAPI], browser: Any) -> None:
    base, _ = served
    context = phone(browser)
    page = context.new_page()
    try:
        page.goto(f"{base}/s/web?branch=BR01")
        assert page.evaluate("() => window.innerWidth") == 390
        no_overflow(page)
        # every answer button is a comfortable touch target and inside the screen
        boxes = page.eval_on_selector_all(
            ".opt .num, .choice-opt span, button.submit",
            "els => els.map(e => { const r = e.getBoundingClientRect();"
            " return [r.left, r.right, r.width, r.height]; })",
        )
        assert len(boxes) == 7 * 37 + 4 + 7 + 1
        for left, right, width, height in boxes:
            assert left >= 0 and right <= 390
            assert width >= 40 and height >= 44
        shot(page, "form-web-zh-390", full_page=True)
        page.locator("#f-answers\\.NQ1").screenshot(path=str(SHOT_DIR / "form-web-390-na.png"))
        page.locator("section.about").screenshot(path=str(SHOT_DIR / "form-web-390-about.png"))
    finally:
        context.close()


def test_server_side_errors_show_beside_items(served: tuple[str, FastAPI], browser: Any) -> None:
    """The form asks the browser not to check (no bubble in the browser's language): the server
    explains, in the page's language, beside each item."""
    base, app = served
    context = phone(browser)
    page = context.new_page()
    try:
        page.goto(f"{base}/s/web?branch=BR03&lang=en")
        assert page.eval_on_selector("form.survey", "f => f.noValidate") is True
        page.click('label:has(input[name="TAN1"][value="6"])')
        page.click('label:has(input[name="NQ2"][value="na"])')
        response_status = []
        page.on("response", lambda r: response_status.append(r.status))
        with page.expect_navigation():
            page.click("button.submit")
        assert 422 in response_status
        assert page.locator("#error-summary").is_visible()
        errors = page.locator("p.error")
        assert errors.count() == 37 - 4 - 1  # required items left empty (TAN1 was answered)
        assert page.locator("#e-answers\\.REL3").inner_text() == "Please answer this question."
        described = page.get_attribute("#f-answers\\.REL3", "aria-describedby")
        assert described == "e-answers.REL3"
        assert page.is_checked('input[name="TAN1"][value="6"]')
        assert page.is_checked('input[name="NQ2"][value="na"]')
        assert unnamed(page) == []
        page.locator("#f-answers\\.TAN2").screenshot(path=str(SHOT_DIR / "form-web-390-error.png"))
        page.set_viewport_size({"width": 1366, "height": 900})
        shot(page, "form-web-en-1366-errors")
    finally:
        context.close()
    assert all(code != "BR03" for code, _ in stored(app, "en"))


# ---- any instrument: three pages, three languages, every item type --------------------------

TEXTS = {
    "de": ("Weiter", "Absenden", "Zurück", "Vielen Dank!", "Seite {} von 3"),
    "en": ("Next", "Submit", "Back", "Thank you for taking part!", "Page {} of 3"),
    "zh": ("下一页", "提交问卷", "上一页", "感谢您的参与！", "第 {} 页，共 3 页"),
}


def fill_page(page: Any, answers: dict[str, Any]) -> None:
    for code, value in answers.items():
        if code == "NOTE":
            page.fill("textarea[name=NOTE]", value)
            continue
        for v in value if isinstance(value, list) else [value]:
            page.click(f'label:has(input[name="{code}"][value="{v}"])')


@pytest.mark.parametrize("lang", ["de", "en", "zh"])
def test_paged_questionnaire_in_each_language(
    served: tuple[str, FastAPI], browser: Any, lang: str
) -> None:
    base, app = served
    next_, submit, back, thanks, progress = TEXTS[lang]
    context = phone(browser)
    page = context.new_page()
    try:
        page.goto(f"{base}/s/visit?branch=BR09&lang={lang}")
        assert page.get_attribute("html", "lang") == ("zh-CN" if lang == "zh" else lang)
        assert page.locator("#progress").inner_text() == progress.format(1)
        assert page.locator(".langs .lang").all_inner_texts() == ["Deutsch", "English", "中文"]
        assert unnamed(page) == []
        no_overflow(page)
        shot(page, f"form-visit-{lang}-p1-390", full_page=True)
        # Next with nothing chosen: the server's messages on this page, nothing else
        with page.expect_navigation():
            page.click(f".actions button:has-text('{next_}')")
        assert page.locator("#progress").inner_text() == progress.format(1)
        assert page.locator("p.error").count() == 3  # SQ1, SQ2, CH1 (SQ3 allows N/A)
        assert unnamed(page) == []
        fill_page(page, {"SQ1": 4, "SQ2": 5, "SQ3": "na", "CH1": "transit"})
        with page.expect_navigation():
            page.click(f".actions button:has-text('{next_}')")
        assert page.locator("#progress").inner_text() == progress.format(2)
        # 0-10 in one row at 390 px, its ends labelled
        tops = page.eval_on_selector_all(
            "#f-answers\\.REC .opt:not(.na) .num",
            "els => els.map(e => { const r = e.getBoundingClientRect();"
            " return [Math.round(r.top), r.left, r.right, r.width, r.height]; })",
        )
        assert len(tops) == 11 and len({t[0] for t in tops}) == 1, tops
        assert all(t[1] >= 0 and t[2] <= 390 and t[3] >= 24 and t[4] >= 44 for t in tops), tops
        assert page.locator("#f-answers\\.REC .ends").is_visible()
        no_overflow(page)
        shot(page, f"form-visit-{lang}-p2-390", full_page=True)
        fill_page(page, {"VAL1": 7, "VAL2": 10, "VAL3": 1, "REC": 0})
        with page.expect_navigation():
            page.click(f".actions button:has-text('{next_}')")
        assert page.locator("#progress").inner_text() == progress.format(3)
        # Back and forward again: the answers are still there
        with page.expect_navigation():
            page.click(f".actions button:has-text('{back}')")
        assert page.is_checked('input[name="REC"][value="0"]')
        with page.expect_navigation():
            page.click(f".actions button:has-text('{next_}')")
        note = "<b>Mehr</b> Parkplätze\nund Kaffee"
        fill_page(page, {"USE": ["phone", "acc"], "NOTE": note, "region": "south"})
        assert page.get_attribute("textarea[name=NOTE]", "maxlength") == "200"
        assert unnamed(page) == []
        no_overflow(page)
        shot(page, f"form-visit-{lang}-p3-390", full_page=True)
        page.set_viewport_size({"width": 1366, "height": 900})
        shot(page, f"form-visit-{lang}-p3-1366", full_page=True)
        before = count(app)
        with page.expect_navigation():
            page.click(f".actions button:has-text('{submit}')")
        assert page.url.endswith(f"/s/visit/thanks?lang={lang}"), page.locator("main").inner_text()
        assert page.locator("h1").inner_text() == thanks
        assert page.locator("#privacy").is_visible()
        assert count(app) == before + 1
        # Back after submitting, submit again: the same submission id, nothing new stored
        page.go_back()
        assert page.locator("#progress").inner_text() == progress.format(3)
        with page.expect_navigation():
            page.click(f".actions button:has-text('{submit}')")
        assert page.url.endswith(f"/s/visit/thanks?lang={lang}")
        assert count(app) == before + 1
    finally:
        context.close()
    [(code, response)] = stored(app, lang, slug="visit")
    assert code == "BR09" and response.attributes == {"region": "south"}
    assert response.texts == {"NOTE": note}  # depends on the item-type storage


def test_paged_questionnaire_wide_and_by_keyboard(
    served: tuple[str, FastAPI], browser: Any
) -> None:
    """At 1366 px each language's first two pages; by keyboard: arrows choose within a
    question, Enter goes to the next page (not to another language)."""
    base, _ = served
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    try:
        for lang in ("de", "en", "zh"):
            page.goto(f"{base}/s/visit?branch=BR09&lang={lang}")
            shot(page, f"form-visit-{lang}-p1-1366", full_page=True)
        page.goto(f"{base}/s/visit?branch=BR09&lang=en")
        page.focus('input[name="SQ1"][value="1"]')
        page.keyboard.press("ArrowRight")
        assert page.is_checked('input[name="SQ1"][value="2"]')
        page.keyboard.press("Tab")
        page.keyboard.press("ArrowRight")  # the second question's group
        assert page.is_checked('input[name="SQ2"][value="2"]')
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert page.get_attribute("html", "lang") == "en"
        assert page.locator("#progress").inner_text() == "Page 1 of 3"  # errors shown, same page
        assert page.locator("#e-answers\\.CH1").inner_text() == "Please answer this question."
        assert page.is_checked('input[name="SQ2"][value="2"]')
        shot(page, "form-visit-en-p1-1366-errors", full_page=True)
        # the language switch keeps what was chosen
        with page.expect_navigation():
            page.click(".langs button:has-text('中文')")
        assert page.get_attribute("html", "lang") == "zh-CN"
        assert page.is_checked('input[name="SQ1"][value="2"]')
        for lang in ("de", "en", "zh"):
            page.goto(f"{base}/s/visit?branch=BR09&lang={lang}")
            fill_page(page, {"SQ1": 3, "SQ2": 3, "SQ3": 2, "CH1": "walk"})
            with page.expect_navigation():
                page.click("button.next")
            shot(page, f"form-visit-{lang}-p2-1366", full_page=True)
    finally:
        context.close()
