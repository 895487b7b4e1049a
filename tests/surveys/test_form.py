"""The HTML questionnaire through the test client: render, submit, errors, CSRF, honeypot; any
instrument (tests/data/paged_instrument.yaml: three languages, item types, sections as pages)."""

from __future__ import annotations

import re
import shutil
from html import unescape
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.service import create_tokens
from app.instruments.registry import (
    InstrumentError,
    get_instrument,
    load_instrument,
    parse_instrument,
)
from app.instruments.spec import UI_KEYS
from app.surveys import service, views
from app.surveys.models import Branch, Response
from app.surveys.questionnaire import STRINGS_PATH as STRINGS
from app.surveys.schemas import SurveyUpdate
from tests.conftest import DATA_DIR

SPEC = get_instrument("telecom-pv", version=1)
REPO_INSTRUMENTS = Path(__file__).resolve().parents[2] / "instruments"
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


def visible_text(html: str) -> str:
    """The page's text as a reader sees it: no tags, no attribute values, no hidden inputs."""
    body = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return unescape(re.sub(r"<[^>]+>", " ", body))


def codes_shown(html: str, codes: list[str]) -> list[str]:
    text = visible_text(html)
    return [
        c for c in codes if re.search(rf"(?<![A-Za-z0-9_]){re.escape(c)}(?![A-Za-z0-9_])", text)
    ]


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
    # one fieldset per question (legend: the question) and per asked attribute; no construct
    # names and no item codes: telecom-pv gives no section titles
    assert html.count("<fieldset") == len(SPEC.items) + 2
    for construct in SPEC.constructs:
        assert construct.name["zh"] not in visible_text(html)
    assert not codes_shown(html, SPEC.item_codes + SPEC.construct_codes)
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
    # N/A is stored as "na", an item left unanswered as null
    assert answers["NQ1"] == "na" and answers["NQ2"] is None


def test_invalid_submission_keeps_answers_and_shows_errors(
    client: TestClient, survey, session
) -> None:
    page = client.get("/s/telecom?branch=BR01").text
    data = form_data(page, REL3=None, TAN1="9", REL1="na", ASS2="x", PV1="3", tenure="forever")
    r = client.post("/s/telecom", data=data, follow_redirects=False)
    assert r.status_code == 422
    html = r.text
    assert error_beside(html, "answers.REL3") == "请回答此题。"
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
    assert error_beside(r.text, "answers.SAT1") == "Please answer this question."


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
    assert re.search(
        r'<input type="text" name="token" id="token" value="abc" aria-required="true"', html
    )
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


def test_static_favicon_and_privacy_notice(client: TestClient, factory, survey) -> None:
    html = client.get("/s/telecom?branch=BR01&lang=en").text
    icon = re.search(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', html)
    assert icon
    svg = client.get(icon.group(1))
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert "<svg" in svg.text
    assert "IP address" in visible_text(html) and "Privacy" in html
    thanks = client.get("/s/telecom/thanks?lang=zh").text
    assert "隐私说明" in thanks and "IP 地址" in thanks
    factory.survey("anon", anonymous=True)
    anon = client.get("/s/anon?branch=BR01&lang=en").text
    assert "This survey is anonymous" in anon and "no IP address" in anon
    assert "and your IP address" not in anon


def test_form_turns_off_browser_validation(client: TestClient, survey) -> None:
    html = client.get("/s/telecom?branch=BR01").text
    assert re.search(r"<form [^>]*novalidate", html)
    # no native `required` that could raise a browser bubble; the requirement is in ARIA
    assert not re.search(r"<(input|select|textarea)[^>]* required", html)
    assert 'aria-required="true"' in html


# ---- any instrument: a paged, three-language questionnaire (tests/data/paged_instrument.yaml) ----

VISIT = load_instrument(DATA_DIR / "paged_instrument.yaml")
PAGE1 = {"SQ1": "4", "SQ2": "5", "SQ3": "na", "CH1": "car"}
PAGE2 = {"VAL1": "7", "VAL2": "10", "VAL3": "1", "REC": "0"}
PAGE3 = {"USE": ["phone", "acc"], "NOTE": 'Mehr <b>Parkplätze</b> & "Kaffee"', "region": "north"}


@pytest.fixture
def visit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, factory) -> str:
    """Survey "visit" of the paged instrument (and "visit1", the same on one page)."""
    folder = tmp_path / "instruments"
    shutil.copytree(REPO_INSTRUMENTS, folder)
    text = (DATA_DIR / "paged_instrument.yaml").read_text(encoding="utf-8")
    (folder / "visit.yaml").write_text(text, encoding="utf-8")
    one_page = text.replace("id: visit\n", "id: visit1\n").replace("paged: true", "paged: false")
    (folder / "visit1.yaml").write_text(one_page, encoding="utf-8")
    monkeypatch.setenv("PVM_INSTRUMENTS_DIR", str(folder))
    with factory.app.state.sessionmaker() as db:
        db.add_all([Branch(code="BR01", name="Filiale Mitte"), Branch(code="BR02", name="Süd")])
        db.commit()
    factory.survey("visit", instrument="visit")
    factory.survey("visit1", instrument="visit1")
    return "visit"


def fields_of(html: str) -> dict[str, Any]:
    """Every field the page would post without a click: hidden inputs and checked choices
    (repeated names as lists), the text areas' contents."""
    out: dict[str, Any] = {}

    def add(name: str, value: str) -> None:
        value = unescape(value)
        if name in out:
            out[name] = [*(out[name] if isinstance(out[name], list) else [out[name]]), value]
        else:
            out[name] = value

    for tag in re.findall(r"<input [^>]*>", html):
        attrs = dict(re.findall(r'(\w+)="([^"]*)"', tag))
        kind = attrs.get("type")
        if kind == "hidden" or (kind in ("radio", "checkbox") and " checked" in tag):
            add(attrs["name"], attrs["value"])
    for name, body in re.findall(r'<textarea name="(\w+)"[^>]*>(.*?)</textarea>', html, re.S):
        if body:
            add(name, body)
    return out


def go(client: TestClient, html: str, nav: str, **answers: Any) -> Any:
    """Press a button (`nav`: next, back, submit; or `switch=<lang>`) on page `html`."""
    data = fields_of(html) | answers | ({"nav": nav} if nav else {})
    data = {k: v for k, v in data.items() if v is not None}
    return client.post("/s/visit", data=data, follow_redirects=False)


def progress(html: str) -> str:
    m = re.search(r'<p id="progress">([^<]*)</p>', html)
    assert m
    return m.group(1)


def walk_to_last_page(client: TestClient, lang: str) -> str:
    first = client.get(f"/s/visit?branch=BR01&lang={lang}").text
    second = go(client, first, "next", **PAGE1)
    assert second.status_code == 200, second.text
    third = go(client, second.text, "next", **PAGE2)
    assert third.status_code == 200, third.text
    return str(third.text)


@pytest.mark.parametrize(
    ("lang", "html_lang", "next_", "page", "heading"),
    [
        ("de", "de", "Weiter", "Seite 1 von 3", "Beratung"),
        ("en", "en", "Next", "Page 1 of 3", "Advice"),
        ("zh", "zh-CN", "下一页", "第 1 页，共 3 页", "咨询服务"),
    ],
)
def test_every_declared_language(
    client: TestClient, visit: str, lang: str, html_lang: str, next_: str, page: str, heading: str
) -> None:
    html = client.get(f"/s/visit?branch=BR01&lang={lang}").text
    assert f'<html lang="{html_lang}">' in html
    assert VISIT.title[lang] in html and VISIT.intro[lang] in html
    assert f'<h2 class="section-title" id="s-staff">{heading}</h2>' in html
    for item in VISIT.items[:4]:
        assert unescape(item.text[lang]) in unescape(html)
    for label in VISIT.scale.labels[lang]:
        assert label in html
    assert progress(html) == page
    assert re.search(
        rf'<button type="submit" name="nav" value="next" class="next primary">{next_}</button>',
        html,
    )
    # the switch names every declared language in that language
    assert re.findall(r'class="lang"[^>]*>([^<]+)<', html) == ["Deutsch", "English", "中文"]
    assert f'aria-current="true" lang="{html_lang}">' in html
    # the branch by its name, never its code
    assert "<strong>Filiale Mitte</strong>" in html
    assert not codes_shown(html, ["BR01"])


def test_language_from_accept_language_else_the_first_declared(client: TestClient, visit) -> None:
    def lang_of(url: str, header: str | None = None) -> str:
        headers = {"Accept-Language": header} if header else {}
        m = re.search(r'<html lang="([^"]+)">', client.get(url, headers=headers).text)
        assert m
        return m.group(1)

    assert lang_of("/s/visit?branch=BR01") == "de"  # nothing asked: the instrument's first
    assert lang_of("/s/visit?branch=BR01", "fr-CH, fr;q=0.9, zh;q=0.8, en;q=0.5") == "zh-CN"
    assert lang_of("/s/visit?branch=BR01", "en-GB,en;q=0.9") == "en"
    assert lang_of("/s/visit?branch=BR01", "zh;q=0, en;q=0.1") == "en"  # q=0: not acceptable
    assert lang_of("/s/visit?branch=BR01", "ja, ko") == "de"
    assert lang_of("/s/visit?branch=BR01&lang=en", "zh") == "en"  # `lang` wins
    assert lang_of("/s/visit?branch=BR01&lang=fr", "zh-TW") == "zh-CN"
    assert lang_of("/s/visit?branch=BR01", "garbage;;q=x, *") == "de"
    # an instrument in zh and en, and the pages without a survey
    assert lang_of("/s/telecom?branch=BR01", "en-US,en;q=0.9") == "en"
    assert lang_of("/s/nope", "en") == "en" and lang_of("/s/nope") == "zh-CN"
    assert lang_of("/s/visit/thanks", "en") == "en"


def test_no_codes_or_construct_names_on_any_page(client: TestClient, visit) -> None:
    codes = VISIT.item_codes + VISIT.construct_codes + ["BR01"]
    names = [n for c in VISIT.constructs for n in c.name.values()]
    for lang in VISIT.languages:
        first = client.get(f"/s/visit?branch=BR01&lang={lang}").text
        second = go(client, first, "next", **PAGE1).text
        third = go(client, second, "next", **PAGE2).text
        for n, html in enumerate((first, second, third), 1):
            text = visible_text(html)
            assert not codes_shown(html, codes), (lang, n, codes_shown(html, codes))
            assert not [name for name in names if name in text], (lang, n)
        # every section title is the instrument's, one per page
        assert VISIT.sections[2].title[lang] in third


def test_paging_keeps_answers_in_hidden_fields(client: TestClient, visit) -> None:
    third = walk_to_last_page(client, "en")
    assert progress(third) == "Page 3 of 3"
    carried = fields_of(third)
    assert {k: carried[k] for k in [*PAGE1, *PAGE2]} == PAGE1 | PAGE2
    for code in [*PAGE1, *PAGE2]:
        assert re.search(rf'<input type="hidden" name="{code}" value="[^"]*">', third)
    assert carried["page"] == "3" and carried["branch"] == "BR01"
    assert 'type="checkbox" name="USE"' in third and "<textarea" in third
    assert 'name="nav" value="submit"' in third and 'name="nav" value="back"' in third
    # Back: page 2 shows its answers again and carries page 3's, checkboxes as repeated fields
    back = go(client, third, "back", **PAGE3)
    assert back.status_code == 200 and progress(back.text) == "Page 2 of 3"
    assert re.search(r'name="VAL2" value="10" checked', back.text)
    assert re.search(r'name="REC" value="0" checked', back.text)
    assert re.findall(r'<input type="hidden" name="USE" value="(\w+)">', back.text) == [
        "phone",
        "acc",
    ]
    assert fields_of(back.text)["NOTE"] == PAGE3["NOTE"]
    # the submission id survives every page
    first_id = hidden(client.get("/s/visit?branch=BR01").text, "submission_id")
    assert hidden(back.text, "submission_id") == carried["submission_id"] != first_id
    # and forward again: page 3 with its answers
    again = go(client, back.text, "next")
    assert re.search(r'name="USE" value="phone" checked', again.text)
    assert not re.search(r'name="USE" value="plan" checked', again.text)
    assert "Mehr &lt;b&gt;Parkplätze&lt;/b&gt; &amp; &#34;Kaffee&#34;</textarea>" in again.text
    assert re.search(r'name="region" value="north" checked', again.text)


def test_next_checks_only_the_page_being_left(client: TestClient, visit) -> None:
    first = client.get("/s/visit?branch=BR01&lang=de").text
    r = go(client, first, "next", CH1="car")
    assert r.status_code == 422
    assert progress(r.text) == "Seite 1 von 3"
    for code in ("SQ1", "SQ2"):  # the instrument's own German message
        assert error_beside(r.text, f"answers.{code}") == "Bitte beantworten Sie diese Frage."
    assert error_beside(r.text, "answers.SQ3") is None  # may be left out (N/A allowed)
    assert error_beside(r.text, "answers.VAL1") is None  # on the next page
    assert 'aria-describedby="e-answers.SQ2"' in r.text
    assert 'href="#f-answers.SQ2"' in r.text
    assert re.search(r'name="CH1" value="car" checked', r.text)
    ok = go(client, r.text, "next", SQ1="2", SQ2="3")
    assert ok.status_code == 200 and progress(ok.text) == "Seite 2 von 3"
    # 0-10 in one row of eleven, labelled at its two ends
    assert re.findall(r'name="REC" value="(\d+)"', ok.text) == [str(v) for v in range(11)]
    assert '<div class="options p11 ends-only">' in ok.text
    assert "Äußerst unwahrscheinlich</span><span>Äußerst wahrscheinlich" in ok.text
    assert re.findall(r'name="VAL1" value="(\d+)"', ok.text) == [str(v) for v in range(1, 11)]
    missing = go(client, ok.text, "next", VAL1="4")
    assert missing.status_code == 422 and progress(missing.text) == "Seite 2 von 3"
    assert re.findall(r'<p class="error" id="e-answers.(\w+)">', missing.text) == [
        "VAL2",
        "VAL3",
        "REC",
    ]
    # page 3 asks nothing required: multiple choice and text may stay empty
    third = go(client, missing.text, "next", VAL2="4", VAL3="4", REC="10")
    assert third.status_code == 200 and progress(third.text) == "Seite 3 von 3"
    assert factory_count(client) == 0


def factory_count(client: TestClient) -> int:
    with client.app.state.sessionmaker() as db:
        return len(db.scalars(select(Response)).all())


def test_language_switch_keeps_the_page_and_its_answers(client: TestClient, visit) -> None:
    first = client.get("/s/visit?branch=BR01&lang=de").text
    second = go(client, first, "next", **PAGE1).text
    switched = go(client, second, "", switch="zh", VAL1="6")
    assert switched.status_code == 200
    assert '<html lang="zh-CN">' in switched.text and progress(switched.text) == "第 2 页，共 3 页"
    assert re.search(r'name="VAL1" value="6" checked', switched.text)
    assert fields_of(switched.text)["lang"] == "zh"
    assert fields_of(switched.text)["CH1"] == "car"
    # an undeclared language keeps the page's
    assert '<html lang="zh-CN">' in go(client, switched.text, "", switch="fr").text


def test_final_submit_shows_errors_on_their_page(client: TestClient, visit) -> None:
    third = walk_to_last_page(client, "en")
    data = fields_of(third) | PAGE3 | {"nav": "submit", "SQ1": "9"}
    del data["SQ2"], data["region"]  # page-1 answers lost or forged, a page-3 one missing
    r = client.post("/s/visit", data=data)
    assert r.status_code == 422
    assert progress(r.text) == "Page 1 of 3"
    assert error_beside(r.text, "answers.SQ2") == "Please answer this question."
    # the service's message in the respondent's words, with this item's own scale
    assert error_beside(r.text, "answers.SQ1") == "Please choose a number from 1 to 5."
    assert error_beside(r.text, "attributes.region") is None  # shown on page 3, not here
    assert factory_count(client) == 0
    second = go(client, r.text, "next", SQ1="1", SQ2="3")
    third_again = go(client, second.text, "next")
    assert progress(third_again.text) == "Page 3 of 3"
    again = go(client, third_again.text, "submit")
    assert again.status_code == 422 and progress(again.text) == "Page 3 of 3"
    assert error_beside(again.text, "attributes.region") == "Please answer this question."
    assert factory_count(client) == 0


def test_posted_answers_follow_the_item_type_contract(
    client: TestClient, visit, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the form hands to the service: numbers as strings, "na" as None, option codes, a
    list for multiple choice, the text as typed (line ends as \\n)."""
    seen: list[Any] = []
    real = views.service.submit_response

    def spy(session: Any, **kwargs: Any) -> Any:
        seen.append(kwargs["payload"])
        return real(session, **kwargs)

    monkeypatch.setattr(views.service, "submit_response", spy)
    third = walk_to_last_page(client, "zh")
    note = "第一行\r\n第二行"
    go(client, third, "submit", **(PAGE3 | {"NOTE": note, "visits": "often"}))
    [payload] = seen
    assert payload.answers == {
        "SQ1": "4",
        "SQ2": "5",
        "SQ3": "na",
        "CH1": "car",
        **PAGE2,
        "USE": ["phone", "acc"],
        "NOTE": "第一行\n第二行",
    }
    assert payload.attributes == {"region": "north", "visits": "often"}
    assert (payload.branch, payload.lang) == ("BR01", "zh")


def test_paged_submit_stores_once_and_back_replays(client: TestClient, visit) -> None:
    third = walk_to_last_page(client, "en")
    final = fields_of(third) | PAGE3 | {"nav": "submit"}
    r = client.post("/s/visit", data=final, follow_redirects=False)
    assert r.status_code == 303, error_summary(r.text)
    assert r.headers["location"] == "/s/visit/thanks?lang=en"
    with client.app.state.sessionmaker() as db:
        [row] = db.scalars(select(Response)).all()
        stored_id = row.id
        numbers = dict(zip(VISIT.answer_codes, row.answers, strict=True))
        # answers hold every item but open text
        assert {c: numbers[c] for c in ("SQ1", "SQ2", "SQ3", "VAL2", "REC")} == {
            "SQ1": 4,
            "SQ2": 5,
            "SQ3": "na",  # not applicable, stored apart from "not answered" (null)
            "VAL2": 10,
            "REC": 0,
        }
        assert row.texts == {"NOTE": PAGE3["NOTE"]}  # depends on it too
        assert row.attributes == {"region": "north"} and row.lang == "en"
    # Back after submitting, submit again: the same submission id, the same response
    again = client.post("/s/visit", data=final, follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == "/s/visit/thanks?lang=en"
    # Back twice, through the pages, and submit: still nothing new
    back = go(client, third, "back", **PAGE3)
    forward = go(client, back.text, "next")
    replay = go(client, forward.text, "submit")
    assert replay.status_code == 303
    # a changed answer under the same submission id is refused, not stored
    changed = client.post("/s/visit", data=final | {"SQ1": "1"})
    assert changed.status_code == 409
    assert "This questionnaire has already been submitted." in changed.text
    with client.app.state.sessionmaker() as db:
        assert [r.id for r in db.scalars(select(Response))] == [stored_id]


def error_summary(html: str) -> str:
    m = re.search(r'<div class="summary".*?</div>', html, re.S)
    return visible_text(m.group(0)) if m else ""


def test_unpaged_sections_are_headed_blocks_on_one_page(client: TestClient, visit) -> None:
    html = client.get("/s/visit1?branch=BR01&lang=en").text
    assert 'id="progress"' not in html and 'value="back"' not in html
    assert re.findall(r'<h2 class="section-title" id="s-(\w+)">', html) == [
        "staff",
        "worth",
        "more",
        "about",
    ]
    assert 'name="nav" value="submit" class="submit primary"' in html
    for item in VISIT.items:
        assert f'id="f-answers.{item.code}"' in html
    # each question is a group named by its text; errors are linked to it
    assert re.search(
        r'<fieldset class="item choice" id="f-answers.USE" aria-labelledby="q-USE" aria-describedby="h-USE">',
        html,
    )
    assert re.search(r'<textarea name="NOTE" id="i-NOTE" rows="4" maxlength="200"', html)
    assert html.count('role="radiogroup"') == 8 + 2  # scale, nps, single; two attributes


def test_branch_is_chosen_on_the_first_page_and_carried(client: TestClient, visit) -> None:
    first = client.get("/s/visit?lang=de").text
    assert '<select name="branch"' in first
    r = go(client, first, "next", **PAGE1)
    # German interface texts the instrument does not give are pvm's own German ones
    assert '<html lang="de">' in r.text and '<label for="branch">Filiale</label>' in r.text
    assert r.status_code == 422
    assert error_beside(r.text, "branch") == "Bitte wählen Sie eine Filiale."
    second = go(client, r.text, "next", branch="BR02")
    assert second.status_code == 200
    assert fields_of(second.text)["branch"] == "BR02"
    back = go(client, second.text, "back")
    assert re.search(r'<option value="BR02" selected>Süd</option>', back.text)


def test_interface_texts_of_an_instrument_are_checked() -> None:
    strings = yaml.safe_load(STRINGS.read_text(encoding="utf-8"))
    assert set(strings) == {"zh", "en", "de", "fr", "es", "ja", "errors"}
    for lang in ("zh", "en", "de", "fr", "es", "ja"):
        assert set(strings[lang]) == UI_KEYS, lang
    doc = yaml.safe_load((DATA_DIR / "paged_instrument.yaml").read_text(encoding="utf-8"))
    doc["ui"] = {"de": {"nxt": "Weiter", "next": " "}, "fr": {"next": "Suivant"}}
    with pytest.raises(InstrumentError) as info:
        parse_instrument(doc)
    assert set(info.value.problems) == {
        "ui.de.nxt: unknown interface text 'nxt'",
        "ui.de.next: must be 1 to 1000 characters",
        "ui.fr: undeclared language 'fr'",
    }
