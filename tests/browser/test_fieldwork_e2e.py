"""Fieldwork end to end (issue 17, "How it will be checked"): an invitation batch sent by the
API to a real SMTP server process and an SMS webhook receiver; the links read out of the
received messages and followed in Chromium with JavaScript off, page by page: some respondents
complete the paged questionnaire, one abandons halfway and resumes from the same link on
another device, one abandons for good, one is a speeder, one straight-lines, one never opens
the message. Then the rates, the flags and ``exclude_flagged`` on reliability and scores are
compared with what was done. axe-core on the questionnaire reached from an invitation link;
screenshots at 390 px and 1366 px go to $PVM_SCREENSHOT_DIR, else var/screenshots/.

Time: careful respondents carry a start field signed ten minutes back (the form's own signed
``started`` field, rewritten in the request as a slow respondent's browser would send it);
the speeder sends the one the page gave it, a few seconds before submitting, below the
survey's speeder threshold (10 s per answered item)."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
from fastapi import FastAPI

from app.auth.service import create_api_key
from app.config import Settings
from app.main import create_app
from app.surveys import quality, service
from app.surveys.models import Branch
from app.surveys.schemas import SurveyCreate
from tests.browser.conftest import (
    BROWSER_MARKS,
    SHOTS,
    assert_accessible,
    block_internet,
)
from tests.browser.fielding import answer_page
from tests.conftest import DATA_DIR
from tests.invitations.conftest import (  # noqa: F401 (fixtures)
    SmsReceiver,
    SmtpServer,
    sms_receiver,
    smtp_server,
)
from tests.server import serve_in_thread

pytestmark = BROWSER_MARKS
pytest.importorskip("playwright.sync_api")

REPO = Path(__file__).resolve().parents[2]
SHOT_DIR = SHOTS or REPO / "var" / "screenshots"
SLUG = "visit"
CAREFUL_SECONDS = 600  # how long ago careful respondents' start field says they began
SPEEDER_SECONDS_PER_ITEM = 10.0
# Each respondent's scale answers (SQ1-SQ3 1-5, VAL1-VAL3 1-10), neither collinear nor alike
# three in a row except the straight-liner's SQ (the survey's straightline_items is 3).
SCALES = {
    0: {"SQ1": "2", "SQ2": "4", "SQ3": "3", "VAL1": "3", "VAL2": "7", "VAL3": "5"},
    1: {"SQ1": "4", "SQ2": "2", "SQ3": "5", "VAL1": "8", "VAL2": "6", "VAL3": "9"},
    2: {"SQ1": "5", "SQ2": "4", "SQ3": "2", "VAL1": "2", "VAL2": "5", "VAL3": "3"},
    3: {"SQ1": "3", "SQ2": "5", "SQ3": "4", "VAL1": "9", "VAL2": "10", "VAL3": "6"},
    4: {"SQ1": "1", "SQ2": "2", "SQ3": "4", "VAL1": "5", "VAL2": "3", "VAL3": "4"},
    5: {"SQ1": "1", "SQ2": "3", "SQ3": "2", "VAL1": "6", "VAL2": "4", "VAL3": "8"},
    6: {"SQ1": "4", "SQ2": "4", "SQ3": "4", "VAL1": "7", "VAL2": "9", "VAL3": "8"},
}


@pytest.fixture
def field(
    tmp_path: Path,
    smtp_server: SmtpServer,  # noqa: F811
    sms_receiver: SmsReceiver,  # noqa: F811
) -> Iterator[tuple[FastAPI, str, str]]:
    """The app (SMTP and SMS webhook configured, links to its own address) served on a
    loopback port, with the paged survey "visit" and a researcher key."""
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'pvm.db'}",
        environment="test",
        secret_key="fieldwork-secret-" + "z" * 40,
        bootstrap_admin_key=None,
        broker_url=None,
        smtp_url=smtp_server.url,
        smtp_from="survey@pvm.example",
        sms_webhook_url=sms_receiver.url,
        sms_webhook_body='{"to": "{to}", "text": "{text}"}',
        invitation_rate_per_s=200,
        invitation_backoff_s=0,
        _env_file=None,  # type: ignore[call-arg]
    )
    app = create_app(settings)
    folder = tmp_path / "instruments"
    folder.mkdir()
    for path in (REPO / "instruments").glob("*.yaml"):
        shutil.copy(path, folder / path.name)
    shutil.copy(DATA_DIR / "paged_instrument.yaml", folder / f"{SLUG}.yaml")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PVM_INSTRUMENTS_DIR", str(folder))
        with app.state.sessionmaker() as db:
            db.add(Branch(code="BR01", name="Filiale Mitte"))
            db.commit()
            service.create_survey(
                db,
                data=SurveyCreate(
                    slug=SLUG,
                    instrument=SLUG,
                    requires_token=True,
                    min_group_size=2,
                    speeder_seconds_per_item=SPEEDER_SECONDS_PER_ITEM,
                    straightline_items=3,  # SQ1-SQ3 alike; VAL1-VAL3 alike
                ),
            )
            _, key = create_api_key(db, role="researcher")
    try:
        with serve_in_thread(app) as url:
            yield app, url, key
    finally:
        app.state.engine.dispose()


LINK = re.compile(r"http://127\.0\.0\.1:\d+/s/visit\?\S+")


def link_in(text: str) -> str:
    found = LINK.search(text)
    assert found, text
    return found.group(0)


def context_of(browser: Any, width: int, *, started: str | None) -> Any:
    """A browser context without JavaScript and without internet; ``started``: the signed
    start field its form posts carry instead of the page's (a slow respondent)."""
    context = browser.new_context(
        viewport={"width": width, "height": 900}, java_script_enabled=False
    )
    assert block_internet(context) == []
    context.set_default_timeout(30_000)
    if started is not None:

        def slow(route: Any) -> None:
            request = route.request
            if request.method != "POST":
                route.continue_()
                return
            fields = [
                (k, started if k == quality.START_FIELD else v)
                for k, v in parse_qsl(request.post_data or "", keep_blank_values=True)
            ]
            route.continue_(post_data=urlencode(fields))

        # registered after block_internet: it runs first and passes loopback posts on
        context.route(re.compile(r"^http://127\.0\.0\.1:\d+/s/visit$"), slow)
    return context


def click(page: Any, answers: dict[str, str]) -> None:
    for code, value in answers.items():
        page.click(f'label:has(input[name="{code}"][value="{value}"])')


def go(page: Any, button: str) -> None:
    with page.expect_navigation():
        page.click(f".actions button.{button}")
    assert page.locator("p.error").count() == 0, page.locator("main").inner_text()


def answer(page: Any, spec: Any, k: int) -> None:
    """Every question of the current page (the helper's answers for respondent ``k``), then
    the scale answers of ``SCALES[k]`` where the page shows them."""
    answer_page(page, spec, k)
    radios = 'input[type=radio][name="{}"]'.format
    click(page, {c: v for c, v in SCALES[k].items() if page.locator(radios(c)).count()})


def to_the_end(page: Any, spec: Any, k: int) -> None:
    """From the current page to the thanks page, as respondent ``k``."""
    while True:
        answer(page, spec, k)
        last = page.locator(".actions button.submit").count() == 1
        if last:
            go(page, "submit")
            assert f"/s/{SLUG}/thanks" in page.url
            return
        go(page, "next")


def test_invitations_to_rates_flags_and_exclusions(
    field: tuple[FastAPI, str, str],
    browser: Any,
    smtp_server: SmtpServer,  # noqa: F811
    sms_receiver: SmsReceiver,  # noqa: F811
) -> None:
    app, url, key = field
    api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60)
    emails = [f"r{i}@example.com" for i in range(7)]
    phone = "+8613800000009"
    recipients: list[dict[str, Any]] = [
        {"email": e, "branch": "BR01", "lang": "en"} for e in emails
    ]
    recipients.append({"phone": phone, "branch": "BR01", "lang": "en"})
    created = api.post(f"/api/v1/surveys/{SLUG}/invitations", json={"recipients": recipients})
    assert created.status_code == 202, created.text
    batch_url = f"/api/v1/surveys/{SLUG}/invitations/{created.json()['batch']}"
    deadline = time.monotonic() + 60
    while (batch := api.get(batch_url).json())["counts"]["queued"]:
        assert time.monotonic() < deadline, batch
        time.sleep(0.1)
    assert batch["counts"] == {"queued": 0, "sent": 8, "failed": 0, "opened": 0, "completed": 0}

    # the links, as the recipients read them
    links = {str(m["To"]): link_in(str(m.get_content())) for m in smtp_server.messages()}
    assert set(links) == set(emails)
    [sms] = sms_receiver.received
    assert sms["to"] == phone
    links[phone] = link_in(sms["text"])
    assert len(set(links.values())) == 8  # one token each

    with app.state.sessionmaker() as db:
        spec = service.survey_spec(service.get_survey(db, slug=SLUG))
    secret = str(app.state.settings.secret_key)
    careful = quality.sign_start(secret, SLUG, time.time() - CAREFUL_SECONDS)
    SHOT_DIR.mkdir(parents=True, exist_ok=True)

    # axe-core (it needs JavaScript) on the questionnaire reached from an invitation link
    for width in (390, 1366):
        context = browser.new_context(viewport={"width": width, "height": 900})
        block_internet(context)
        page = context.new_page()
        page.goto(links[emails[0]])
        assert page.locator("#progress").inner_text() == "Page 1 of 3"
        assert_accessible(page, f"invitation link at {width}")
        context.close()

    # r0..r2 complete (r0 at 390 px, r1 at 1366 px: screenshots of page 1)
    for k, (who, width) in enumerate([(emails[0], 390), (emails[1], 1366), (emails[2], 390)]):
        context = context_of(browser, width, started=careful)
        page = context.new_page()
        page.goto(links[who])
        assert page.locator("#progress").inner_text() == "Page 1 of 3"
        assert page.input_value("#token") == links[who].split("token=")[1].split("&")[0]
        if who != emails[2]:
            page.screenshot(path=str(SHOT_DIR / f"fieldwork-invited-{width}.png"), full_page=True)
        to_the_end(page, spec, k)
        context.close()

    # r3 answers page 1, leaves; later opens the same link on another device and finishes
    context = context_of(browser, 390, started=careful)
    page = context.new_page()
    page.goto(links[emails[3]])
    answer(page, spec, 3)
    go(page, "next")
    assert page.locator("#progress").inner_text() == "Page 2 of 3"
    context.close()
    context = context_of(browser, 1366, started=careful)
    page = context.new_page()
    page.goto(links[emails[3]])
    assert page.locator("#progress").inner_text() == "Page 2 of 3"
    page.screenshot(path=str(SHOT_DIR / "fieldwork-resumed-1366.png"), full_page=True)
    to_the_end(page, spec, 3)
    context.close()

    # r4 answers page 1 and never comes back: a partial response
    context = context_of(browser, 390, started=careful)
    page = context.new_page()
    page.goto(links[emails[4]])
    answer(page, spec, 4)
    go(page, "next")
    context.close()

    # r5 speeds through (the page's own start field: seconds before the submit)
    context = context_of(browser, 1366, started=None)
    page = context.new_page()
    page.goto(links[emails[5]])
    to_the_end(page, spec, 5)
    context.close()

    # the SMS recipient straight-lines page 1 (SQ1-SQ3 all "Agree")
    context = context_of(browser, 390, started=careful)
    page = context.new_page()
    page.goto(links[phone])
    to_the_end(page, spec, 6)
    context.close()
    # r6 never opens the message

    # ---- the flags -----------------------------------------------------------------------
    flags = api.get(f"/api/v1/surveys/{SLUG}/flags")
    assert flags.status_code == 200, flags.text
    body = flags.json()
    rows = body["responses"]
    assert len(rows) == 6
    assert sorted(tuple(r["flags"]) for r in rows) == [
        (),
        (),
        (),
        (),
        ("speeder",),
        ("straightline",),
    ]
    assert body["summary"]["flagged"] == 2
    assert body["summary"]["by_flag"] == {"speeder": 1, "straightline": 1, "duplicate": 0}
    durations = sorted(r["duration_seconds"] for r in rows)
    [speeder] = [r for r in rows if r["flags"] == ["speeder"]]
    answered = 10  # SQ1-SQ3, CH1, VAL1-VAL3, REC, USE, NOTE (none "not applicable" for k=5)
    assert speeder["duration_seconds"] < SPEEDER_SECONDS_PER_ITEM * answered
    for r in rows:
        if r is not speeder:
            assert CAREFUL_SECONDS <= r["duration_seconds"] < CAREFUL_SECONDS + 120, r

    # ---- the rates -------------------------------------------------------------------------
    rates = api.get(f"/api/v1/surveys/{SLUG}/rates", params={"by": "branch"})
    assert rates.status_code == 200, rates.text
    [group] = rates.json()["groups"]
    median = (durations[2] + durations[3]) / 2
    assert group == {
        "group": "BR01",
        "sent": 8,
        "opened": 7,  # all but r6
        "completed": 6,
        "rate": 6 / 8,
        "median_seconds": median,
        "partial": 1,  # r4; r3's partial went when r3 finished
        "suppressed": False,
    }

    # ---- exclude_flagged drops exactly the two flagged responses ---------------------------
    def get(path: str, exclude: bool, **params: str) -> Any:
        flag = {"exclude_flagged": str(exclude).lower()}
        r = api.get(f"/api/v1/surveys/{SLUG}/{path}", params=flag | params)
        assert r.status_code == 200, r.text[:2000]
        return r.json()

    everything = get("reliability", False, constructs="VAL")
    clean = get("reliability", True, constructs="VAL")
    assert (everything["n"], clean["n"]) == (6, 4)
    everything, clean = get("scores", False, by="branch"), get("scores", True, by="branch")
    for construct in ("SQ", "VAL"):
        assert everything["overall"]["constructs"][construct]["n"] == 6
        assert clean["overall"]["constructs"][construct]["n"] == 4
    assert [g["n"] for g in everything["groups"]] == [6]
    assert [g["n"] for g in clean["groups"]] == [4]
