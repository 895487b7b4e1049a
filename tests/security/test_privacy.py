"""Privacy: what an anonymous survey stores, and min_group_size in every operator aggregate."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import inspect, text

from app.auth.service import create_tokens
from app.surveys.models import Branch
from tests.security.helpers import ITEMS, form_post

UA = "Mozilla/5.0 (respondent-ua-4711)"
KEY = "alice.wang@example.com"
RESPONSE_COLUMNS = {
    "id", "survey_id", "branch_id", "submitted_at", "attributes", "lang", "channel",
    "idempotency_key", "request_hash", "client_ip", "user_agent", "answers", "texts",
    # response quality (app/surveys/quality.py): time to complete, its flags, and keyed
    # digests of the browser's random device cookie and of the invitation token
    "duration_seconds", "flags", "flagged", "device_key", "token_key",
}  # fmt: skip


def _rows(engine: Any, table: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text(f"SELECT * FROM {table}"))]


def _everything(engine: Any) -> str:
    """Every value of every table, as text."""
    out = []
    for table in inspect(engine).get_table_names():
        for row in _rows(engine, table):
            out.extend(str(v) for v in row.values())
    return "\n".join(out)


def _as_utc(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def test_anonymous_response_stores_nothing_that_names_the_respondent(
    factory, session, admin_headers
) -> None:
    factory.branches()
    survey = factory.survey("anon", anonymous=True, requires_token=True)
    tokens = create_tokens(session, survey=survey, branch_code="BR01", count=2)
    body = {"branch": "BR01", "answers": factory.answers(5), "lang": "en", "token": tokens[0]}
    headers = {"User-Agent": UA, "Idempotency-Key": KEY, "X-Forwarded-For": "203.0.113.9"}
    url = "/api/v1/surveys/anon/responses"
    first = factory.client.post(url, json=body, headers=headers)
    assert first.status_code == 201, first.text
    # idempotency still works on the hashed key
    again = factory.client.post(url, json=body, headers=headers)
    assert again.status_code == 200 and again.json() == first.json()
    other = factory.client.post(url, json={**body, "lang": "zh"}, headers=headers)
    assert other.status_code == 409
    # and through the form
    page = form_post(factory.client, "anon", token=tokens[1], headers={"User-Agent": UA})
    assert page.status_code == 303

    rows = _rows(factory.app.state.engine, "responses")
    assert len(rows) == 2
    assert set(rows[0]) == RESPONSE_COLUMNS, "a new column: decide what anonymous mode keeps"
    with_token = hashlib.sha256(
        json.dumps(
            {"branch": "BR01", "answers": body["answers"], "customer_type": None,
             "tenure": None, "lang": "en", "token": tokens[0]},
            sort_keys=True, separators=(",", ":"),
        ).encode()
    ).hexdigest()  # fmt: skip
    for row in rows:
        assert row["client_ip"] is None and row["user_agent"] is None
        # nothing derived from the invitation token; the time taken in whole minutes only; the
        # device key is a digest of a random cookie (duplicates), never of anything sent
        assert row["token_key"] is None
        assert row["duration_seconds"] is None or row["duration_seconds"] % 60 == 0
        assert row["device_key"] is None or len(str(row["device_key"])) == 64
        moment = _as_utc(row["submitted_at"])
        assert (moment.hour, moment.minute, moment.second, moment.microsecond) == (0, 0, 0, 0)
        assert moment.date() == datetime.now(UTC).date()
        assert str(row["idempotency_key"]).startswith("sha256:")
        assert KEY not in str(row["idempotency_key"])
        assert row["request_hash"] != with_token  # not matchable against the issued tokens
        assert uuid.UUID(str(row["id"])).version == 4  # random, not time-ordered
        assert row["channel"] in ("api", "web") and row["lang"] == "en"
        assert len(
            json.loads(row["answers"]) if isinstance(row["answers"], str) else row["answers"]
        ) == len(ITEMS)
    used = [_as_utc(t["used_at"]) for t in _rows(factory.app.state.engine, "invitation_tokens")]
    assert len(used) == 2  # a token's use time, to the second, would point at its response
    assert all((t.hour, t.minute, t.second, t.microsecond) == (0, 0, 0, 0) for t in used)
    blob = _everything(factory.app.state.engine)
    for secret in (UA, "respondent-ua", KEY, "203.0.113.9", "testclient", *tokens):
        assert secret not in blob, secret


def test_a_named_survey_keeps_the_client_for_contrast(factory, survey) -> None:
    r = factory.submit(
        "telecom", {"branch": "BR01", "answers": factory.answers(5)}, key=KEY,
        headers={"User-Agent": UA},
    )  # fmt: skip
    assert r.status_code == 201
    [row] = _rows(factory.app.state.engine, "responses")
    assert row["user_agent"] == UA and row["client_ip"] == "testclient"
    assert row["idempotency_key"] == KEY
    assert _as_utc(row["submitted_at"]).microsecond != 0 or _as_utc(row["submitted_at"]).second


# ---- min_group_size ------------------------------------------------------------------------
SMALL = "BRS"  # a branch with 2 responses, all answers 7 (index 100.0) under min_group_size 5


@pytest.fixture
def small_branch(factory, telecom_survey, session) -> dict[str, str]:
    session.add(Branch(code=SMALL, name="Small branch", region="North"))
    session.commit()
    for _ in range(2):
        body = {"branch": SMALL, "answers": factory.answers(7), "customer_type": "key_account"}
        assert factory.submit("telecom", body).status_code == 201
    return factory.key("operator", branches=[SMALL])


def _no_metrics(group: dict[str, Any]) -> bool:
    return group["suppressed"] is True and not group.get("constructs")


def test_scores_suppress_small_groups(factory, small_branch, operator_headers) -> None:
    for headers in (operator_headers, small_branch):
        r = factory.client.get("/api/v1/surveys/telecom/scores", headers=headers)
        assert r.status_code == 200
        groups = {g["group"]: g for g in r.json()["groups"]}
        assert groups[SMALL]["n"] == 2 and _no_metrics(groups[SMALL]), groups[SMALL]
        assert groups[SMALL]["n_published"] == 0
        # its cells are left out of every table, so no other branch needs hiding
        assert all(not g["suppressed"] for code, g in groups.items() if code != SMALL)
    # within the small branch, every customer-type group is small too
    r = factory.client.get(
        "/api/v1/surveys/telecom/scores", params={"by": "customer_type"}, headers=small_branch
    )
    assert r.status_code == 200
    assert all(_no_metrics(g) for g in r.json()["groups"]), r.json()["groups"]


def test_exports_and_charts_leak_no_small_group(factory, small_branch) -> None:
    """The small branch's index would be 100.0; no operator download may show it."""
    h = small_branch
    urls = [
        ("/api/v1/surveys/telecom/scores", {"format": "csv"}),
        ("/api/v1/surveys/telecom/scores", {"by": "customer_type", "format": "csv"}),
        ("/api/v1/surveys/telecom/trends", {"branch": SMALL}),
        ("/api/v1/surveys/telecom/trends", {"branch": SMALL, "format": "csv"}),
        ("/dashboard/telecom/scores.csv", {}),
        ("/dashboard/telecom/scores.svg", {}),
        ("/dashboard/telecom", {}),
        ("/dashboard/telecom", {"by": "customer_type"}),
    ]
    leaks = []
    for url, params in urls:
        r = factory.client.get(url, params=params, headers=h)
        assert r.status_code == 200, (url, params, r.status_code, r.text[:300])
        if "100.0" in r.text:
            leaks.append(f"{url} {params}")
    assert not leaks, leaks
    # the trend chart draws no value labels: with only the small branch it must draw no series
    r = factory.client.get(
        "/dashboard/telecom/trends.svg", params={"branch": SMALL, "lang": "en"}, headers=h
    )
    assert r.status_code == 200 and "Not enough responses" in r.text and ">TAN<" not in r.text


def test_drivers_of_a_small_branch_hide_its_performance(factory, small_branch) -> None:
    r = factory.client.get(
        "/api/v1/surveys/telecom/drivers", params={"branch": SMALL}, headers=small_branch
    )
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["suppressed"] is True
    assert all(d.get("performance") is None for d in report["drivers"]), report["drivers"]
    svg = factory.client.get(
        "/dashboard/telecom/ipa.svg", params={"branch": SMALL, "lang": "en"}, headers=small_branch
    )
    assert svg.status_code == 200 and "Not enough responses" in svg.text and ">REL<" not in svg.text


def test_a_suppressed_group_cannot_be_recovered_by_subtraction(
    factory, small_branch, operator_headers
) -> None:
    result = factory.client.get("/api/v1/surveys/telecom/scores", headers=operator_headers).json()
    overall = result["overall"]
    shown = [g for g in result["groups"] if not g["suppressed"]]
    assert [g["group"] for g in result["groups"] if g["suppressed"]] == [SMALL]
    for construct in ("TAN", "REL", "LOY"):
        # the overall stands on exactly the shown branches' cells: subtraction leaves nobody
        total_n = overall["constructs"][construct]["n"]
        assert total_n == sum(g["constructs"][construct]["n"] for g in shown)
        total = total_n * overall["constructs"][construct]["mean"]
        rest = sum(
            g["constructs"][construct]["n"] * g["constructs"][construct]["mean"] for g in shown
        )
        assert abs(total - rest) < 1e-6


def test_tables_with_the_small_branch_equal_those_without_it(
    factory, small_branch, operator_headers
) -> None:
    """The small branch's cells are in no table: adding it to a branch filter changes nothing
    but the counts (so differencing two such tables yields nobody)."""
    api = "/api/v1/surveys/telecom"
    pairs = [
        (f"{api}/scores", {"by": by}) for by in ("branch", "customer_type", "tenure", "month")
    ] + [(f"{api}/trends", {})]
    for url, params in pairs:
        without = factory.client.get(
            url, params={**params, "branch": "BR07"}, headers=operator_headers
        )
        with_it = factory.client.get(
            url, params={**params, "branch": f"BR07,{SMALL}"}, headers=operator_headers
        )
        assert without.status_code == with_it.status_code == 200, with_it.text
        a = {g["group"]: g.get("constructs") for g in without.json()["groups"]}
        b = {
            g["group"]: g.get("constructs") for g in with_it.json()["groups"] if g["group"] != SMALL
        }
        if params.get("by") == "branch":
            assert a == b
        else:
            for group, constructs in b.items():
                assert constructs == a.get(group), (url, params, group)
