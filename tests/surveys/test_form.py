"""The HTML questionnaire through the test client: render, submit, errors, CSRF, honeypot."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.service import create_tokens
from app.instruments.registry import get_instrument
from app.surveys import service
from app.surveys.models import Branch, Response
from app.surveys.schemas import SurveyUpdate

SPEC = get_instrument("telecom-pv")
ITEMS = SPEC.item_codes


def hidden(html: str, name: str) -> str:
    m = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert m, f"no hidden field {name}"
    return m.group(1)


def form_data(html: str, value: str = "5", **overrides: str | None) -> dict[str, str]:
    """A complete submission of the form in `html` (CSRF and submission id copied from it)."""
    data: dict[str, Any] = {c: value for c in ITEMS}
    data.update(
        csrf_token=hidden(html, "csrf_token"),
        submission_id=hidden(html, "submission_id"),
        lang=hidden(html, "lang"),
        branch="BR01",
        website="",
    )
    for k, v in overrides.items():
        if v is None:
            data.pop(k, None)
        else:
            data[k] = v
    return data


def error_beside(html: str, field: str) -> str | None:
    m = re.search(rf'<p class="error" id="e-{re.escape(field)}">([^<]*)</p>', html)
    return m.group(1) if m else None


def close(session: Session, slug: str) -> None:
    survey = service.get_survey(session, slug=slug)
    service.update_survey(session, survey=survey, data=SurveyUpdate(status="closed"))


def stored(client: TestClient) -> list[dict[str, Any]]:
    """Responses in the database, read in a short session of their own (SQLite write locks)."""
    with client.app.state.sessionmaker() as db:
        rows = db.execute(select(Response, Branch.code).join(Branch)).all()
        return [
            {
                "branch": code,
                "channel": r.channel,
                "lang": r.lang,
                "customer_type": r.attributes.get("customer_type"),
                "tenure": r.attributes.get("tenure"),
                "answers": dict(zip(ITEMS, r.answers, strict=True)),
            }
            for r, code in rows
        ]


# ---- rendering -------------------------------------------------------------------------------


def test_form_renders_every_item_in_zh_by_default(client: TestClient, survey) -> None:
    r = client.get("/s/telecom?branch=BR01")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    html = r.text
    assert '<html lang="zh-CN">' in html
    assert SPEC.title["zh"] in html
    for item in SPEC.items:
        assert item.text["zh"] in html
        radios = re.findall(rf'<input type="radio" name="{item.code}" value="([^"]+)"', html)
        assert radios == [*map(str, range(1, 8)), *(["na"] if item.allow_na else [])], item.code
    # one fieldset + legend per construct, plus the optional "about you" block
    assert html.count("<fieldset") == len(SPEC.constructs) + 1
    for construct in SPEC.constructs:
        assert f"<legend>{construct.name['zh']}</legend>" in html
    for label in SPEC.scale.labels["zh"]:
        assert label in html
    assert html.count('value="na"') == 4 and "不适用" in html
    # optional attributes, not required
    for code in ("key_account", "business", "consumer", "first_time", "lapsed"):
        assert f'value="{code}"' in html
    assert not re.search(r'name="(customer_type|tenure)"[^>]*required', html)
    # CSRF pair, honeypot, branch
    assert "pvm_csrf" in r.cookies
    assert len(hidden(html, "csrf_token")) == 64
    assert 'name="website"' in html
    assert hidden(html, "branch") == "BR01"
    assert 'name="token"' not in html
    assert "default-src 'none'" in r.headers["content-security-policy"]


def test_form_in_english(client: TestClient, survey) -> None:
    html = client.get("/s/telecom?branch=BR01&lang=en").text
    assert '<html lang="en">' in html
    assert SPEC.title["en"] in html
    for item in SPEC.items:
        assert item.text["en"] in html.replace("&#39;", "'")
    assert "Strongly disagree" in html and "Not applicable" in html
    assert SPEC.items[0].text["zh"] not in html
    # unknown language falls back to zh
    assert SPEC.title["zh"] in client.get("/s/telecom?branch=BR01&lang=fr").text


def test_unknown_survey_branch_and_closed_survey(client: TestClient, survey, session) -> None:
    r = client.get("/s/nope?branch=BR01")
    assert r.status_code == 404 and "找不到该问卷" in r.text
    r = client.get("/s/nope?lang=en")
    assert r.status_code == 404 and "Survey not found" in r.text
    r = client.get("/s/telecom?branch=BR99&lang=en")
    assert r.status_code == 404 and "Branch not found" in r.text
    close(session, "telecom")
    r = client.get("/s/telecom?branch=BR01")
    assert r.status_code == 410 and "问卷已结束" in r.text
    assert "<form" not in r.text


# ---- submitting ------------------------------------------------------------------------------


def test_submit_stores_and_redirects_to_thanks(client: TestClient, survey, session) -> None:
    page = client.get("/s/telecom?branch=BR01&lang=en").text
    data = form_data(page, NQ1="na", NQ2=None, TAN1="7", customer_type="business", tenure="lapsed")
    r = client.post("/s/telecom", data=data, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/s/telecom/thanks?lang=en"
    thanks = client.get(r.headers["location"])
    assert thanks.status_code == 200 and "Thank you" in thanks.text
    [row] = stored(client)
    assert row["channel"] == "web" and row["branch"] == "BR01"
    assert (row["lang"], row["customer_type"], row["tenure"]) == ("en", "business", "lapsed")
    answers = row["answers"]
    assert answers["TAN1"] == 7 and answers["REL1"] == 5
    assert answers["NQ1"] is None and answers["NQ2"] is None


def test_invalid_submission_keeps_answers_and_shows_errors(
    client: TestClient, survey, session
) -> None:
    page = client.get("/s/telecom?branch=BR01").text
    data = form_data(page, REL3=None, TAN1="9", REL1="na", ASS2="x", PV1="3", tenure="forever")
    r = client.post("/s/telecom", data=data, follow_redirects=False)
    assert r.status_code == 422
    html = r.text
    assert error_beside(html, "answers.REL3") == "请选择一个答案。"
    assert error_beside(html, "answers.TAN1") == "请选择 1–7 中的一个数字。"
    assert "不适用" in (error_beside(html, "answers.REL1") or "")
    assert error_beside(html, "answers.ASS2")
    assert error_beside(html, "attributes.tenure")
    assert error_beside(html, "answers.PV2") is None
    assert 'id="error-summary"' in html and 'href="#f-answers.REL3"' in html
    # answers kept: the valid ones are checked again
    assert re.search(r'name="PV1" value="3" checked', html)
    assert re.search(r'name="PV2" value="5" checked', html)
    assert not re.search(r'name="REL3" value="\d" checked', html)
    assert stored(client) == []
    # fixing the errors with the re-rendered form stores it
    fixed = form_data(html, REL3="4")
    assert client.post("/s/telecom", data=fixed, follow_redirects=False).status_code == 303
    assert len(stored(client)) == 1


def test_english_error_texts(client: TestClient, survey) -> None:
    page = client.get("/s/telecom?branch=BR01&lang=en").text
    r = client.post("/s/telecom", data=form_data(page, SAT1=None))
    assert r.status_code == 422
    assert error_beside(r.text, "answers.SAT1") == "Please choose an answer."


def test_csrf_is_required_and_tied_to_the_cookie(client: TestClient, survey, session) -> None:
    page = client.get("/s/telecom?branch=BR01").text
    data = form_data(page)
    r = client.post("/s/telecom", data=form_data(page, csrf_token=None))
    assert r.status_code == 403 and "页面已过期" in r.text
    assert re.search(r'name="TAN1" value="5" checked', r.text)  # answers kept
    r = client.post("/s/telecom", data=form_data(page, csrf_token="0" * 64))
    assert r.status_code == 403
    # a valid token with someone else's cookie
    other = TestClient(client.app)
    other.get("/s/telecom?branch=BR01")
    assert other.post("/s/telecom", data=data).status_code == 403
    # no cookie at all
    client.cookies.clear()
    assert client.post("/s/telecom", data=data).status_code == 403
    assert stored(client) == []


def test_honeypot_pretends_success_and_stores_nothing(client: TestClient, survey, session) -> None:
    page = client.get("/s/telecom?branch=BR01").text
    r = client.post(
        "/s/telecom", data=form_data(page, website="http://spam"), follow_redirects=False
    )
    assert r.status_code == 303
    assert stored(client) == []


def test_double_submit_is_stored_once(client: TestClient, survey, session) -> None:
    page = client.get("/s/telecom?branch=BR01").text
    data = form_data(page)
    assert client.post("/s/telecom", data=data, follow_redirects=False).status_code == 303
    assert client.post("/s/telecom", data=data, follow_redirects=False).status_code == 303
    assert len(stored(client)) == 1
    # a new page load is a new respondent
    again = form_data(client.get("/s/telecom?branch=BR01").text)
    assert client.post("/s/telecom", data=again, follow_redirects=False).status_code == 303
    assert len(stored(client)) == 2


def test_post_to_closed_or_unknown_survey(client: TestClient, survey, session) -> None:
    page = client.get("/s/telecom?branch=BR01").text
    assert client.post("/s/other", data=form_data(page)).status_code == 404
    close(session, "telecom")
    r = client.post("/s/telecom", data=form_data(page))
    assert r.status_code == 410 and "问卷已结束" in r.text
    assert stored(client) == []


def test_without_branch_the_form_asks_for_one(client: TestClient, survey, session) -> None:
    page = client.get("/s/telecom").text
    assert '<select name="branch"' in page and '<option value="BR12">' in page
    r = client.post("/s/telecom", data=form_data(page, branch=None))
    assert r.status_code == 422 and error_beside(r.text, "branch") == "请选择一个营业网点。"
    r = client.post("/s/telecom", data=form_data(page, branch="BR99"))
    assert r.status_code == 422 and error_beside(r.text, "branch")
    r = client.post("/s/telecom", data=form_data(page, branch="BR05"), follow_redirects=False)
    assert r.status_code == 303
    assert stored(client)[0]["branch"] == "BR05"


def test_invitation_token_field(client: TestClient, factory, session) -> None:
    factory.branches()
    survey = factory.survey("invite", requires_token=True)
    [good] = create_tokens(session, survey=survey, branch_code="BR01", count=1)
    html = client.get("/s/invite?branch=BR01&token=abc").text
    assert re.search(r'<input type="text" name="token" id="token" value="abc" required', html)
    r = client.post("/s/invite", data=form_data(html, token="abc"))
    assert (
        r.status_code == 403 and error_beside(r.text, "token") == "邀请码无效，请核对后重新输入。"
    )
    r = client.post("/s/invite", data=form_data(html, token=None))
    assert r.status_code == 403 and error_beside(r.text, "token") == "请输入邀请码。"
    assert stored(client) == []
    ok = client.post("/s/invite", data=form_data(html, token=good), follow_redirects=False)
    assert ok.status_code == 303
    page = client.get("/s/invite?branch=BR01").text
    reused = client.post("/s/invite", data=form_data(page, token=good))
    assert reused.status_code == 409 and error_beside(reused.text, "token") == "此邀请码已被使用。"
    assert len(stored(client)) == 1


def test_user_text_is_escaped(client: TestClient, factory, session) -> None:
    session.add(Branch(code="EVIL", name='<script>alert("x")</script>'))
    session.commit()
    factory.survey("esc", requires_token=True, title={"zh": "<b>标题</b>", "en": "<b>t</b>"})
    html = client.get('/s/esc?branch=EVIL&token="><script>alert(1)</script>').text
    assert "<script>" not in html
    assert "&lt;script&gt;alert(" in html
    assert "<b>标题</b>" not in html and "&lt;b&gt;标题&lt;/b&gt;" in html
    r = client.get("/s/<script>x</script>")
    assert r.status_code == 404 and "<script>x" not in r.text
    page = client.get("/s/esc?branch=EVIL").text
    r = client.post("/s/esc", data=form_data(page, branch="EVIL", TAN1="<i>x</i>"))
    assert r.status_code == 422 and "<i>x</i>" not in r.text


def test_static_stylesheet_is_served(client: TestClient, survey) -> None:
    html = client.get("/s/telecom?branch=BR01").text
    href = re.search(r'<link rel="stylesheet" href="([^"]+)"', html)
    assert href
    css = client.get(href.group(1))
    assert css.status_code == 200 and ".options" in css.text
