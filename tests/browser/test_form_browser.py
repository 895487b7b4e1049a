"""The questionnaire in a real browser: headless Debian chromium driven by Playwright against the
app served by uvicorn on a loopback port, with a temporary SQLite database."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.instruments.registry import get_instrument
from app.surveys import service
from app.surveys.models import Branch, Response
from app.surveys.schemas import SurveyCreate
from tests.browser.conftest import BROWSER_MARKS, SHOTS

SPEC = get_instrument("telecom-pv")

pytestmark = BROWSER_MARKS
pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def served(live_app: FastAPI, live_url: str) -> tuple[str, FastAPI]:
    with live_app.state.sessionmaker() as session:
        session.add_all(Branch(code=f"BR{i:02d}", name=f"第{i}营业厅") for i in range(1, 4))
        session.commit()
        service.create_survey(session, data=SurveyCreate(slug="web"))
    return live_url, live_app


def stored(app: FastAPI, lang: str) -> list[tuple[str, Response]]:
    with app.state.sessionmaker() as session:
        rows = session.execute(
            select(Branch.code, Response).join(Branch).where(Response.lang == lang)
        ).all()
        return [(code, r) for code, r in rows]


def answer_all(page: Any) -> dict[str, int | None]:
    """Click a label for every item (NQ1 "not applicable"); returns what was chosen."""
    chosen: dict[str, int | None] = {}
    for n, item in enumerate(SPEC.items):
        if item.code == "NQ1":
            page.click('label:has(input[name="NQ1"][value="na"])')
            chosen[item.code] = None
            continue
        value = 1 + (n % 7)
        page.click(f'label:has(input[name="{item.code}"][value="{value}"])')
        chosen[item.code] = value
    return chosen


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
        assert page.locator("fieldset legend").count() == len(SPEC.constructs) + 1
        chosen = answer_all(page)
        page.click('label:has(input[name="customer_type"][value="business"])')
        page.click('label:has(input[name="tenure"][value="long_term"])')
        with page.expect_navigation():
            page.click("button.submit")
        assert page.url.endswith(f"/s/web/thanks?lang={lang}")
        assert thanks in page.locator("h1").inner_text()
    finally:
        page.close()
    [(code, response)] = stored(app, lang)
    assert code == branch
    assert response.channel == "web"
    assert response.attributes == {"customer_type": "business", "tenure": "long_term"}
    assert dict(zip(SPEC.item_codes, response.answers, strict=True)) == chosen


def test_phone_width_has_no_horizontal_overflow(served: tuple[str, FastAPI], browser: Any) -> None:
    base, _ = served
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    page = context.new_page()
    try:
        page.goto(f"{base}/s/web?branch=BR01")
        widths = page.evaluate(
            "() => [document.documentElement.scrollWidth, window.innerWidth,"
            " document.body.scrollWidth]"
        )
        assert widths[1] == 390
        assert widths[0] <= widths[1] and widths[2] <= widths[1], widths
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
        if SHOTS is not None:
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / "form-390.png"))
            page.locator("#c-NQ").screenshot(path=str(SHOTS / "form-390-nq.png"))
            page.locator("fieldset.about").screenshot(path=str(SHOTS / "form-390-about.png"))
    finally:
        context.close()


def test_server_side_errors_show_beside_items(served: tuple[str, FastAPI], browser: Any) -> None:
    """With the browser's own checks off (as in old browsers), the server's errors are shown."""
    base, app = served
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    try:
        page.goto(f"{base}/s/web?branch=BR03&lang=en")
        page.eval_on_selector("form.survey", "f => { f.noValidate = true; }")
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
        assert page.locator("#e-answers\\.REL3").inner_text() == "Please choose an answer."
        assert page.is_checked('input[name="TAN1"][value="6"]')
        assert page.is_checked('input[name="NQ2"][value="na"]')
        if SHOTS is not None:
            page.locator("#c-TAN").screenshot(path=str(SHOTS / "form-390-errors.png"))
            page.set_viewport_size({"width": 1280, "height": 900})
            page.screenshot(path=str(SHOTS / "form-1280.png"))
    finally:
        context.close()
    assert all(code != "BR03" for code, _ in stored(app, "en"))
