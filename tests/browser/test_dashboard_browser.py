"""The operators' dashboard in headless Debian chromium (Playwright) against uvicorn on a loopback
port: log in with a branch-scoped operator key through the form, then check the score table
(only the key's branch plus the benchmark, coloured cells; for another key the suppressed rows of
a small branch and of the branch protecting it), the IPA and trend charts (inline SVG with
points/lines), the downloads, and that no request leaves the loopback host. The PNG buttons that
app/static/reporting/dashboard.js adds beside each SVG link: each click saves a PNG whose IHDR size
is the chart's SVG viewBox x 2, under a strict Content-Security-Policy; without JavaScript the page
keeps its CSV/SVG links and shows no PNG button. Structural checks; no numeric tolerance involved."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest
from fastapi import FastAPI

from app.auth.service import create_api_key
from app.surveys import csvio
from app.surveys import service as surveys
from app.surveys.models import Branch
from app.surveys.schemas import SurveyCreate
from tests.browser.conftest import BROWSER_MARKS, SHOTS
from tests.conftest import TELECOM_CSV

pytestmark = BROWSER_MARKS
pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def served(live_app: FastAPI, live_url: str) -> tuple[str, dict[str, str]]:
    with live_app.state.sessionmaker() as session:
        session.add_all(Branch(code=f"BR{i:02d}", name=f"Branch {i}") for i in range(1, 9))
        session.commit()
        survey = surveys.create_survey(
            session, data=SurveyCreate(slug="telecom", instrument_version=1, min_group_size=170)
        )
        csvio.import_csv(session, survey=survey, data=TELECOM_CSV.read_bytes())
        _, br01 = create_api_key(session, role="operator", branches=["BR01"])
        _, everyone = create_api_key(session, role="operator")
    return live_url, {"br01": br01, "all": everyone}


def test_branch_operator_logs_in_and_reads_the_dashboard(served, browser):
    base, keys = served
    page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(base) else outside.append(r.url))
    page.goto(f"{base}/dashboard/telecom")
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
    assert page.locator("#ipa-chart svg circle").count() == 6
    assert page.locator("#trend-chart svg circle").count() >= 10
    assert page.locator("text=Concentrate on").count() + page.locator(".method").count() >= 1
    body_width = page.evaluate("document.body.scrollWidth")
    assert body_width <= 390 + 1  # the wide table scrolls inside its box, not the page
    with page.expect_download() as dl:
        page.click("#scores .downloads a:text('CSV')")
    assert dl.value.suggested_filename.endswith(".csv")
    assert outside == []
    if SHOTS is not None:
        page.screenshot(path=str(SHOTS / "dashboard-phone.png"), full_page=True)
    page.close()


def test_suppressed_rows_show_count_only(served, browser):
    base, keys = served
    context = browser.new_context(extra_http_headers={"Authorization": f"Bearer {keys['all']}"})
    page = context.new_page()
    page.goto(f"{base}/dashboard/telecom")
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
        if SHOTS is not None:
            (SHOTS / f"dashboard-{name}").write_bytes(data)
    assert errors == []
    assert outside == []
    if SHOTS is not None:
        page.screenshot(path=str(SHOTS / "dashboard-desktop.png"), full_page=True)
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
