"""Dashboard HTML and downloads without a browser: auth (header, cookie login), suppression,
branch scope, escaping. Structural checks only (no numeric tolerance needed)."""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from tests.security.helpers import form_post, hidden, set_limits


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', html)
    assert m, "no CSRF token in the login form"
    return m.group(1)


def login(client, key: str, *, token: str | None = None, **extra: str):
    """Post the login form with the CSRF token of a freshly loaded login page."""
    if token is None:
        token = csrf_of(client.get("/dashboard").text)
    data = {"key": key, "next": "/dashboard/telecom", "csrf_token": token, **extra}
    return client.post("/dashboard/login", data=data, follow_redirects=False)


def test_login_form_then_cookie(client, telecom_survey, factory):
    client.headers["Accept-Language"] = "en"
    r = client.get("/dashboard/telecom")
    assert r.status_code == 401 and 'name="key"' in r.text and csrf_of(r.text)
    bad = login(client, "nope")
    assert bad.status_code == 401 and "not valid" in bad.text
    raw = factory.key("operator", branches=["BR01"])["Authorization"].split(" ", 1)[1]
    ok = login(client, raw)
    assert ok.status_code == 303 and ok.headers["location"] == "/dashboard/telecom"
    cookie = ok.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    page = client.get("/dashboard/telecom")
    assert page.status_code == 200
    assert 'data-group="BR01"' in page.text and 'data-group="BR02"' not in page.text
    assert "All (benchmark)" in page.text
    assert client.get("/dashboard/telecom?branch=BR02").status_code == 403
    # an open redirect is refused
    ok2 = login(client, raw, next="https://evil.example/")
    assert ok2.headers["location"] == "/dashboard"


def test_login_needs_the_csrf_token_of_its_own_cookie(app, client, telecom_survey, factory):
    client.headers["Accept-Language"] = "en"
    raw = factory.key("operator")["Authorization"].split(" ", 1)[1]
    page = client.get("/dashboard")
    assert "pvm_login_csrf" in page.cookies
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/dashboard" in cookie
    for token in ("", "0" * 64, "é" * 64):
        r = login(client, raw, token=token)
        assert r.status_code == 403 and "expired" in r.text and "pvm_session" not in r.cookies
    # a token of another browser's cookie, or of the questionnaire's form, is refused
    with TestClient(app) as other:
        stolen = csrf_of(other.get("/dashboard").text)
        survey_form = hidden(other.get("/s/telecom?branch=BR01").text, "csrf_token")
    assert login(client, raw, token=stolen).status_code == 403
    assert login(client, raw, token=survey_form).status_code == 403
    # the 403 page carries a fresh token that works
    again = login(client, raw, token=csrf_of(login(client, raw, token="").text))
    assert again.status_code == 303 and "pvm_session" in again.cookies


def test_failed_logins_lock_the_client_out(app, client, telecom_survey, factory):
    set_limits(app, bad_token_max=3, bad_token_window_s=600)
    client.headers["Accept-Language"] = "en"
    raw = factory.key("operator")["Authorization"].split(" ", 1)[1]
    assert [login(client, f"wrong-{i}").status_code for i in range(3)] == [401, 401, 401]
    locked = login(client, raw)  # the right key too, for the rest of the window
    assert locked.status_code == 429 and "Too many failed logins" in locked.text
    assert 1 <= int(locked.headers["retry-after"]) <= 600 and "pvm_session" not in locked.cookies
    # another client is not affected, and respondents' bad-token budget is a separate one
    with TestClient(app, client=("10.0.0.7", 1234)) as other:
        assert login(other, raw).status_code == 303
    assert form_post(client, "telecom").status_code == 303
    # with the limiter off, failures are neither counted nor refused
    set_limits(app, rate_limit_enabled=False)
    assert login(client, raw).status_code == 303


def test_dashboard_with_bearer_shows_table_charts_and_downloads(
    client, telecom_survey, operator_headers
):
    page = client.get("/dashboard/telecom?lang=en", headers=operator_headers)
    assert page.status_code == 200
    html = page.text
    for b in ["BR01", "BR08"]:
        assert f'data-group="{b}"' in html
    # the IPA chart and one trend panel per construct (10)
    assert html.count("<svg") == 1 + 10 and "http://" not in html.replace(
        "http://www.w3.org/2000/svg", ""
    )
    assert "Focus first on" in html or "No driver needs attention first" in html
    csv = client.get("/dashboard/telecom/scores.csv?lang=en", headers=operator_headers)
    assert csv.status_code == 200 and csv.text.startswith("\ufeffgroup_code,group,n,suppressed")
    for name in ["scores.svg", "ipa.svg", "trends.svg"]:
        r = client.get(f"/dashboard/telecom/{name}", headers=operator_headers)
        assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
        ET.fromstring(r.text)
    assert client.get("/dashboard/telecom/scores.svg").status_code == 401


def test_dashboard_and_login_pages_carry_a_strict_policy(client, telecom_survey, operator_headers):
    for page in (
        client.get("/dashboard/telecom", headers=operator_headers),
        client.get("/dashboard/telecom"),  # the login form
    ):
        policy = dict(
            part.strip().split(" ", 1)
            for part in page.headers["content-security-policy"].split(";")
        )
        assert policy["default-src"] == "'none'"
        assert policy["script-src"] == "'self'"  # the PNG export script: a file, never inline
        assert policy["frame-ancestors"] == "'none'"
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["cache-control"] == "no-store"


def test_dashboard_suppresses_small_groups(client, telecom_survey, operator_headers, session):
    telecom_survey.min_group_size = 198  # hides BR01 (197), BR08, BR02, BR06, BR05, BR07
    session.merge(telecom_survey)
    session.commit()
    html = client.get("/dashboard/telecom?lang=en", headers=operator_headers).text
    assert html.count("hidden: fewer than 198 responses") == 6
    svg = client.get("/dashboard/telecom/scores.svg?lang=en", headers=operator_headers).text
    assert 'data-group="BR01"' not in svg and "below the minimum group size 198" in svg


# ---- language, names, colours, intervals ----------------------------------------------------
ZH_BRANCHES = {f"BR{i:02d}": name for i, name in enumerate("一二三四五六七八九十甲乙", start=1)}
CONSTRUCTS = ["TAN", "REL", "RES", "ASS", "EMP", "NQ", "PV", "SAT", "CCI", "LOY"]
OPTIONS = ["key_account", "business", "consumer", "first_time", "short_term", "long_term"]


class VisibleText(HTMLParser):
    """The text a reader sees: text nodes outside <script>, <style> and SVG <title> tooltips."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style") or (tag == "title" and self._in_body):
            self._skip.append(tag)
        if tag == "body":
            self._in_body = True

    _in_body = False

    def handle_endtag(self, tag: str) -> None:
        if self._skip and self._skip[-1] == tag:
            self._skip.pop()

    def handle_data(self, data: str) -> None:
        if not self._skip and self._in_body:
            self.parts.append(data)


def visible(html: str) -> str:
    parser = VisibleText()
    parser.feed(html)
    return " ".join(parser.parts)


def name_branches_in_chinese(client, admin_headers) -> None:
    for code, zh in ZH_BRANCHES.items():
        r = client.patch(
            f"/api/v1/branches/{code}",
            json={"names": {"zh": f"{zh}号营业厅", "en": f"Hall {code[-2:]}"}},
            headers=admin_headers,
        )
        assert r.status_code == 200, r.text


@pytest.mark.parametrize("by", ["branch", "customer_type", "month"])
def test_the_chinese_dashboard_shows_names_not_codes(
    client, telecom_survey, operator_headers, admin_headers, by
):
    name_branches_in_chinese(client, admin_headers)
    page = client.get(f"/dashboard/telecom?lang=zh&by={by}", headers=operator_headers)
    assert page.status_code == 200
    text = visible(page.text)
    without_ids = re.sub(r"\b[0-9a-f]{32}\b", "", text)  # the fit job's id, in the details
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", without_ids))
    codes = {*CONSTRUCTS, *ZH_BRANCHES, *OPTIONS, by}
    assert words & codes == set(), words & codes
    # names in Chinese instead: constructs, branches, attribute options
    assert "有形性" in text and "顾客忠诚" in text
    if by == "branch":
        assert "一号营业厅" in text and "全部（基准）" in text
    if by == "customer_type":
        assert "大客户" in text and "公众客户（个人/家庭）" in text
    if by == "month":
        assert re.search(r"20\d\d年\d{1,2}月", text)
    # what remains in Latin letters is no code: downloads' formats and statistics' names
    assert words <= {"pvm", "CSV", "SVG", "PNG", "CFI", "Welch", "Holm", "p", "t", "API", "Martilla",
                     "James", "n", "English", "PLS", "ACSI"}, words  # fmt: skip
    # codes stay available to researchers: in tooltips and data attributes
    assert 'title="TAN"' in page.text and 'data-construct="TAN"' in page.text


def test_constructs_come_in_the_instruments_order(client, telecom_survey, operator_headers):
    page = client.get("/dashboard/telecom?lang=en", headers=operator_headers).text
    head = page[page.index('id="score-table"') :]
    head = head[: head.index("</thead>")]
    assert re.findall(r'<th scope="col" title="([A-Z]+)"', head) == CONSTRUCTS


def test_language_by_query_cookie_accept_language_and_switch(
    app, client, telecom_survey, operator_headers
):
    en = client.get("/dashboard/telecom?lang=en", headers=operator_headers)
    assert en.status_code == 200 and "Log out" in en.text and 'lang="en"' in en.text
    assert en.cookies.get("pvm_lang") == "en"
    again = client.get("/dashboard/telecom", headers=operator_headers)  # the cookie remembers
    assert "Log out" in again.text and "退出登录" not in again.text
    # the switch: a plain link to the same view in the other language
    link = re.search(r'<a class="lang" href="([^"]+)"[^>]*>中文</a>', again.text)
    assert link, "no link to the Chinese page"
    href = link.group(1).replace("&amp;", "&")
    assert "lang=zh" in href
    zh = client.get(href, headers=operator_headers)
    assert "退出登录" in zh.text and 'lang="zh-CN"' in zh.text
    assert client.get("/dashboard/telecom", headers=operator_headers).text.count("退出登录") == 1
    # a new browser: Accept-Language decides, else the instrument's first language (zh)
    with TestClient(app) as fresh:
        page = fresh.get(
            "/dashboard/telecom", headers={**operator_headers, "Accept-Language": "en-GB,en;q=0.8"}
        )
        assert "Log out" in page.text
        page = fresh.get(
            "/dashboard/telecom", headers={**operator_headers, "Accept-Language": "zh-CN,zh;q=0.9"}
        )
        assert "退出登录" in page.text
        assert "退出登录" in fresh.get("/dashboard/telecom", headers=operator_headers).text
        # the login page and its messages too
        assert "运营看板" in fresh.get("/dashboard").text
        login_en = fresh.get("/dashboard?lang=en")
        assert "Operators' dashboard" in login_en.text.replace("&#39;", "'")
        bad = fresh.post(
            "/dashboard/login",
            data={
                "key": "nope",
                "next": "/dashboard/telecom",
                "lang": "zh",
                "csrf_token": csrf_of(fresh.get("/dashboard").text),
            },  # fmt: skip
        )
        assert bad.status_code == 401 and "此密钥无效" in bad.text


def test_the_csv_download_speaks_the_language_and_carries_the_intervals(
    client, telecom_survey, operator_headers, admin_headers
):
    name_branches_in_chinese(client, admin_headers)
    zh = client.get("/dashboard/telecom/scores.csv?lang=zh", headers=operator_headers)
    assert zh.status_code == 200
    rows = list(csv.reader(io.StringIO(zh.text.lstrip("\ufeff"))))
    assert rows[0][:3] == ["组代码", "组", "回答数"] and "95%置信区间下限" in rows[0]
    body = {(r[0], r[4]): r for r in rows[1:]}
    br01 = body["BR01", "TAN"]
    assert br01[1] == "一号营业厅" and br01[5] == "有形性"
    lo, idx, hi = float(br01[8]), float(br01[7]), float(br01[9])
    assert lo < idx < hi
    en = client.get("/dashboard/telecom/scores.csv?lang=en", headers=operator_headers).text
    assert en.lstrip("\ufeff").startswith("group_code,group,n,suppressed,construct_code")
    # the numbers are those of the API, to the last digit
    api = client.get("/api/v1/surveys/telecom/scores", headers=operator_headers).json()
    tan = next(g for g in api["groups"] if g["group"] == "BR01")["constructs"]["TAN"]
    assert [float(br01[7]), lo, hi] == [tan["index"], *tan["ci"]]


def test_colours_follow_the_significant_difference_from_the_benchmark(
    client, telecom_survey, operator_headers, factory
):
    from app.reporting.charts import BIN_COLOURS, diff_bin

    api = client.get("/api/v1/surveys/telecom/scores", headers=operator_headers).json()
    page = client.get("/dashboard/telecom?lang=en", headers=operator_headers).text
    cells = {}
    for g, row in re.findall(r'data-group="(BR\d\d)">(.*?)</tr>', page, flags=re.S):
        for colour, c in re.findall(
            r'background: (#[0-9a-f]{6})" class="[^"]*" data-construct="(\w+)"', row
        ):
            cells[g, c] = colour
    assert len(cells) == 8 * 10
    overall = api["overall"]["constructs"]
    painted = 0
    for g in api["groups"]:
        for c, v in g["constructs"].items():
            diff = v["index"] - overall[c]["index"]
            colour = cells[g["group"], c]
            if colour != BIN_COLOURS["none"]:
                painted += 1
                # painted cells are significant in the table-wide family, which is stricter
                # than the API's per-construct Holm
                assert v["vs_rest"]["p"] < 0.05
                assert colour == BIN_COLOURS[diff_bin(diff, True)]
    assert 0 < painted < 80
    # the same cell has the same colour for a key that sees only its branch
    mine = client.get("/dashboard/telecom?lang=en", headers=factory.key("operator", ["BR03"]))
    row = re.search(r'data-group="BR03">(.*?)</tr>', mine.text, flags=re.S)
    assert row
    for colour, c in re.findall(
        r'background: (#[0-9a-f]{6})" class="[^"]*" data-construct="(\w+)"', row.group(1)
    ):
        assert colour == cells["BR03", c]


def test_every_index_has_its_interval_without_hover(client, telecom_survey, operator_headers):
    page = client.get("/dashboard/telecom?lang=en", headers=operator_headers).text
    assert '<details class="ci" id="ci">' in page
    ci = page[page.index('id="ci-table"') : page.index("</table>", page.index('id="ci-table"'))]
    shown = page[page.index('id="score-table"') : page.index("</table>")]
    assert ci.count("data-construct=") == shown.count("data-construct=") == 9 * 10
    assert len(re.findall(r'<span class="range">\d+\.\d–\d+\.\d</span>', ci)) == 90


def test_suppressed_groups_stay_hidden_in_every_new_view(
    client, telecom_survey, operator_headers, session
):
    telecom_survey.min_group_size = 198
    session.merge(telecom_survey)
    session.commit()
    page = client.get("/dashboard/telecom?lang=zh", headers=operator_headers).text
    assert page.count("已隐藏：可发布的回答少于 198 份") == 6
    ci = page[page.index('id="ci-table"') :]
    assert 'data-group="BR01"' not in ci  # BR01 has 197 responses
    rows = list(
        csv.reader(
            io.StringIO(
                client.get(
                    "/dashboard/telecom/scores.csv?lang=zh", headers=operator_headers
                ).text.lstrip("\ufeff")
            )
        )
    )
    br01 = [r for r in rows if r[0] == "BR01"]
    assert len(br01) == 1 and br01[0][3] == "是" and br01[0][7:15] == [""] * 8


def test_a_bad_choice_is_a_page_in_the_readers_language(client, telecom_survey, operator_headers):
    zh = client.get("/dashboard/telecom?lang=zh&by=nope", headers=operator_headers)
    assert zh.status_code == 422 and "行：该值无效" in zh.text and "<html" in zh.text
    en = client.get("/dashboard/telecom?lang=en&outcome=NOPE", headers=operator_headers)
    assert en.status_code == 422 and "Outcome: not a valid value" in en.text
    other = client.get("/dashboard/nosuch?lang=en", headers=operator_headers)
    assert other.status_code == 404 and "does not exist" in other.text


def test_branch_names_per_language_through_the_api(client, survey, admin_headers, factory):
    r = client.patch(
        "/api/v1/branches/BR01",
        json={"names": {"zh": "北京朝阳", "en": "Beijing Chaoyang"}},
        headers=admin_headers,
    )
    assert r.status_code == 200 and r.json()["names"] == {
        "zh": "北京朝阳",
        "en": "Beijing Chaoyang",
    }
    r = client.patch("/api/v1/branches/BR01", json={"names": {"en": None}}, headers=admin_headers)
    assert r.json()["names"] == {"zh": "北京朝阳"} and r.json()["name"] == "Branch BR01"
    listed = client.get("/api/v1/branches", headers=admin_headers).json()
    assert next(b for b in listed if b["code"] == "BR01")["names"] == {"zh": "北京朝阳"}
    bad = client.patch("/api/v1/branches/BR01", json={"names": {"z h": "x"}}, headers=admin_headers)
    assert bad.status_code == 422 and "names" in bad.text
    empty = client.patch("/api/v1/branches/BR01", json={"names": {"zh": ""}}, headers=admin_headers)
    assert empty.status_code == 422
    assert (
        client.patch("/api/v1/branches/BR99", json={"names": {}}, headers=admin_headers).status_code
        == 404
    )
    for role in ("operator", "researcher"):
        r = client.patch(
            "/api/v1/branches/BR01", json={"names": {"zh": "x"}}, headers=factory.key(role)
        )
        assert r.status_code == 403
    scoped = factory.key("admin", ["BR02"])
    assert (
        client.patch(
            "/api/v1/branches/BR01", json={"names": {"zh": "x"}}, headers=scoped
        ).status_code
        == 403
    )
    # the questionnaire shows the name of its language, the code's name otherwise
    zh = client.get("/s/telecom?branch=BR01&lang=zh").text
    en = client.get("/s/telecom?branch=BR01&lang=en").text
    assert "北京朝阳" in zh and "北京朝阳" not in en and "Branch BR01" in en


def test_one_rule_picks_a_branch_name():
    from app.surveys.models import branch_display_name

    names = {"zh": "北京朝阳", "en": "Beijing Chaoyang"}
    assert branch_display_name("BR01", "Chaoyang", names, "zh") == "北京朝阳"
    assert branch_display_name("BR01", "Chaoyang", names, "zh-CN") == "北京朝阳"
    assert branch_display_name("BR01", "Chaoyang", {"zh-CN": "朝阳"}, "zh") == "朝阳"
    assert branch_display_name("BR01", "Chaoyang", names, "de") == "Chaoyang"
    assert branch_display_name("BR01", "", None, "de") == "BR01"


def test_the_catalogue_has_every_text_in_both_languages():
    from app.reporting.i18n import catalogue

    zh, en = catalogue()["zh"], catalogue()["en"]
    assert set(zh) == set(en)
    for key in zh:
        placeholders = set(re.findall(r"{(\w+)}", str(zh[key])))
        assert placeholders == set(re.findall(r"{(\w+)}", str(en[key]))), key


def test_the_page_language_rule():
    from app.reporting.i18n import page_lang

    def lang(requested=None, cookie=None, accept=None, preferred=()):
        return page_lang(
            requested=requested, cookie=cookie, accept_language=accept, preferred=preferred
        )

    assert lang("en", "zh", "zh-CN") == "en"  # ?lang first
    assert lang("xx", "en", "zh-CN") == "en"  # an unknown ?lang is ignored, the cookie counts
    assert lang(None, None, "en-US,en;q=0.9,zh;q=0.5") == "en"
    assert lang(None, None, "de-DE, zh-TW;q=0.8") == "zh"  # the same language, another region
    assert lang(None, None, None, ["en", "zh"]) == "en"  # the instrument's first language
    assert lang(None, None, None, ["de"]) == "en"
    assert lang() == "zh"
