"""The operators' dashboard in headless Debian chromium (Playwright) against uvicorn on a loopback
port. In zh and en at 390 px (a phone) and 1366 px: the login page and the dashboard in the chosen
language, nothing wider than the screen, the score table scrolling sideways in its box with its
first column kept in view and a visible hint, chart text of 11 CSS px or more, the 95% intervals
opened from the keyboard, and axe-core (axe-playwright-python) finding no serious or critical
violation; screenshots of each go to var/screenshots/ (or $PVM_SCREENSHOT_DIR), which git ignores.
Then: log in with a branch-scoped operator key through the form, and check the score table
(only the key's branch plus the benchmark, coloured cells; for another key the suppressed rows of
a small branch and of the branch protecting it), the IPA and trend charts (inline SVG with
points/lines), the downloads, and that no request leaves the loopback host. The PNG buttons that
app/static/reporting/dashboard.js adds beside each SVG link: each click saves a PNG whose IHDR size
is the chart's SVG viewBox x 2, under a strict Content-Security-Policy; without JavaScript the page
keeps its CSV/SVG links and shows no PNG button. Structural checks; no numeric tolerance involved."""

from __future__ import annotations

import re
import struct
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.auth.service import create_api_key
from app.fits.models import FitJob
from app.surveys import csvio
from app.surveys import service as surveys
from app.surveys.models import Branch
from app.surveys.schemas import SurveyCreate
from tests.browser.conftest import BROWSER_MARKS, SHOTS
from tests.conftest import TELECOM_CSV

pytestmark = BROWSER_MARKS
pytest.importorskip("playwright.sync_api")

ROOT = Path(__file__).resolve().parents[2]
SHOT_DIR = SHOTS if SHOTS is not None else ROOT / "var" / "screenshots"
ZH_NAMES = [
    "北京朝阳",
    "北京海淀",
    "天津和平",
    "上海浦东",
    "杭州西湖",
    "南京鼓楼",
    "广州天河",
    "深圳福田",
]
EN_NAMES = ["Beijing Chaoyang", "Beijing Haidian", "Tianjin Heping", "Shanghai Pudong",
            "Hangzhou Xihu", "Nanjing Gulou", "Guangzhou Tianhe", "Shenzhen Futian"]  # fmt: skip
SERIOUS = ("serious", "critical")
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]


def shot(page: Any, name: str) -> None:
    SHOT_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOT_DIR / name), full_page=True)


def axe_serious(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now."""
    axe = pytest.importorskip("axe_playwright_python.sync_playwright")
    results = axe.Axe().run(
        page,
        options={"runOnly": {"type": "tag", "values": AXE_TAGS}, "resultTypes": ["violations"]},
    )
    return [
        {"rule": v["id"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in results.response["violations"]
        if v.get("impact") in SERIOUS
    ]


@pytest.fixture(scope="module")
def served(live_app: FastAPI, live_url: str) -> tuple[str, dict[str, str]]:
    with live_app.state.sessionmaker() as session:
        session.add_all(
            Branch(code=f"BR{i:02d}", name=EN_NAMES[i - 1],
                   names={"zh": ZH_NAMES[i - 1], "en": EN_NAMES[i - 1]})
            for i in range(1, 9)
        )  # fmt: skip
        session.commit()
        survey = surveys.create_survey(
            session, data=SurveyCreate(slug="telecom", instrument_version=1, min_group_size=170)
        )
        csvio.import_csv(session, survey=survey, data=TELECOM_CSV.read_bytes())
        _, br01 = create_api_key(session, role="operator", branches=["BR01"])
        _, everyone = create_api_key(session, role="operator")
    keys = {"br01": br01, "all": everyone}
    _wait_for_the_invariance_check(live_app, live_url, keys["all"])
    return live_url, keys


def _wait_for_the_invariance_check(app: FastAPI, base: str, key: str) -> None:
    """The first dashboard view queues the check; while it runs the page reloads itself every
    few seconds, which would pull the page away under the tests: they start once it is done."""
    import httpx

    r = httpx.get(f"{base}/dashboard/telecom", headers={"Authorization": f"Bearer {key}"},
                  timeout=120)  # fmt: skip
    assert r.status_code == 200
    if 'id="invariance-running"' in r.text:
        assert '<meta http-equiv="refresh"' in r.text
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        with app.state.sessionmaker() as session:
            jobs = list(session.scalars(select(FitJob)))
            if jobs and all(j.status in ("done", "failed") for j in jobs):
                return
        time.sleep(2)
    raise AssertionError("the invariance check did not finish in 15 minutes")


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("width", [390, 1366])
def test_login_and_dashboard_in_each_language_and_width(served, browser, lang, width):
    base, keys = served
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(base) else outside.append(r.url))
    page.goto(f"{base}/dashboard/telecom?lang={lang}")
    assert page.evaluate("document.documentElement.lang") == ("zh-CN" if lang == "zh" else "en")
    assert page.locator("h1").inner_text() == (
        "运营看板" if lang == "zh" else "Operators' dashboard"
    )
    assert axe_serious(page) == [], "login page"
    shot(page, f"login-{lang}-{width}.png")
    page.fill("#key", keys["all"])
    page.click("button[type=submit]")
    page.wait_for_selector("#score-table", timeout=60_000)
    assert page.evaluate("document.documentElement.lang") == ("zh-CN" if lang == "zh" else "en")
    verdict = page.locator(".verdict .headline").inner_text()
    assert (
        verdict.startswith(("各网点", "比较时请谨慎"))
        if lang == "zh"
        else verdict.startswith(("Scores can be compared", "Compare with care"))
    )
    names = ZH_NAMES if lang == "zh" else EN_NAMES
    rows = page.locator("#score-table tbody th[scope=row]").all_inner_texts()
    assert rows[1:] == names  # branch names in the language, in code order
    wide = page.evaluate(
        """w => [...document.querySelectorAll('body *')].filter(
             e => e.getBoundingClientRect().right > w + 1 && !e.parentElement.closest('.scroll')
           ).slice(0, 8).map(e => e.tagName + '.' + e.className + '#' + e.id + ' ' +
             Math.round(e.getBoundingClientRect().right))""",
        width,
    )
    assert wide == []  # nothing overflows the screen
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    # chart text: at least 11 CSS px as shown
    smallest = page.evaluate(
        """() => Math.min(...[...document.querySelectorAll('.chart svg')].flatMap(svg => {
             const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
             return [...svg.querySelectorAll('text')].map(
               t => parseFloat(t.getAttribute('font-size')) * scale);
           }))"""
    )
    assert smallest >= 11, smallest
    box = page.locator("#scores .scroll").first
    scrolls = box.evaluate("e => e.scrollWidth > e.clientWidth")
    hint = page.locator("#scroll-hint")
    if width == 390:
        assert scrolls and hint.is_visible()
        first = page.locator("#score-table tbody tr[data-group=BR01] th")
        left = first.bounding_box()["x"]
        box.evaluate("e => { e.scrollLeft = e.scrollWidth; }")
        page.wait_for_timeout(100)
        assert abs(first.bounding_box()["x"] - left) <= 3  # the first column stays in view
        assert first.is_visible()
        box.evaluate("e => { e.scrollLeft = 0; }")
    else:
        assert not hint.is_visible()
    # the intervals open from the keyboard: focus the disclosure, press Enter
    page.focus("#ci summary")
    page.keyboard.press("Enter")
    assert page.locator("#ci").get_attribute("open") is not None
    assert page.locator("#ci-table .range").first.is_visible()
    assert axe_serious(page) == [], "dashboard"
    shot(page, f"dashboard-{lang}-{width}.png")
    assert outside == []
    context.close()


def test_branch_operator_logs_in_and_reads_the_dashboard(served, browser):
    base, keys = served
    page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(base) else outside.append(r.url))
    page.goto(f"{base}/dashboard/telecom?lang=en")
    page.fill("#key", keys["br01"])
    page.click("button[type=submit]")
    page.wait_for_selector("#score-table", timeout=60_000)
    rows = page.locator("#score-table tbody tr")
    assert rows.count() == 2
    assert rows.nth(0).get_attribute("data-group") == "overall"
    assert rows.nth(1).get_attribute("data-group") == "BR01"
    cells = page.locator("#score-table tbody tr[data-group=BR01] td[data-construct]")
    assert cells.count() == 10
    assert "rgb(" in cells.first.evaluate("e => getComputedStyle(e).backgroundColor")
    assert page.locator("#ipa-chart svg circle[data-construct]").count() == 6
    assert page.locator("#trend-chart svg circle[data-period]").count() >= 10
    assert page.locator("#trend-chart figure").count() == 10  # one panel per construct
    assert page.locator(".focus").count() == 1
    body_width = page.evaluate("document.body.scrollWidth")
    assert body_width <= 390 + 1  # the wide table scrolls inside its box, not the page
    with page.expect_download() as dl:
        page.click("#scores .downloads a:text('CSV')")
    assert dl.value.suggested_filename.endswith(".csv")
    assert outside == []
    page.close()


def test_suppressed_rows_show_count_only(served, browser):
    base, keys = served
    context = browser.new_context(extra_http_headers={"Authorization": f"Bearer {keys['all']}"})
    page = context.new_page()
    page.goto(f"{base}/dashboard/telecom?lang=en")
    page.wait_for_selector("#score-table", timeout=60_000)
    hidden = page.locator("#score-table tr.suppressed")
    # BR07: 163 responses < 170. Protected cells need no complementary suppression: the next
    # smallest branch (BR05, 174) is shown.
    assert hidden.count() == 1
    small = page.locator("#score-table tr.suppressed[data-group='BR07']")
    assert small.locator("td[data-construct]").count() == 0
    assert "163" in small.inner_text() and "fewer than 170" in small.inner_text()
    shown = page.locator("#score-table tr[data-group='BR05']:not(.suppressed)")
    assert shown.locator("td[data-construct]").count() > 0
    assert page.locator("#score-table tbody tr").count() == 9
    context.close()


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHARTS = {
    "scores": "telecom-scores.png",
    "drivers": "telecom-ipa-PV.png",
    "trends": "telecom-trends.png",
}


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which must come first after the signature."""
    assert data[:8] == PNG_SIGNATURE
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def svg_size(svg: str) -> tuple[float, float]:
    match = re.search(r"viewBox=['\"]0 0 ([\d.]+) ([\d.]+)['\"]", svg)
    assert match, svg[:200]
    return float(match.group(1)), float(match.group(2))


def test_png_downloads_of_each_chart(served, browser, tmp_path: Path):
    base, keys = served
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    outside: list[str] = []
    errors: list[str] = []
    page.on(
        "request",
        lambda r: None if r.url.startswith((base, "data:", "blob:")) else outside.append(r.url),
    )
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    page.goto(f"{base}/dashboard/telecom")
    page.fill("#key", keys["all"])  # through the form: the script's fetch relies on the cookie
    page.click("button[type=submit]")
    page.wait_for_selector("#score-table", timeout=60_000)
    errors.clear()  # the login page itself answers 401, which chromium logs as an error
    assert page.locator(".downloads button.png").count() == len(CHARTS)
    for section, name in CHARTS.items():
        svg_link = page.locator(f"#{section} .downloads a[data-png]")
        assert svg_link.inner_text() == "SVG"
        svg = page.request.get(base + svg_link.get_attribute("href"))
        assert svg.ok
        width, height = svg_size(svg.text())
        button = page.locator(f"#{section} .downloads button.png")
        assert button.inner_text() == "PNG"
        with page.expect_download() as dl:
            button.click()
        assert dl.value.suggested_filename == name
        target = tmp_path / name
        dl.value.save_as(target)
        data = target.read_bytes()
        assert png_size(data) == (round(width * 2), round(height * 2)), section
        assert len(data) > 5_000, section  # a drawn chart, not a blank canvas
        assert button.get_attribute("data-error") is None
        SHOT_DIR.mkdir(parents=True, exist_ok=True)
        (SHOT_DIR / f"dashboard-{name}").write_bytes(data)
    assert errors == []
    assert outside == []
    page.close()


def test_without_javascript_the_links_remain(served, browser):
    base, keys = served
    context = browser.new_context(
        java_script_enabled=False,
        extra_http_headers={"Authorization": f"Bearer {keys['all']}"},
    )
    page = context.new_page()
    page.goto(f"{base}/dashboard/telecom")
    page.wait_for_selector("#score-table", timeout=60_000)
    assert page.locator("#score-table tbody tr").count() == 9
    assert page.locator(".downloads a[data-png]").count() == len(CHARTS)
    assert page.locator(".downloads button").count() == 0
    assert page.locator("#scores .downloads a:text('CSV')").count() == 1
    context.close()
