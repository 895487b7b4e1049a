"""The operators' dashboard in headless Debian chromium (Playwright) against uvicorn on a loopback
port: log in with a branch-scoped operator key through the form, then check the score table
(only the key's branch plus the benchmark, coloured cells, one suppressed row for another key),
the IPA and trend charts (inline SVG with points/lines), the downloads, and that no request
leaves the loopback host. Structural checks; no numeric tolerance involved."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from app.auth.service import create_api_key
from app.config import Settings
from app.main import create_app
from app.surveys import csvio
from app.surveys import service as surveys
from app.surveys.models import Branch
from app.surveys.schemas import SurveyCreate

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
TELECOM_CSV = Path(__file__).resolve().parents[1] / "data" / "telecom_1500.csv"
SHOTS = Path(os.environ["PVM_SCREENSHOT_DIR"]) if os.environ.get("PVM_SCREENSHOT_DIR") else None

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is not installed"),
]
sync_api = pytest.importorskip("playwright.sync_api")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    db = tmp_path_factory.mktemp("dashboard") / "pvm.db"
    settings = Settings(
        database_url=f"sqlite:///{db}",
        environment="test",
        secret_key="browser-secret-" + "z" * 40,
        bootstrap_admin_key=None,
        broker_url=None,
        _env_file=None,  # type: ignore[call-arg]
    )
    app = create_app(settings)
    with app.state.sessionmaker() as session:
        session.add_all(Branch(code=f"BR{i:02d}", name=f"Branch {i}") for i in range(1, 9))
        session.commit()
        survey = surveys.create_survey(
            session, data=SurveyCreate(slug="telecom", min_group_size=170)
        )
        csvio.import_csv(session, survey=survey, data=TELECOM_CSV.read_bytes())
        _, br01 = create_api_key(session, role="operator", branches=["BR01"])
        _, everyone = create_api_key(session, role="operator")
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", {"br01": br01, "all": everyone}
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        app.state.engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


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
    assert hidden.count() == 1  # BR07: 163 responses < 170
    assert hidden.first.get_attribute("data-group") == "BR07"
    assert hidden.first.locator("td[data-construct]").count() == 0
    assert "163" in hidden.first.inner_text()
    assert page.locator("#score-table tbody tr").count() == 9
    context.close()
