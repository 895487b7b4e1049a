"""The dashboard's PLS view in headless Debian chromium (Playwright) against uvicorn on a loopback
port, in zh and en at 390 px (a phone) and 1366 px: the switch between the equal-weight and the
PLS-weighted index (plain links; the filter form keeps the choice; works without JavaScript),
the PLS-weighted score table and the IPMA chart (inline SVG, construct names in the reader's
language, text of 11 CSS px or more), nothing wider than the screen, and axe-core
(`assert_accessible`) finding no serious or critical violation. Screenshots go to
var/screenshots/ (or $PVM_SCREENSHOT_DIR). The background invariance check is not what this
module is about (tests/browser/test_dashboard_browser.py waits for it): no job is run, and the
self-reload that the page carries while a check runs is taken out of the HTML on its way to the
browser (a Playwright route), so pages stay put under the test."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from app.auth.service import create_api_key
from app.reporting import views
from app.surveys import csvio
from app.surveys import service as surveys
from app.surveys.models import Branch
from app.surveys.schemas import SurveyCreate
from tests.browser.conftest import BROWSER_MARKS, SHOTS, assert_accessible
from tests.conftest import TELECOM_CSV

pytestmark = BROWSER_MARKS
pytest.importorskip("playwright.sync_api")

ROOT = Path(__file__).resolve().parents[2]
SHOT_DIR = SHOTS if SHOTS is not None else ROOT / "var" / "screenshots"
NAMES = {
    "zh": ["北京朝阳", "北京海淀", "天津和平", "上海浦东"],
    "en": ["Beijing Chaoyang", "Beijing Haidian", "Tianjin Heping", "Shanghai Pudong"],
}


@pytest.fixture(scope="module")
def served(live_app: FastAPI, live_url: str) -> Any:
    def no_check(request: Any) -> Any:
        return lambda fit_id: None

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(views, "_submitter", no_check)
        with live_app.state.sessionmaker() as session:
            session.add_all(
                Branch(
                    code=f"BR{i:02d}",
                    name=NAMES["en"][(i - 1) % 4] + ("" if i <= 4 else f" {i}"),
                    names={
                        "zh": NAMES["zh"][(i - 1) % 4] + ("" if i <= 4 else f"{i}"),
                        "en": NAMES["en"][(i - 1) % 4] + ("" if i <= 4 else f" {i}"),
                    },
                )
                for i in range(1, 9)
            )
            session.commit()
            survey = SurveyCreate(slug="telecom", instrument_version=1, min_group_size=170)
            made = surveys.create_survey(session, data=survey)
            csvio.import_csv(session, survey=made, data=TELECOM_CSV.read_bytes())
            _, key = create_api_key(session, role="operator")
        yield live_url, key


REFRESH = re.compile(r'<meta http-equiv="refresh"[^>]*>')


def without_reload(context: Any, base: str) -> None:
    """Serve the dashboard's pages without the invariance check's self-reload."""

    def route(r: Any) -> None:
        response = r.fetch()
        kind = response.headers.get("content-type", "")
        if "text/html" not in kind:
            r.fulfill(response=response)
            return
        r.fulfill(response=response, body=REFRESH.sub("", response.text()))

    context.route(f"{base}/dashboard/**", route)


def shot(page: Any, name: str) -> None:
    SHOT_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOT_DIR / name), full_page=True)


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("width", [390, 1366])
def test_pls_view_in_each_language_and_width(served, browser, lang, width):
    base, key = served
    context = browser.new_context(
        viewport={"width": width, "height": 900},
        extra_http_headers={"Authorization": f"Bearer {key}"},
    )
    without_reload(context, base)
    page = context.new_page()
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(base) else outside.append(r.url))
    page.goto(f"{base}/dashboard/telecom?lang={lang}")
    page.wait_for_selector("#score-table", timeout=120_000)
    switch = page.locator("#index-switch a")
    assert switch.count() == 2
    assert switch.nth(0).get_attribute("aria-current") == "page"
    switch.nth(1).click()  # to the PLS-weighted index
    page.wait_for_selector("#ipma-chart svg", timeout=120_000)
    assert "index=pls" in page.url
    assert page.locator("#index-switch a[aria-current=page]").get_attribute("data-index") == "pls"
    labels = page.locator("#index-switch a").all_inner_texts()
    assert labels == (
        ["等权指数（题项平均）", "PLS 加权指数（ACSI 式）"]
        if lang == "zh"
        else ["Equal-weight index (item mean)", "PLS-weighted index (ACSI-style)"]
    )
    joined = page.evaluate(
        "() => [...document.querySelectorAll('#ipma-chart svg text')]"
        ".map(t => t.textContent).join(' ')"
    )
    assert ("可靠性" in joined) if lang == "zh" else ("Reliability" in joined)
    assert "…" not in joined  # nothing cut short
    assert not any(w in ("REL", "TAN", "EMP", "PV") for w in joined.split())
    # the form keeps the PLS view when another filter is applied
    page.select_option("select[name=by]", "customer_type")
    page.click("#filters button[type=submit]")
    page.wait_for_selector("#ipma-chart svg", timeout=120_000)
    assert "index=pls" in page.url and "by=customer_type" in page.url
    page.select_option("select[name=by]", "branch")
    page.click("#filters button[type=submit]")
    page.wait_for_selector("#ipma-chart svg", timeout=120_000)
    rows = page.locator("#score-table tbody th[scope=row]").all_inner_texts()
    assert NAMES[lang][0] in rows
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    wide = page.evaluate(
        """w => [...document.querySelectorAll('body *')].filter(
             e => e.getBoundingClientRect().right > w + 1 && !e.parentElement.closest('.scroll')
           ).slice(0, 8).map(e => e.tagName + '.' + e.className + '#' + e.id)""",
        width,
    )
    assert wide == []
    smallest = page.evaluate(
        """() => Math.min(...[...document.querySelectorAll('#ipma-chart svg')].flatMap(svg => {
             const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
             return [...svg.querySelectorAll('text')].map(
               t => parseFloat(t.getAttribute('font-size')) * scale);
           }))"""
    )
    assert smallest >= 11, smallest
    page.click("#ipma-table summary")
    assert page.locator("#ipma-table tbody tr").count() >= 6
    assert_accessible(page, f"PLS view {lang} {width}")
    shot(page, f"dashboard-pls-{lang}-{width}.png")
    assert outside == []
    context.close()


def test_pls_switch_without_javascript(served, browser):
    base, key = served
    context = browser.new_context(
        java_script_enabled=False,
        viewport={"width": 1366, "height": 900},
        extra_http_headers={"Authorization": f"Bearer {key}"},
    )
    without_reload(context, base)
    page = context.new_page()
    page.goto(f"{base}/dashboard/telecom?lang=en")
    page.locator("#index-switch a[data-index=pls]").click()
    page.wait_for_selector("#ipma-chart svg", timeout=120_000)
    assert page.locator("#index-switch a[aria-current=page]").get_attribute("data-index") == "pls"
    page.locator("#index-switch a[data-index=equal]").click()
    page.wait_for_selector("#ipa-chart svg, #drivers .hidden-note", timeout=120_000)
    assert page.locator("#ipma-chart").count() == 0
    context.close()
