"""What every browser test needs: a fresh app served by uvicorn in a thread on a loopback port,
and headless Debian chromium driven by Playwright."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from app.config import Settings
from app.main import create_app
from tests.server import serve_in_thread

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SHOTS = Path(os.environ["PVM_SCREENSHOT_DIR"]) if os.environ.get("PVM_SCREENSHOT_DIR") else None
# Each module sets `pytestmark = BROWSER_MARKS`: marked, and skipped without chromium.
BROWSER_MARKS = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is not installed"),
]


@pytest.fixture(scope="module")
def live_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    """A new app on its own SQLite file, one per test module; the module seeds it."""
    db = tmp_path_factory.mktemp("browser") / "pvm.db"
    settings = Settings(
        database_url=f"sqlite:///{db}",
        environment="test",
        secret_key="browser-secret-" + "y" * 40,
        bootstrap_admin_key=None,
        broker_url=None,
        _env_file=None,  # type: ignore[call-arg]
    )
    app = create_app(settings)
    try:
        yield app
    finally:
        app.state.engine.dispose()


@pytest.fixture(scope="module")
def live_url(live_app: FastAPI) -> Iterator[str]:
    """`live_app` served by uvicorn in a daemon thread; its base URL on 127.0.0.1."""
    with serve_in_thread(live_app) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


# ---- offline pages and accessibility -------------------------------------------------------
LOOPBACK = ("127.0.0.1", "localhost", "[::1]")


def block_internet(target: Any) -> list[str]:
    """Abort every request of ``target`` (a page or a browser context) that leaves this machine,
    as on a network with no internet; returns the list of URLs it refused, for the assertion."""
    from urllib.parse import urlsplit

    refused: list[str] = []

    def route(r: Any) -> None:
        url = r.request.url
        if urlsplit(url).scheme in ("data", "blob") or urlsplit(url).hostname in LOOPBACK:
            r.continue_()
        else:
            refused.append(url)
            r.abort()

    target.route("**/*", route)
    return refused


SERIOUS = ("serious", "critical")
# WCAG 2.x A and AA rules (colour contrast AA among them) and axe's best practices.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core (bundled by axe-playwright-python) on the page as it is now: its serious and
    critical violations, each with the rule, its help text and the offending elements."""
    axe_module = pytest.importorskip("axe_playwright_python.sync_playwright")
    results = axe_module.Axe().run(
        page,
        options={"runOnly": {"type": "tag", "values": AXE_TAGS}, "resultTypes": ["violations"]},
    )
    return [
        {
            "rule": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"]][:10],
        }
        for v in results.response["violations"]
        if v.get("impact") in SERIOUS
    ]


def assert_accessible(page: Any, where: str = "") -> None:
    """Fail with axe-core's findings when the page has any serious or critical violation."""
    found = axe_violations(page)
    assert found == [], f"{where or page.url}: {found}"
