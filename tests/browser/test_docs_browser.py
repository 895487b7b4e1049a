"""/docs (Swagger UI) and /redoc (ReDoc) in Chromium with every request that would leave the
machine refused: their scripts and styles come from pvm itself (the fastapi-offline package),
so both render on a network without internet (issue 13 item 7)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import BROWSER_MARKS, block_internet

pytestmark = BROWSER_MARKS
pytest.importorskip("playwright.sync_api")


def test_swagger_ui_renders_offline(live_url: str, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    refused = block_internet(context)
    page = context.new_page()
    try:
        page.goto(f"{live_url}/docs")
        page.wait_for_selector(".opblock", timeout=20_000)
        assert page.locator(".opblock").count() > 20  # one per operation
        assert "/api/v1/surveys" in page.locator(".opblock-summary-path").all_inner_texts()
        assert page.locator(".info .title").first.inner_text().startswith("pvm")
        css = page.evaluate("() => [...document.styleSheets].map(s => s.href)")
        assert any(href and href.startswith(live_url) for href in css), css
    finally:
        context.close()
    assert refused == []  # nothing even tried to leave


def test_redoc_renders_offline(live_url: str, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    refused = block_internet(context)
    page = context.new_page()
    try:
        page.goto(f"{live_url}/redoc")
        page.wait_for_selector("redoc h1", timeout=20_000)
        assert page.locator("redoc h1").first.inner_text().startswith("pvm")
        page.wait_for_selector("[data-section-id^='operation/']", timeout=20_000)
        assert page.locator("[data-section-id^='operation/']").count() > 20
    finally:
        context.close()
    # ReDoc's own "API docs by Redocly" badge is its only outside request (an image, refused)
    assert [u for u in refused if not u.endswith("/logo-mini.svg")] == []


def test_asset_urls_are_local(live_url: str) -> None:
    import httpx

    for path, asset in (("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")):
        html = httpx.get(live_url + path).text
        assert "cdn" not in html.lower() and f"/static-offline-docs/{asset}" in html
        assert httpx.get(f"{live_url}/static-offline-docs/{asset}").status_code == 200
