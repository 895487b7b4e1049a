"""Dashboard sessions: the cookie holds a server-side session id, never the key; logout,
revocation and expiry end it."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select, text

from app.auth.models import DashboardSession
from app.auth.service import authenticate
from app.auth.sessions import (
    SESSION_TTL,
    purge_expired_sessions,
    session_principal,
    start_session,
)
from app.surveys.models import utcnow

PAGE = "/dashboard/telecom"


def log_in(client, raw: str):
    page = client.get("/dashboard").text
    token = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', page).group(1)
    data = {"key": raw, "next": PAGE, "csrf_token": token}
    return client.post("/dashboard/login", data=data, follow_redirects=False)


def raw_key(headers) -> str:
    return headers["Authorization"].split(" ", 1)[1]


def test_cookie_holds_a_session_id_not_the_key(client, factory, survey, app):
    raw = raw_key(factory.key("operator", branches=["BR01"]))
    r = log_in(client, raw)
    assert r.status_code == 303
    cookie = r.headers["set-cookie"]
    assert "pvm_session=" in cookie and "httponly" in cookie.lower()
    value = client.cookies["pvm_session"]
    assert raw not in cookie and raw.split(".")[1] not in cookie and value not in raw
    assert client.get(PAGE).status_code == 200
    with app.state.engine.connect() as conn:  # the table holds only a hash of the id
        rows = [
            str(v) for row in conn.execute(text("SELECT * FROM dashboard_sessions")) for v in row
        ]
    assert len(rows) == 4 and value not in "\n".join(rows)


def test_logout_ends_the_session_on_the_server(client, factory, survey):
    raw = raw_key(factory.key("operator"))
    assert log_in(client, raw).status_code == 303
    stolen = client.cookies["pvm_session"]
    out = client.post("/dashboard/logout", follow_redirects=False)
    assert out.status_code == 303 and "pvm_session" not in client.cookies
    client.cookies.set("pvm_session", stolen, path="/dashboard")  # a copy kept elsewhere
    assert client.get(PAGE).status_code == 401
    assert client.post("/dashboard/logout", follow_redirects=False).status_code == 303
    client.cookies.clear()
    # the key itself still works: only the session ended
    assert log_in(client, raw).status_code == 303 and client.get(PAGE).status_code == 200


def test_revoking_the_key_ends_its_sessions(client, factory, survey, admin_headers, session):
    headers = factory.key("operator")
    assert log_in(client, raw_key(headers)).status_code == 303
    assert client.get(PAGE).status_code == 200
    key_id = authenticate(session, raw_key=raw_key(headers)).key_id
    r = client.post(f"/api/v1/keys/{key_id}/revoke", headers=admin_headers)
    assert r.status_code == 200
    assert client.get(PAGE).status_code == 401
    assert client.get(f"{PAGE}/scores.csv").status_code == 401
    session.rollback()
    assert session.scalars(select(DashboardSession)).all() == []


def test_revoked_key_session_is_refused_even_if_the_row_remains(session, factory, survey):
    headers = factory.key("operator")
    principal = authenticate(session, raw_key=raw_key(headers))
    sid = start_session(session, key_id=principal.key_id)
    assert session_principal(session, session_id=sid) == principal
    session.execute(text("UPDATE api_keys SET revoked_at = created_at"))
    session.commit()
    assert session_principal(session, session_id=sid) is None


def test_the_raw_key_cookie_of_old_logins_is_ignored(client, factory, survey):
    raw = raw_key(factory.key("operator"))
    client.cookies.set("pvm_key", raw, path="/dashboard")
    assert client.get(PAGE).status_code == 401
    r = log_in(client, raw)
    assert 'pvm_key=""' in r.headers.get("set-cookie", "")  # deleted at the next login


def test_sessions_expire(session, factory, survey):
    key_id = authenticate(session, raw_key=raw_key(factory.key("operator"))).key_id
    now = utcnow()
    old = start_session(session, key_id=key_id, now=now - SESSION_TTL - timedelta(seconds=1))
    live = start_session(session, key_id=key_id, now=now)
    assert session_principal(session, session_id=old, now=now) is None
    assert session_principal(session, session_id=live, now=now) is not None
    assert session_principal(session, session_id=live, now=now + SESSION_TTL) is None
    assert session_principal(session, session_id="x" * 500) is None
    assert session_principal(session, session_id="") is None
    assert purge_expired_sessions(session, now=now) == 1
    assert session_principal(session, session_id=live, now=now) is not None
    assert len(session.scalars(select(DashboardSession)).all()) == 1
