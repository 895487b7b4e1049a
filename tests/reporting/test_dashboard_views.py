"""Dashboard HTML and downloads without a browser: auth (header, cookie login), suppression,
branch scope, escaping. Structural checks only (no numeric tolerance needed)."""

from __future__ import annotations

import xml.etree.ElementTree as ET


def test_login_form_then_cookie(client, telecom_survey, factory):
    r = client.get("/dashboard/telecom")
    assert r.status_code == 401 and 'name="key"' in r.text
    bad = client.post("/dashboard/login", data={"key": "nope", "next": "/dashboard/telecom"})
    assert bad.status_code == 401 and "not valid" in bad.text
    raw = factory.key("operator", branches=["BR01"])["Authorization"].split(" ", 1)[1]
    ok = client.post(
        "/dashboard/login", data={"key": raw, "next": "/dashboard/telecom"}, follow_redirects=False
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/dashboard/telecom"
    cookie = ok.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    page = client.get("/dashboard/telecom")
    assert page.status_code == 200
    assert 'data-group="BR01"' in page.text and 'data-group="BR02"' not in page.text
    assert "All (benchmark)" in page.text
    assert client.get("/dashboard/telecom?branch=BR02").status_code == 403
    # an open redirect is refused
    ok2 = client.post(
        "/dashboard/login",
        data={"key": raw, "next": "https://evil.example/"},
        follow_redirects=False,
    )
    assert ok2.headers["location"] == "/dashboard"


def test_dashboard_with_bearer_shows_table_charts_and_downloads(
    client, telecom_survey, operator_headers
):
    page = client.get("/dashboard/telecom", headers=operator_headers)
    assert page.status_code == 200
    html = page.text
    for b in ["BR01", "BR08"]:
        assert f'data-group="{b}"' in html
    assert html.count("<svg") == 2 and "http://" not in html.replace(
        "http://www.w3.org/2000/svg", ""
    )
    assert "Concentrate on" in html or "concentrate" in html
    csv = client.get("/dashboard/telecom/scores.csv", headers=operator_headers)
    assert csv.status_code == 200 and csv.text.startswith("group,n,suppressed")
    for name in ["scores.svg", "ipa.svg", "trends.svg"]:
        r = client.get(f"/dashboard/telecom/{name}", headers=operator_headers)
        assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
        ET.fromstring(r.text)
    assert client.get("/dashboard/telecom/scores.svg").status_code == 401


def test_dashboard_suppresses_small_groups(client, telecom_survey, operator_headers, session):
    telecom_survey.min_group_size = 198  # hides BR01 (197), BR08, BR02, BR06, BR05, BR07
    session.merge(telecom_survey)
    session.commit()
    html = client.get("/dashboard/telecom", headers=operator_headers).text
    assert html.count("hidden: fewer than 198 responses") == 6
    svg = client.get("/dashboard/telecom/scores.svg", headers=operator_headers).text
    assert 'data-group="BR01"' not in svg and "below the minimum group size 198" in svg
