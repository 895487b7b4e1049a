"""Dashboard HTML and downloads without a browser: auth (header, cookie login), suppression,
branch scope, escaping. Structural checks only (no numeric tolerance needed)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

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
