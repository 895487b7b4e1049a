"""Replays of issue 11's findings F9, F11-F13, F15-F17 and the F20 parts on headers (every
test here runs on SQLite and PostgreSQL). The server-level parts (timeouts, proxy headers) are
in test_server_options.py, the bursts of F7/F8 in test_bursts.py."""

from __future__ import annotations

import asyncio
import io
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from app.auth.service import create_tokens
from app.security.counters import MemoryCounters
from tests.conftest import TELECOM_CSV
from tests.security.helpers import ITEMS, form_post, hidden, set_limits

URL = "/api/v1/surveys/telecom/responses"
IMPORT = "/api/v1/surveys/telecom/responses/import"


def _csv(rows: list[dict[str, Any]]) -> bytes:
    return pd.DataFrame(rows).to_csv(index=False).encode()


def _row(**cells: Any) -> dict[str, Any]:
    return {"branch": "BR01", **{c: 4 for c in ITEMS}, **cells}


# ---- F9: dates and values --------------------------------------------------------------------
@pytest.mark.parametrize(
    "moment",
    [
        "2300-01-01T00:00:00+00:00",  # F9: made every aggregate 500 for good
        "9999-12-31T23:59:59",
        "0001-01-01T00:00:00",
        "1999-12-31T23:59:59+00:00",  # before the floor (2000-01-01)
        "9999-12-31T23:59:59-05:00",  # past datetime's range once shifted to UTC
        "0001-01-01T00:00:00+05:00",
    ],
)
def test_submitted_at_outside_the_window_is_422(factory, survey, researcher_headers, moment):
    good = _row(submitted_at="2026-01-15T10:00:00+00:00")
    r = factory.import_csv("telecom", _csv([good, _row(submitted_at=moment)]), researcher_headers)
    assert r.status_code == 422, r.text
    [problem] = r.json()["detail"]
    assert problem["row"] == 3 and problem["errors"][0]["field"] == "submitted_at"
    assert factory.count() == 0
    # every aggregate still answers
    assert factory.client.get("/api/v1/surveys/telecom/responses.csv", headers=researcher_headers)


def test_submitted_at_window_edges(factory, survey, researcher_headers, app) -> None:
    now = datetime.now(UTC)
    rows = [
        _row(submitted_at="2000-01-01T00:00:00+00:00"),  # the floor itself
        _row(submitted_at=(now + timedelta(seconds=60)).isoformat()),  # within the clock skew
    ]
    r = factory.import_csv("telecom", _csv(rows), researcher_headers)
    assert r.status_code == 201, r.text
    late = _row(submitted_at=(now + timedelta(seconds=400)).isoformat())
    r = factory.import_csv("telecom", _csv([late]), researcher_headers)
    assert r.status_code == 422 and "future" in r.text
    set_limits(app, clock_skew_s=3600, earliest_submitted_at=datetime(2020, 1, 1, tzinfo=UTC))
    assert factory.import_csv("telecom", _csv([late]), researcher_headers).status_code == 201
    old = _row(submitted_at="2019-06-01T00:00:00+00:00")
    r = factory.import_csv("telecom", _csv([old]), researcher_headers)
    assert r.status_code == 422 and "2020-01-01" in r.text
    assert factory.count() == 3


@pytest.mark.parametrize(
    "moment", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00"]
)
def test_date_filters_at_the_ends_of_time_are_not_500(
    factory, telecom_survey, researcher_headers, moment
) -> None:
    """Shifting these to UTC overflows Python's datetime (500 before)."""
    export = "/api/v1/surveys/telecom/responses.csv"
    for name in ("submitted_from", "submitted_to"):
        r = factory.client.get(export, params={name: moment}, headers=researcher_headers)
        assert r.status_code == 200, r.text[:200]
    # a filter that leaves no rows (so no job is queued): 422 "too few rows", not 500
    name = "submitted_from" if moment.startswith("9999") else "submitted_to"
    r = factory.client.post(
        "/api/v1/surveys/telecom/fits",
        json={"model": "TAN =~ TAN1 + TAN2 + TAN3", "filters": {name: moment}},
        headers=researcher_headers,
    )
    assert r.status_code == 422 and "too few rows" in r.text, r.text[:200]


@pytest.mark.parametrize(
    ("raw", "stored"),
    [("５", 5), ("７", 7), ("＋３", 3), (" ４ ", 4)],  # full-width: normalised
)
def test_full_width_digits_are_accepted(factory, survey, researcher_headers, raw, stored):
    r = factory.import_csv("telecom", _csv([_row(TAN1=raw)]), researcher_headers)
    assert r.status_code == 201, r.text
    csv = factory.client.get(
        "/api/v1/surveys/telecom/responses.csv", headers=researcher_headers
    ).text
    assert pd.read_csv(io.StringIO(csv))["TAN1"].tolist() == [stored]
    assert factory.submit("telecom", {"branch": "BR01", "answers": factory.answers(4, TAN1=raw)})
    assert factory.count() == 2


@pytest.mark.parametrize("raw", ["٥", "۵", "५", "²", "5٥", "𝟓", "9" * 5000, "-" + "9" * 30])
def test_other_digits_are_refused(factory, survey, researcher_headers, raw) -> None:
    r = factory.import_csv("telecom", _csv([_row(TAN1=raw)]), researcher_headers)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["errors"][0]["field"] == "TAN1"
    r = factory.submit("telecom", {"branch": "BR01", "answers": factory.answers(4, TAN1=raw)})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "answers.TAN1"
    assert factory.count() == 0


def test_form_shows_foreign_digits_as_an_item_error(factory, survey) -> None:
    r = form_post(factory.client, "telecom", TAN1="٥")
    assert r.status_code == 422 and 'id="err-TAN1"' in r.text or "TAN1" in r.text
    assert factory.count() == 0


def test_survey_titles_are_bounded(factory, survey, researcher_headers) -> None:
    base = "/api/v1/surveys"
    for title in ({"zh": "x" * 501}, {f"l{i}": "x" for i in range(21)}, {"": "x"}):
        r = factory.client.post(
            base, json={"slug": "t2", "title": title}, headers=researcher_headers
        )
        assert r.status_code == 422, title
        r = factory.client.patch(
            f"{base}/telecom", json={"title": title}, headers=researcher_headers
        )
        assert r.status_code == 422, title


# ---- F11: linear CSV header checks -----------------------------------------------------------
def test_csv_header_with_80000_columns_is_fast(factory, survey, researcher_headers) -> None:
    header = ["branch", *ITEMS, *(f"x{i}" for i in range(80_000)), "x1", "x2"]
    data = (",".join(header) + "\n").encode()
    started = time.monotonic()
    r = factory.import_csv("telecom", data, researcher_headers)
    elapsed = time.monotonic() - started
    assert r.status_code == 422
    messages = [e["msg"] for e in r.json()["detail"]]
    assert any(m.startswith("unknown columns: x0, x1") and "79980 more" in m for m in messages)
    assert any(m.startswith("duplicate columns: x1, x2") for m in messages)
    assert len(r.content) < 5_000
    assert elapsed < 5, elapsed  # 48 s before (quadratic); a few ms now


# ---- F12: the token lockout reads bodies as the handlers do ---------------------------------
@pytest.fixture
def invite(app, factory, session):
    factory.branches()
    survey = factory.survey("invite", requires_token=True)
    app.state.security.counters = MemoryCounters()
    set_limits(app, bad_token_max=3, bad_token_window_s=600)
    return create_tokens(session, survey=survey, branch_code="BR01", count=2)


def _json_with_escaped_token(factory, token: str) -> bytes:
    answers = ",".join(f'"{c}": 4' for c in ITEMS)
    return f'{{"branch": "BR01", "answers": {{{answers}}}, "\\u0074oken": "{token}"}}'.encode()


def test_escaped_json_token_key_counts_as_a_bad_token(app, factory, invite) -> None:
    url = "/api/v1/surveys/invite/responses"
    for guess in ("aaaa", "bbbb", "cccc"):
        body = _json_with_escaped_token(factory, guess)
        r = factory.client.post(url, content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 403, r.text
    r = factory.client.post(url, json={"branch": "BR01", "answers": factory.answers(4)})
    assert r.status_code == 429  # locked out
    assert factory.count("invite") == 0


def test_json_media_types_count_too(app, factory, invite) -> None:
    """FastAPI reads ``application/*+json`` bodies as JSON; so does the guard."""
    url = "/api/v1/surveys/invite/responses"
    for guess in ("aaaa", "bbbb", "cccc"):
        body = _json_with_escaped_token(factory, guess)
        r = factory.client.post(url, content=body, headers={"Content-Type": "application/x+json"})
        assert r.status_code == 403, r.text
    assert factory.client.post(url, json={"branch": "BR01", "answers": {}}).status_code == 429


def test_multipart_form_tokens_count_as_bad_tokens(app, factory, invite) -> None:
    page = factory.client.get("/s/invite", params={"branch": "BR01"}).text
    fields = {c: "4" for c in ITEMS} | {
        "csrf_token": hidden(page, "csrf_token"),
        "submission_id": hidden(page, "submission_id"),
        "branch": "BR01",
        "lang": "en",
    }
    for guess in ("aaaa", "bbbb", "cccc"):
        multipart = {k: (None, v) for k, v in (fields | {"token": guess}).items()}
        r = factory.client.post("/s/invite", files=multipart, follow_redirects=False)
        assert r.status_code == 403, r.text[:300]
    multipart = {k: (None, v) for k, v in (fields | {"token": invite[0]}).items()}
    r = factory.client.post("/s/invite", files=multipart, follow_redirects=False)
    assert r.status_code == 429  # locked out, the good token too
    assert factory.count("invite") == 0


def test_repeated_form_field_counts_the_value_the_handler_uses(app, factory, invite) -> None:
    """urlencoded ``token=good&token=bad``: the handler reads the last value, so does the
    guard (it used to read the first and count nothing)."""
    page = factory.client.get("/s/invite", params={"branch": "BR01"}).text
    base = [(c, "4") for c in ITEMS] + [
        ("csrf_token", hidden(page, "csrf_token")),
        ("submission_id", hidden(page, "submission_id")),
        ("branch", "BR01"),
    ]
    for guess in ("aaaa", "bbbb", "cccc"):
        content = "&".join(f"{k}={v}" for k, v in [*base, ("token", invite[0]), ("token", guess)])
        r = factory.client.post(
            "/s/invite",
            content=content,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            follow_redirects=False,
        )
        assert r.status_code == 403
    assert form_post(factory.client, "invite", token=invite[0]).status_code == 429


# ---- F13: NUL in any field a handler reads ---------------------------------------------------
@pytest.mark.parametrize("field", ["branch", "submission_id", "customer_type", "token", "TAN1"])
def test_nul_in_a_multipart_form_field_is_422(factory, survey, field) -> None:
    page = factory.client.get("/s/telecom", params={"branch": "BR01"}).text
    fields = {c: "4" for c in ITEMS} | {
        "csrf_token": hidden(page, "csrf_token"),
        "submission_id": hidden(page, "submission_id"),
        "branch": "BR01",
        "lang": "en",
    }
    fields[field] = fields.get(field, "x") + "\x00"
    r = factory.client.post(
        "/s/telecom", files={k: (None, v) for k, v in fields.items()}, follow_redirects=False
    )
    assert r.status_code == 422, (r.status_code, r.text[:300])
    assert factory.count() == 0


def test_nul_in_a_utf7_multipart_field_is_422(factory, survey) -> None:
    boundary = "b0undary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="branch"\r\n\r\nBR+AAA-01\r\n'
        f"--{boundary}--\r\n"
    ).encode()
    ctype = f"multipart/form-data; charset=utf-7; boundary={boundary}"
    r = factory.client.post("/s/telecom", content=body, headers={"Content-Type": ctype})
    assert r.status_code == 422
    assert factory.count() == 0


def test_nul_in_json_found_after_decoding(factory, survey) -> None:
    escaped = b'{"branch": "BR\\u0000", "answers": {}}'
    r = factory.client.post(URL, content=escaped, headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"][0]["msg"].startswith("NUL")
    # an escaped backslash followed by the text u0000 is no NUL: the answer is the handler's
    literal = b'{"branch": "BR\\\\u0000", "answers": {}}'
    r = factory.client.post(URL, content=literal, headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and not r.json()["detail"][0]["msg"].startswith("NUL")
    # application/*+json: FastAPI reads JSON, so the guard does too
    r = factory.client.post(URL, content=escaped, headers={"Content-Type": "application/a+json"})
    assert r.status_code == 422 and r.json()["detail"][0]["msg"].startswith("NUL")


def test_nul_inside_an_uploaded_csv_is_the_importers_422(
    factory, survey, researcher_headers
) -> None:
    data = _csv([_row(customer_type="consumer")]).replace(b"consumer", b"cons\x00umer")
    r = factory.import_csv("telecom", data, researcher_headers)
    assert r.status_code == 422, r.text
    assert factory.count() == 0


# ---- F16: the key before the survey and before the body --------------------------------------
PRIVATE = [
    ("GET", "/api/v1/surveys/{slug}"),
    ("GET", "/api/v1/surveys/{slug}/responses.csv"),
    ("POST", "/api/v1/surveys/{slug}/responses/import"),
    ("GET", "/api/v1/surveys/{slug}/reliability"),
    ("GET", "/api/v1/surveys/{slug}/efa"),
    ("GET", "/api/v1/surveys/{slug}/scores"),
    ("POST", "/api/v1/surveys/{slug}/fits"),
    ("PATCH", "/api/v1/surveys/{slug}"),
]


@pytest.mark.parametrize(("method", "path"), PRIVATE)
@pytest.mark.parametrize("key", [None, "pvm_unknown_key_0123456789abcdef"])
def test_unknown_and_known_surveys_answer_alike_without_a_key(factory, survey, method, path, key):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    answers = []
    for slug in ("telecom", "no-such-survey"):
        r = factory.client.request(method, path.format(slug=slug), headers=headers)
        answers.append((r.status_code, r.json()))
    assert answers[0] == answers[1] and answers[0][0] == 401, answers


@pytest.mark.parametrize("path", ["/dashboard/{slug}/scores.csv", "/dashboard/{slug}/ipa.svg"])
def test_dashboard_downloads_check_the_key_before_the_survey(factory, survey, path) -> None:
    codes = {factory.client.get(path.format(slug=s)).status_code for s in ("telecom", "nope")}
    assert codes == {401}


def test_no_body_is_read_before_the_401(app, survey) -> None:
    """An import of 46 MB without a key: not one chunk is received before the answer."""
    received: list[int] = []
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        received.append(1)
        return {"type": "http.request", "body": b"x" * 1_000_000, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": IMPORT,
        "raw_path": IMPORT.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"content-type", b"multipart/form-data; boundary=x"),
            (b"content-length", b"46000000"),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 401 and received == []


def test_a_valid_key_passes_and_roles_still_apply(factory, telecom_survey, operator_headers):
    r = factory.client.get("/api/v1/surveys/telecom/responses.csv", headers=operator_headers)
    assert r.status_code == 403  # known key, wrong role: after the key check, as before
    r = factory.client.get("/api/v1/surveys/nope/scores", headers=operator_headers)
    assert r.status_code == 404
    assert factory.client.get("/api/v1/surveys/telecom/scores", headers=operator_headers)


def test_public_submission_needs_no_key(factory, survey) -> None:
    r = factory.submit("telecom", {"branch": "BR01", "answers": factory.answers(4)})
    assert r.status_code == 201
    assert factory.submit("nope", {"branch": "BR01", "answers": {}}).status_code == 404


# ---- F17: capped error lists -----------------------------------------------------------------
def test_a_1mb_bad_body_gets_a_small_error(factory, survey) -> None:
    answers = {f"X{i:07d}": 4 for i in range(60_000)}  # ~1 MB of unknown items
    r = factory.submit("telecom", {"branch": "BR01", "answers": answers})
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert len(r.content) < 50_000, len(r.content)
    assert len(detail) == 101 and detail[-1]["type"] == "too_many_errors"
    assert detail[-1]["left_out"] > 60_000 - 100  # unknown items, and the missing ones
    assert factory.count() == 0


def test_pydantic_error_lists_are_capped_and_long_inputs_cut(factory, survey, admin_headers):
    r = factory.submit("telecom", {"branch": "B" * 900_000, "answers": []})
    assert r.status_code == 422 and len(r.content) < 5_000
    r = factory.client.post(
        "/api/v1/surveys/telecom/fits",
        json={"model": "F =~ X1\n" + "G =~ " + " + ".join(["Q"] * 20_000)},
        headers=admin_headers,
    )
    assert r.status_code == 422 and len(r.content) < 5_000


def test_import_error_rows_are_capped_with_a_count(factory, survey, researcher_headers) -> None:
    rows = [_row(branch="NOPE") for _ in range(250)]
    r = factory.import_csv("telecom", _csv(rows), researcher_headers)
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert [d["row"] for d in detail[:100]] == list(range(2, 102))
    assert detail[-1]["left_out"] == 150


# ---- F15: 422, not 500 -----------------------------------------------------------------------
@pytest.mark.parametrize("seed", ["-1", str(2**63), "99999999999999999999"])
def test_efa_seed_out_of_range_is_422(factory, telecom_survey, researcher_headers, seed) -> None:
    r = factory.client.get(
        "/api/v1/surveys/telecom/efa", params={"seed": seed}, headers=researcher_headers
    )
    assert r.status_code == 422 and "seed" in r.text


@pytest.mark.parametrize(
    "defined",
    [
        "*".join(["a"] * 5_000),  # RecursionError in Python's parser
        "-" * 20_000 + "1",  # MemoryError in Python's parser
        "+".join(["a"] * 500),  # parses, but nests 500 levels deep
        "1" + "^9" * 100,
    ],
)
def test_long_model_expressions_are_422(factory, telecom_survey, researcher_headers, defined):
    model = "TAN =~ a*TAN1 + TAN2 + TAN3\nREL =~ REL1 + REL2 + REL3\nx := " + defined
    r = factory.client.post(
        "/api/v1/surveys/telecom/fits", json={"model": model}, headers=researcher_headers
    )
    assert r.status_code == 422, r.text[:300]
    assert r.json()["detail"][0]["field"] == "model"


# ---- F20: downloads are not cached -----------------------------------------------------------
def test_downloads_and_api_answers_are_no_store(
    factory, telecom_survey, researcher_headers, operator_headers
) -> None:
    for url, headers in [
        ("/api/v1/surveys/telecom/responses.csv", researcher_headers),
        ("/api/v1/surveys/telecom/scores?format=csv", operator_headers),
        ("/api/v1/surveys/telecom/scores", operator_headers),
        ("/api/v1/surveys", operator_headers),
    ]:
        r = factory.client.get(url, headers=headers)
        assert r.status_code == 200 and r.headers["cache-control"] == "no-store", url
    r = factory.client.get("/api/v1/surveys/telecom/responses.csv")
    assert r.status_code == 401 and r.headers["cache-control"] == "no-store"
    # the dashboard's downloads (its page would start a background invariance fit)
    r = factory.client.get("/dashboard/telecom/scores.csv", headers=operator_headers)
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"


def test_static_files_stay_cacheable(factory) -> None:
    r = factory.client.get("/static/form.css")
    assert r.status_code == 200 and "no-store" not in r.headers.get("cache-control", "")


# ---- F7 in-process: timeouts on the database are 429, not 500 --------------------------------
def test_a_locked_database_answers_429(factory, survey, monkeypatch, backend) -> None:
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    from app.surveys import service

    def locked(*_: Any, **__: Any) -> None:
        raise OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked"))

    def pool(*_: Any, **__: Any) -> None:
        raise PoolTimeout("QueuePool limit of size 5 overflow 10 reached")

    body = {"branch": "BR01", "answers": factory.answers(4)}
    with TestClient(factory.app, raise_server_exceptions=False) as client:
        for fail in (locked, pool):
            monkeypatch.setattr(service, "begin_write", fail)
            r = client.post(URL, json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
            assert r.status_code == 429 and int(r.headers["retry-after"]) > 0, r.text
            r = form_post(client, "telecom")
            assert r.status_code == 429 and "try again later" in r.text
        monkeypatch.setattr(service, "begin_write", lambda *_: 1 / 0)
        assert client.post(URL, json=body).status_code == 500  # a real bug stays a 500
    assert factory.count() == 0


def test_the_reference_file_still_imports(factory, survey, researcher_headers) -> None:
    assert factory.import_csv("telecom", TELECOM_CSV, researcher_headers).status_code == 201


def test_key_check_on_a_busy_pool_answers_429(factory, survey, operator_headers, monkeypatch):
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    from app.security import key_first

    def busy(*_: Any, **__: Any) -> None:
        raise PoolTimeout("QueuePool limit of size 5 overflow 10 reached")

    monkeypatch.setattr(key_first, "authenticate", busy)
    r = factory.client.get("/api/v1/surveys/telecom", headers=operator_headers)
    assert r.status_code == 429 and r.headers["retry-after"] == "2"
