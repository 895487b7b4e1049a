"""The invitation rates table of the dashboard in headless chromium, zh and en, phone and
desktop widths: the key's branches only, small groups hidden, axe-core finding no serious or
critical violation. A full branch's questionnaire page (quota) is checked the same way."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import FastAPI
from sqlalchemy import update

from app.auth.models import InvitationToken
from app.auth.service import create_api_key
from app.instruments.registry import get_instrument
from app.invitations.models import InvitationMessage
from app.invitations.schemas import BatchCreate
from app.invitations.service import create_batch
from app.surveys import service as surveys
from app.surveys.models import Branch, utcnow
from app.surveys.schemas import ResponseCreate, SurveyCreate, SurveyUpdate
from tests.browser.conftest import BROWSER_MARKS, assert_accessible

pytestmark = BROWSER_MARKS
pytest.importorskip("playwright.sync_api")

PLAN = {"BR01": 6, "BR02": 5, "BR03": 1}  # BR03 is small; BR02 is hidden with it


@pytest.fixture(scope="module")
def keys(live_app: FastAPI) -> dict[str, str]:
    with live_app.state.sessionmaker() as db:
        db.add_all(Branch(code=c, name=f"Branch {c}", names={"zh": f"网点{c[-1]}"}) for c in PLAN)
        db.commit()
        survey = surveys.create_survey(
            db,
            data=SurveyCreate(slug="field", instrument_version=1, requires_token=True),
        )
        recipients = [
            {"email": f"{code}-{i}@example.com", "branch": code}
            for code, n in PLAN.items()
            for i in range(n)
        ]
        create_batch(
            db, survey=survey, data=BatchCreate(recipients=recipients), base_url="http://x"
        )
        now = utcnow()
        db.execute(update(InvitationMessage).values(state="sent", sent_at=now, last_sent_at=now))
        first_two = [m.token_id for m in db.query(InvitationMessage).order_by("id").limit(3)]
        db.execute(
            update(InvitationToken).where(InvitationToken.id.in_(first_two)).values(used_at=now)
        )
        db.commit()
        surveys.update_survey(
            db, survey=survey, data=SurveyUpdate(quota={"mode": "stop", "branches": {"BR01": 1}})
        )
        # one response in BR01 fills its quota of 1 (the token from an unused invitation link)
        link = db.query(InvitationMessage).order_by(InvitationMessage.id.desc()).first()
        assert link is not None and link.link is not None
        token = parse_qs(urlsplit(link.link).query)["token"][0]
        answers = {c: 4 for c in get_instrument("telecom-pv", version=1).item_codes}
        payload = ResponseCreate(branch="BR03", answers=answers, token=token)
        surveys.submit_response(
            db, survey=survey, payload=payload, idempotency_key=None, client=None
        )
        surveys.update_survey(
            db, survey=survey, data=SurveyUpdate(quota={"mode": "stop", "default": 1})
        )
        _, all_key = create_api_key(db, role="operator")
        _, br01_key = create_api_key(db, role="operator", branches=["BR01"])
    return {"all": all_key, "br01": br01_key}


@pytest.mark.parametrize(("lang", "width"), [("zh", 390), ("en", 1366)])
def test_rates_table(
    browser: Any, live_url: str, keys: dict[str, str], lang: str, width: int
) -> None:
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.goto(f"{live_url}/dashboard/field?lang={lang}")
    page.fill("#key", keys["all"])
    page.click("button[type=submit]")
    page.wait_for_selector("#rates-table", timeout=60_000)
    rows = page.locator("#rates-table tbody tr")
    assert rows.count() == 3
    first = rows.nth(0).inner_text()
    assert ("网点1" if lang == "zh" else "Branch BR01") in first and "50%" in first
    hidden = "已隐藏" if lang == "zh" else "hidden"
    assert hidden in rows.nth(1).inner_text() and hidden in rows.nth(2).inner_text()
    assert_accessible(page, f"rates {lang} {width}")
    context.close()
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.goto(f"{live_url}/dashboard/field?lang={lang}")
    page.fill("#key", keys["br01"])
    page.click("button[type=submit]")
    page.wait_for_selector("#rates-table", timeout=60_000)
    assert page.locator("#rates-table tbody tr").count() == 1
    context.close()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_full_branch_page(browser: Any, live_url: str, keys: dict[str, str], lang: str) -> None:
    page = browser.new_page()
    page.goto(f"{live_url}/s/field?branch=BR03&lang={lang}")
    text = page.locator("h1").inner_text()
    assert text == ("本网点的问卷已收满" if lang == "zh" else "This branch's survey is full")
    assert_accessible(page, f"full page {lang}")
    page.goto(f"{live_url}/s/field?branch=BR02&lang={lang}")
    assert page.locator("form").count() == 1  # BR02 has no response yet
    page.close()
