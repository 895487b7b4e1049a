"""Respondent data lifecycle: deleting a response (API, CLI), erasure by invitation token,
the aggregates following deletions (equal to a rebuild: 1e-9 relative on sums), the audit log
of deletions, exports and privacy changes, and client-data retention."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, text, update

from app.audit.models import AuditEvent
from app.auth.service import authenticate, create_tokens
from app.cli import main as pvm
from app.config import Settings
from app.db import begin_write
from app.main import create_app
from app.reporting.aggregates import rebuild
from app.reporting.models import COUNT_CONSTRUCT, ScoreCell
from app.stats.disclosure import ALL
from app.surveys.lifecycle import delete_responses, purge_client_data
from app.surveys.models import Response, utcnow
from tests.conftest import TELECOM_CSV

RESPONSES = "/api/v1/surveys/{slug}/responses"


def key_id(session, headers) -> int:
    return authenticate(session, raw_key=headers["Authorization"].split(" ", 1)[1]).key_id


def audit(session, action):
    session.rollback()
    query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
    return list(session.scalars(query))


def submit(factory, slug="telecom", branch="BR01", value=4, **extra):
    body = {"branch": branch, "answers": factory.answers(value), **extra}
    r = factory.submit(slug, body)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def tables(session, survey_id):
    """The survey's score cells: (dim, branch_id, month, key, construct) -> (n, sum, sumsq)."""
    session.rollback()
    return {
        (r.dim, r.branch_id, r.month, r.key, r.construct): (r.n, r.sum, r.sumsq)
        for r in session.scalars(select(ScoreCell).where(ScoreCell.survey_id == survey_id))
    }


def assert_same(got, want):
    assert set(got) == set(want)
    for k, (n, s, ss) in want.items():
        assert got[k][0] == n, k
        assert got[k][1] == pytest.approx(s, rel=1e-9, abs=1e-9), k
        assert got[k][2] == pytest.approx(ss, rel=1e-9, abs=1e-9), k


def test_delete_one_response(client, factory, survey, admin_headers, researcher_headers, session):
    kept = submit(factory, branch="BR02")
    gone = submit(factory, value=6)
    url = RESPONSES.format(slug="telecom") + f"/{gone}"
    assert client.delete(url, headers=researcher_headers).status_code == 403
    assert client.delete(url).status_code == 401
    r = client.delete(url, headers=admin_headers)
    assert r.status_code == 204 and r.content == b""
    assert client.delete(url, headers=admin_headers).status_code == 404
    assert factory.count() == 1
    assert session.get(Response, uuid.UUID(kept)) is not None
    # another survey's response is not reachable through this survey's path
    factory.survey("other")
    other = submit(factory, slug="other")
    wrong = RESPONSES.format(slug="telecom") + f"/{other}"
    assert client.delete(wrong, headers=admin_headers).status_code == 404
    assert factory.count("other") == 1
    bad = client.delete(RESPONSES.format(slug="telecom") + "/not-a-uuid", headers=admin_headers)
    assert bad.status_code == 422
    events = audit(session, "response.delete")
    assert [(e.key_id, e.via, e.target, e.detail) for e in events] == [
        (key_id(session, admin_headers), "api", "telecom", {"response": gone})
    ]
    # the operators' numbers no longer count it
    scores = client.get("/api/v1/surveys/telecom/scores", headers=admin_headers).json()
    assert sum(g["n"] for g in scores["groups"]) == 1


def test_insert_then_delete_equals_a_rebuild(session, factory, telecom_survey):
    """Delete a third of the imported responses (bulk path) and a few single ones (per-row
    path, < 32 rows): the maintained tables equal a rebuild from the remaining responses."""
    ids = list(
        session.scalars(
            select(Response.id).where(Response.survey_id == telecom_survey.id).order_by(Response.id)
        )
    )
    session.rollback()
    begin_write(session)
    assert delete_responses(session, survey=telecom_survey, ids=ids[::3]) == len(ids[::3])
    session.commit()
    begin_write(session)
    for one in ids[1:40:3]:
        assert delete_responses(session, survey=telecom_survey, ids=[one]) == 1
    assert delete_responses(session, survey=telecom_survey, ids=[uuid.uuid4()]) == 0
    session.commit()
    maintained = tables(session, telecom_survey.id)
    whole = [v[0] for k, v in maintained.items() if k[0] == ALL and k[4] == COUNT_CONSTRUCT]
    assert sum(whole) == (1500 - len(ids[::3]) - len(ids[1:40:3]))
    rebuild(session, survey=telecom_survey)
    session.commit()
    rebuilt = tables(session, telecom_survey.id)
    assert_same(maintained, rebuilt)


def test_deleting_every_response_leaves_no_cells(session, factory, survey):
    ids = [uuid.UUID(submit(factory, branch=b)) for b in ("BR01", "BR02", "BR02")]
    begin_write(session)
    delete_responses(session, survey=survey, ids=ids)
    session.commit()
    assert tables(session, survey.id) == {}


@pytest.fixture
def token_survey(factory, survey):
    return factory.survey("invited", requires_token=True)


def test_erase_by_invitation_token(client, factory, session, token_survey, admin_headers):
    tokens = create_tokens(session, survey=token_survey, branch_code="BR01", count=3)
    first = submit(factory, slug="invited", token=tokens[0])
    second = submit(factory, slug="invited", token=tokens[1])
    url = RESPONSES.format(slug="invited") + "/erase"
    assert client.post(url, json={"token": tokens[0]}).status_code == 401
    r = client.post(url, json={"token": tokens[0]}, headers=admin_headers)
    assert r.status_code == 200 and r.json() == {"deleted": first}
    assert factory.count("invited") == 1
    session.rollback()
    assert session.get(Response, uuid.UUID(second)) is not None
    again = client.post(url, json={"token": tokens[0]}, headers=admin_headers)
    assert again.status_code == 404 and "no stored response" in again.json()["detail"]
    unused = client.post(url, json={"token": tokens[2]}, headers=admin_headers)
    assert unused.status_code == 404
    unknown = client.post(url, json={"token": "nope"}, headers=admin_headers)
    assert unknown.status_code == 404 and "no invitation token" in unknown.json()["detail"]
    for body in ({}, {"token": ""}, {"token": "x" * 201}, {"token": "t", "extra": 1}):
        assert client.post(url, json=body, headers=admin_headers).status_code == 422
    # the token of another survey does not erase anything here
    factory.survey("plain")
    elsewhere = client.post(
        RESPONSES.format(slug="plain") + "/erase", json={"token": tokens[1]}, headers=admin_headers
    )
    assert elsewhere.status_code == 404 and "takes no invitation tokens" in elsewhere.text
    events = audit(session, "response.erase_by_token")
    assert len(events) == 1 and events[0].detail["response"] == first
    assert tokens[0] not in str(events[0].detail)  # never the token itself


def test_anonymous_surveys_cannot_erase_by_token(client, factory, session, survey, admin_headers):
    anon = factory.survey("anon", requires_token=True, anonymous=True)
    tokens = create_tokens(session, survey=anon, branch_code="BR01", count=1)
    submit(factory, slug="anon", token=tokens[0])
    with factory.app.state.engine.connect() as conn:
        links = conn.execute(text("SELECT response_id FROM invitation_tokens")).scalars().all()
    assert links == [None]  # no link was stored
    url = RESPONSES.format(slug="anon") + "/erase"
    r = client.post(url, json={"token": tokens[0]}, headers=admin_headers)
    assert r.status_code == 409 and "anonymous" in r.json()["detail"]
    assert factory.count("anon") == 1


def test_privacy_settings_changed_through_patch_are_audited(
    client, factory, session, survey, admin_headers
):
    factory.survey("fresh")
    body = {"requires_token": True, "anonymous": True, "min_group_size": 9, "status": "open"}
    r = client.patch("/api/v1/surveys/fresh", json=body, headers=admin_headers)
    assert r.status_code == 200, r.text
    (change,) = audit(session, "survey.privacy")
    assert change.target == "fresh" and change.key_id == key_id(session, admin_headers)
    assert change.detail == {
        "requires_token": [False, True],
        "anonymous": [False, True],
        "min_group_size": [5, 9],
    }
    # a refused change (a researcher weakening privacy) is not audited
    r = client.patch(
        "/api/v1/surveys/fresh", json={"min_group_size": 2}, headers=factory.key("researcher")
    )
    assert r.status_code == 403 and len(audit(session, "survey.privacy")) == 1


@pytest.fixture
def cli(settings, monkeypatch):
    from app.config import get_settings

    monkeypatch.setenv("PVM_DATABASE_URL", settings.database_url)
    get_settings.cache_clear()
    yield pvm
    get_settings.cache_clear()


def test_cli_delete_and_erase(cli, capsys, session, factory, token_survey):
    tokens = create_tokens(session, survey=token_survey, branch_code="BR01", count=2)
    by_token = submit(factory, slug="invited", token=tokens[0])
    by_id = submit(factory, slug="invited", token=tokens[1])
    session.close()
    assert cli(["responses", "delete", "--survey", "invited", by_id]) == 0
    assert by_id in capsys.readouterr().out
    assert cli(["responses", "delete", "--survey", "invited", by_id]) == 1
    assert "has no response" in capsys.readouterr().err
    assert cli(["responses", "delete", "--survey", "invited", "123"]) == 2
    assert cli(["responses", "delete", "--survey", "nope", by_id]) == 1
    capsys.readouterr()
    assert cli(["responses", "erase", "--survey", "invited", f"--token={tokens[0]}"]) == 0
    assert by_token in capsys.readouterr().out
    assert factory.count("invited") == 0
    vias = [(e.via, e.key_id) for e in audit(session, "response.delete")]
    assert vias == [("cli", None)]
    assert len(audit(session, "response.erase_by_token")) == 1


def test_exports_and_privacy_changes_are_audited(
    client, factory, survey, session, researcher_headers, admin_headers
):
    submit(factory)
    submit(factory, branch="BR02")
    r = client.get(
        "/api/v1/surveys/telecom/responses.csv",
        params={"branch": "BR02", "submitted_from": "2020-01-01T00:00:00Z"},
        headers=researcher_headers,
    )
    assert r.status_code == 200
    (export,) = audit(session, "export")
    assert export.key_id == key_id(session, researcher_headers) and export.target == "telecom"
    assert export.detail["rows"] == 1 and export.detail["branches"] == ["BR02"]
    assert export.detail["submitted_from"].startswith("2020-01-01")
    # a refused export is not one
    scoped = factory.key("researcher", branches=["BR01"])
    denied = client.get("/api/v1/surveys/telecom/responses.csv?branch=BR02", headers=scoped)
    assert denied.status_code == 403 and len(audit(session, "export")) == 1

    patch = client.patch(
        "/api/v1/surveys/telecom", json={"min_group_size": 7}, headers=admin_headers
    )
    assert patch.status_code == 200
    client.patch("/api/v1/surveys/telecom", json={"min_group_size": 7}, headers=admin_headers)
    client.patch("/api/v1/surveys/telecom", json={"status": "closed"}, headers=admin_headers)
    (change,) = audit(session, "survey.privacy")  # unchanged values and other fields: none
    assert change.detail == {"min_group_size": [5, 7]}
    assert change.key_id == key_id(session, admin_headers)


def test_audit_log_api_pages_and_filters(client, factory, survey, session, admin_headers):
    for _ in range(5):
        factory.key("operator")
    url = "/api/v1/audit"
    assert client.get(url, headers=factory.key("researcher")).status_code == 403
    assert client.get(url).status_code == 401
    first = client.get(url, params={"limit": 3}, headers=admin_headers)
    assert first.status_code == 200
    page = first.json()
    assert len(page["items"]) == 3 and page["next_before"] == page["items"][-1]["id"]
    ids = [e["id"] for e in page["items"]]
    assert ids == sorted(ids, reverse=True)  # newest first
    seen = list(ids)
    while page["next_before"] is not None:
        page = client.get(
            url, params={"limit": 3, "before": page["next_before"]}, headers=admin_headers
        ).json()
        seen += [e["id"] for e in page["items"]]
    assert len(seen) == len(set(seen)) == 7  # admin, 5 operators, researcher
    item = first.json()["items"][0]
    assert set(item) == {"id", "at", "key_id", "via", "action", "target", "detail"}
    assert item["at"].endswith(("Z", "+00:00"))
    created = client.get(url, params={"action": "key.create"}, headers=admin_headers).json()
    assert len(created["items"]) == 7 and created["next_before"] is None
    for params in ({"limit": 0}, {"limit": 501}, {"action": "nope"}, {"before": 0}):
        r = client.get(url, params=params, headers=admin_headers)
        assert r.status_code == 422, params
    scoped = factory.key("admin", branches=["BR01"])  # the log covers every branch
    assert client.get(url, headers=scoped).status_code == 403


def test_cli_audit_list(cli, capsys, session, factory, survey):
    factory.key("operator")
    session.close()
    assert cli(["audit", "list", "--action", "key.create"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and "key.create" in lines[0] and '"role": "operator"' in lines[0]
    assert cli(["audit", "list", "--json", "--limit", "1"]) == 0
    assert '"action": "key.create"' in capsys.readouterr().out


def back_date(app, days):
    with app.state.engine.begin() as conn:
        conn.execute(update(Response).values(submitted_at=utcnow() - timedelta(days=days)))


def client_data(session):
    session.rollback()
    return sorted(
        (r.client_ip is not None, r.user_agent is not None)
        for r in session.scalars(select(Response))
    )


def test_retention_clears_ip_and_user_agent(app, factory, survey, session):
    for _ in range(3):
        submit(factory)
    assert client_data(session) == [(True, True)] * 3
    back_date(app, 40)
    submit(factory)  # a fresh one keeps its client data
    assert purge_client_data(session, days=30) == 3
    assert client_data(session) == [(False, False)] * 3 + [(True, True)]
    assert purge_client_data(session, days=30) == 0  # nothing left to clear
    (event,) = audit(session, "retention.purge")
    assert event.detail["responses"] == 3 and event.via == "system"
    # a frozen clock 31 days on clears the fresh one too
    assert purge_client_data(session, days=30, now=utcnow() + timedelta(days=31)) == 1
    assert client_data(session) == [(False, False)] * 4
    assert factory.count() == 4  # the answers stay


def test_retention_runs_at_start_up(settings, factory, survey, session, app):
    submit(factory)
    back_date(app, 10)
    submit(factory)
    later = settings.model_copy(update={"client_data_retention_days": 5})
    other = create_app(later)
    from fastapi.testclient import TestClient

    with TestClient(other):
        assert client_data(session) == [(False, False), (True, True)]
    other.state.engine.dispose()


def test_cli_retention_run(cli, capsys, app, factory, survey, session, monkeypatch):
    submit(factory)
    back_date(app, 3)
    session.close()
    assert cli(["retention", "run"]) == 0  # default 30 days: too young
    assert "of 0 responses" in capsys.readouterr().out
    monkeypatch.setenv("PVM_CLIENT_DATA_RETENTION_DAYS", "2")
    from app.config import get_settings

    get_settings.cache_clear()
    assert cli(["retention", "run"]) == 0
    assert "of 1 responses older than 2 days" in capsys.readouterr().out
    assert client_data(session) == [(False, False)]
    assert cli(["retention", "run", "--days", "-1"]) == 2


def test_retention_setting_is_validated():
    with pytest.raises(ValueError):
        Settings(client_data_retention_days=0, _env_file=None)  # type: ignore[call-arg]
    assert Settings(_env_file=None).client_data_retention_days == 30  # type: ignore[call-arg]


def test_import_is_untouched_by_retention(session, factory, survey):
    assert factory.import_direct("telecom", TELECOM_CSV) == 1500
    assert purge_client_data(session, days=1, now=utcnow() + timedelta(days=3650)) == 0


def test_a_branch_limited_admin_deletes_only_in_its_branches(
    client, factory, session, token_survey
):
    limited = factory.key("admin", branches=["BR02"])
    tokens = create_tokens(session, survey=token_survey, branch_code="BR01", count=1)
    theirs = submit(factory, slug="invited", token=tokens[0])
    url = RESPONSES.format(slug="invited")
    assert client.delete(f"{url}/{theirs}", headers=limited).status_code == 403
    r = client.post(f"{url}/erase", json={"token": tokens[0]}, headers=limited)
    assert r.status_code == 403
    assert factory.count("invited") == 1
    assert audit(session, "response.delete") == audit(session, "response.erase_by_token") == []


def test_concurrent_deletions_of_one_response_subtract_it_once(app, factory, survey, session):
    import threading
    import time

    ids = [uuid.UUID(submit(factory, value=v)) for v in (3, 5, 6)]
    first, second = app.state.sessionmaker(), app.state.sessionmaker()
    begin_write(first)
    assert delete_responses(first, survey=survey, ids=[ids[0]]) == 1
    found: list[int] = []

    def racer() -> None:
        begin_write(second)  # SQLite: waits for the lock; PostgreSQL: the row lock below
        found.append(delete_responses(second, survey=survey, ids=[ids[0]]))
        second.commit()

    thread = threading.Thread(target=racer)
    thread.start()
    time.sleep(0.5)
    first.commit()
    thread.join(timeout=30)
    first.close()
    second.close()
    assert found == [0]
    maintained = tables(session, survey.id)
    rebuild(session, survey=survey)
    session.commit()
    rebuilt = tables(session, survey.id)
    assert_same(maintained, rebuilt)
