"""Hostile input: size limits (413), HTML escaping of user text, CSRF and the honeypot."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.surveys.models import Branch
from tests.conftest import TELECOM_CSV
from tests.security.helpers import form_post, hidden, set_limits

SCRIPT = "<script>alert('x')</script>"
IMG = '<img src=x onerror="alert(1)">'


@pytest.fixture
def small_limits(settings, survey):
    """An app on the same database with tiny body limits."""
    application = create_app(
        settings.model_copy(update={"max_body_bytes": 4_000, "max_import_bytes": 20_000})
    )
    with TestClient(application) as client:
        yield client
    application.state.engine.dispose()


def test_oversized_json_and_form_bodies_are_413(small_limits, factory) -> None:
    big = {"branch": "BR01", "answers": factory.answers(4), "lang": "x" * 5_000}
    r = small_limits.post("/api/v1/surveys/telecom/responses", json=big)
    assert r.status_code == 413 and "limit" in r.json()["detail"]
    # streamed (no Content-Length): refused while reading
    chunks = (b"x" * 1_000 for _ in range(10))
    r = small_limits.post(
        "/api/v1/surveys/telecom/responses",
        content=chunks,
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 413
    r = form_post(small_limits, "telecom", comment="y" * 5_000)
    assert r.status_code == 413
    # a request just under the limit still goes through
    ok = small_limits.post(
        "/api/v1/surveys/telecom/responses", json={"branch": "BR01", "answers": factory.answers(4)}
    )
    assert ok.status_code == 201
    assert factory.count() == 1


def test_oversized_csv_import_is_413(small_limits, factory, researcher_headers) -> None:
    frame = pd.read_csv(TELECOM_CSV, dtype=str, keep_default_na=False)
    small = frame.head(50).to_csv(index=False).encode()
    large = frame.head(400).to_csv(index=False).encode()
    assert len(small) < 20_000 < len(large)

    def post(data: bytes):
        files = {"file": ("r.csv", data, "text/csv")}
        return small_limits.post(
            "/api/v1/surveys/telecom/responses/import", files=files, headers=researcher_headers
        )

    assert post(large).status_code == 413
    assert factory.count() == 0
    assert post(small).status_code == 201  # the import limit, not the 4 kB body limit, applies
    assert factory.count() == 50


def test_user_text_is_escaped_on_every_page(factory, session, admin_headers, operator_headers):
    factory.branches()
    r = factory.client.post(
        "/api/v1/surveys",
        json={"slug": "esc", "instrument_version": 1, "title": {"en": SCRIPT, "zh": IMG}},
        headers=admin_headers,
    )
    assert r.status_code == 201
    # codes are restricted by the API; a row written another way may still hold markup
    session.add(Branch(code="E<i>1", name=IMG, region=SCRIPT))
    session.commit()
    for _ in range(6):
        body = {"branch": "E<i>1", "answers": factory.answers(5)}
        assert factory.submit("esc", body).status_code == 201
    pages = {
        "form zh": factory.client.get("/s/esc", params={"branch": "E<i>1", "lang": "zh"}),
        "form en": factory.client.get("/s/esc", params={"branch": "E<i>1", "lang": "en"}),
        "form no branch": factory.client.get("/s/esc"),
        "thanks": factory.client.get("/s/esc/thanks", params={"lang": "en"}),
        "dashboard": factory.client.get("/dashboard/esc", headers=operator_headers),
        "scores.svg": factory.client.get("/dashboard/esc/scores.svg", headers=operator_headers),
        "login": factory.client.post(
            "/dashboard/login", data={"key": "bad", "next": f"/dashboard/{SCRIPT}"}
        ),
        "unknown survey": factory.client.get(f"/s/{SCRIPT}"),
        "dashboard path": factory.client.get(f"/dashboard/{IMG}"),
    }
    problems = []
    for name, r in pages.items():
        for raw in (SCRIPT, IMG, "<i>", "<img"):
            if raw in r.text:
                problems.append(f"{name} ({r.status_code}) shows {raw!r} unescaped")
        # the only script a page may carry is pvm's own file, never an inline one
        for tag in re.findall(r"<script[^>]*>", r.text):
            if not re.fullmatch(r'<script src="/static/[\w/.-]+\.js" defer>', tag):
                problems.append(f"{name} ({r.status_code}) carries {tag!r}")
    assert not problems, problems
    assert "&lt;script&gt;" in pages["form en"].text  # the title is shown, escaped
    assert "E&lt;i&gt;1" in pages["dashboard"].text


def test_answers_echoed_back_are_escaped(factory, survey) -> None:
    r = form_post(factory.client, "telecom", TAN1=SCRIPT, customer_type=IMG)
    assert r.status_code == 422
    assert SCRIPT not in r.text and "<img" not in r.text


def test_form_needs_its_csrf_token(factory, survey) -> None:
    assert form_post(factory.client, "telecom", csrf_token="").status_code == 403
    assert form_post(factory.client, "telecom", csrf_token="f" * 64).status_code == 403
    # the token of another browser's page, posted with our cookie
    stolen = hidden(TestClient(factory.app).get("/s/telecom?branch=BR01").text, "csrf_token")
    factory.client.get("/s/telecom?branch=BR01")  # we have a cookie of our own
    assert form_post(factory.client, "telecom", csrf_token=stolen).status_code == 403
    assert factory.count() == 0
    assert form_post(factory.client, "telecom").status_code == 303
    assert factory.count() == 1


def test_honeypot_stores_nothing_and_still_counts_against_the_limit(app, factory, survey):
    set_limits(app, submit_per_ip=3)
    for _ in range(3):
        r = form_post(factory.client, "telecom", website="http://spam.example")
        assert r.status_code == 303 and r.headers["location"].startswith("/s/telecom/thanks")
    assert factory.count() == 0
    assert form_post(factory.client, "telecom", website="http://spam.example").status_code == 429


@pytest.mark.parametrize("version", ["9223372036854775808", "0", "-1"])
def test_out_of_range_numbers_are_422_not_500(factory, operator_headers, version) -> None:
    """Found by the fuzz run: a version past 64 bits overflowed SQLite's INTEGER (500)."""
    r = factory.client.get(
        "/api/v1/instruments/telecom-pv", params={"version": version}, headers=operator_headers
    )
    assert r.status_code == 422, r.text


def test_non_ascii_csrf_token_is_403_not_500(app, survey) -> None:
    """Found by the fuzz run of the HTML form."""
    with TestClient(app, raise_server_exceptions=False) as client:
        assert form_post(client, "telecom", csrf_token="é" * 64).status_code == 403


NUL_REQUESTS = [
    ("GET", "/api/v1/surveys/%00", None),
    ("GET", "/s/%00", None),
    ("GET", "/dashboard/%00", None),
    ("GET", "/api/v1/fits/%00", None),
    ("GET", "/s/telecom?branch=%00", None),
    ("GET", "/api/v1/surveys/telecom/reliability?branch=BR%0001", None),
    ("POST", "/api/v1/branches", {"code": "AB", "name": "x\u0000"}),
    ("POST", "/api/v1/surveys/telecom/responses", {"branch": "B\u0000", "answers": {}}),
]


@pytest.mark.parametrize(("method", "url", "body"), NUL_REQUESTS)
def test_nul_characters_are_422_not_500(factory, survey, admin_headers, method, url, body):
    """Found by fuzzing on PostgreSQL, which cannot store U+0000 in text (500 before)."""
    with TestClient(factory.app, raise_server_exceptions=False) as client:
        r = client.request(method, url, json=body, headers=admin_headers)
    assert r.status_code == 422, (r.status_code, r.text[:300])
    assert r.json()["detail"][0]["msg"].startswith("NUL characters")
    assert factory.count() == 0


def test_nul_in_a_form_body_is_422_and_clean_requests_pass(factory, survey) -> None:
    assert form_post(factory.client, "telecom", customer_type="a\x00").status_code == 422
    assert factory.count() == 0
    assert form_post(factory.client, "telecom").status_code == 303
    r = factory.submit("telecom", {"branch": "BR01", "answers": factory.answers(4)})
    assert r.status_code == 201 and factory.count() == 2
