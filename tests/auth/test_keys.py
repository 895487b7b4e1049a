"""Key management (API and CLI), salted key hashes and the migration of unsalted ones."""

from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.auth.models import ApiKey
from app.auth.service import authenticate, create_api_key, hash_key, revoke_key, rotate_key
from app.cli import main as pvm
from app.db import alembic_config, downgrade, make_engine, make_sessionmaker, migrate
from app.errors import Conflict

KEYS = "/api/v1/keys"
# The revision before the one that salts key hashes (whatever the chain puts there).
BEFORE_SALT = str(
    ScriptDirectory.from_config(alembic_config()).get_revision("0320_audit_sessions").down_revision
)
FIELDS = {"id", "prefix", "role", "branches", "label", "created_at", "revoked_at"}


def bearer(raw: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw}"}


def events(session, action):
    session.rollback()
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_create_list_revoke_through_the_api(client, factory, survey, admin_headers, session):
    r = client.post(
        KEYS,
        json={"role": "operator", "branches": ["BR01", "BR02"], "label": "north desk"},
        headers=admin_headers,
    )
    assert r.status_code == 201, r.text
    created = r.json()
    raw = created.pop("key")
    assert set(created) == FIELDS and created["revoked_at"] is None
    assert raw.startswith(created["prefix"] + ".")
    assert client.get("/api/v1/branches", headers=bearer(raw)).status_code == 200

    listed = client.get(KEYS, headers=admin_headers)
    assert listed.status_code == 200
    rows = {k["id"]: k for k in listed.json()}
    assert rows[created["id"]] == created
    assert all(set(k) == FIELDS for k in rows.values())  # never a hash, salt or key
    stored = session.get(ApiKey, created["id"])
    assert stored.key_hash not in listed.text and stored.salt not in listed.text

    revoked = client.post(f"{KEYS}/{created['id']}/revoke", headers=admin_headers)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert client.get("/api/v1/branches", headers=bearer(raw)).status_code == 401  # at once
    again = client.post(f"{KEYS}/{created['id']}/revoke", headers=admin_headers)
    assert again.status_code == 200 and again.json()["revoked_at"] == revoked.json()["revoked_at"]

    admin_id = authenticate(session, raw_key=admin_headers["Authorization"][7:]).key_id
    made = events(session, "key.create")[-1]
    assert (made.key_id, made.via, made.target) == (admin_id, "api", str(created["id"]))
    assert made.detail == {
        "role": "operator",
        "branches": ["BR01", "BR02"],
        "label": "north desk",
        "prefix": created["prefix"],
    }
    gone = events(session, "key.revoke")
    assert [(e.key_id, e.target) for e in gone] == [(admin_id, str(created["id"]))]  # once


def test_key_requests_are_validated(client, survey, admin_headers):
    for body, field in (
        ({"role": "root"}, "role"),
        ({"role": "operator", "branches": ["BR99"]}, "branches"),
        ({"role": "operator", "branches": []}, "branches"),
        ({"role": "operator", "label": "x" * 201}, "label"),
        ({"role": "operator", "key": "pvm_chosen.secret"}, "key"),
    ):
        r = client.post(KEYS, json=body, headers=admin_headers)
        assert r.status_code == 422, (body, r.text)
        assert any(e["field"].startswith(field) for e in r.json()["detail"]), r.text
    assert client.post(f"{KEYS}/999999/revoke", headers=admin_headers).status_code == 404
    assert client.post(f"{KEYS}/0/revoke", headers=admin_headers).status_code == 422
    assert client.post(f"{KEYS}/{2**40}/revoke", headers=admin_headers).status_code == 422


def test_only_admins_manage_keys(client, survey, researcher_headers, operator_headers):
    for headers in (researcher_headers, operator_headers):
        assert client.get(KEYS, headers=headers).status_code == 403
        assert client.post(KEYS, json={"role": "admin"}, headers=headers).status_code == 403
        assert client.post(f"{KEYS}/1/revoke", headers=headers).status_code == 403
    assert client.get(KEYS).status_code == 401


def test_the_last_admin_key_cannot_be_revoked(client, session, survey):
    only, raw = create_api_key(session, role="admin")
    r = client.post(f"{KEYS}/{only.id}/revoke", headers=bearer(raw))
    assert r.status_code == 409 and "last admin key" in r.json()["detail"]
    assert client.get(KEYS, headers=bearer(raw)).status_code == 200
    other, _ = create_api_key(session, role="admin")
    assert client.post(f"{KEYS}/{only.id}/revoke", headers=bearer(raw)).status_code == 200
    with pytest.raises(Conflict):
        revoke_key(session, key_id=other.id)


def test_rotate_keeps_role_scope_and_label(session, survey):
    old, old_raw = create_api_key(session, role="operator", branches=["BR03"], label="desk 3")
    new, new_raw = rotate_key(session, key_id=old.id)
    assert (new.role, new.branches, new.label) == ("operator", ["BR03"], "desk 3")
    assert new.id != old.id and new_raw != old_raw
    assert authenticate(session, raw_key=old_raw) is None
    assert authenticate(session, raw_key=new_raw).key_id == new.id
    with pytest.raises(Conflict):
        rotate_key(session, key_id=old.id)


@pytest.fixture
def cli(settings, monkeypatch):
    """``pvm`` on the test database (the CLI reads its settings from the environment)."""
    from app.config import get_settings

    monkeypatch.setenv("PVM_DATABASE_URL", settings.database_url)
    get_settings.cache_clear()
    yield pvm
    get_settings.cache_clear()


def test_cli_keys_list_revoke_rotate(cli, session, survey, capsys):
    key, raw = create_api_key(session, role="researcher", branches=["BR02"], label="analyst")
    session.close()  # SQLite: the CLI's migration check needs the write lock
    assert cli(["keys", "list"]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.split()[0] == str(key.id))
    assert key.prefix in line and "researcher" in line and "BR02" in line and "analyst" in line
    assert raw.split(".")[1] not in out

    assert cli(["keys", "rotate", str(key.id)]) == 0
    new_raw = capsys.readouterr().out.strip()
    assert authenticate(session, raw_key=raw) is None
    rotated = authenticate(session, raw_key=new_raw)
    assert (rotated.role, rotated.branches) == ("researcher", ["BR02"])
    session.close()

    assert cli(["keys", "revoke", str(rotated.key_id)]) == 0
    assert "revoked" in capsys.readouterr().out
    assert authenticate(session, raw_key=new_raw) is None
    session.close()
    assert cli(["keys", "revoke", "999999"]) == 1
    assert "not found" in capsys.readouterr().err
    assert cli(["keys", "list"]) == 0  # revoked keys hidden unless --all
    assert not [x for x in capsys.readouterr().out.splitlines()[1:] if "researcher" in x]
    assert cli(["keys", "list", "--all"]) == 0
    assert capsys.readouterr().out.count("researcher") == 2
    vias = {e.via for e in events(session, "key.revoke")}
    assert vias == {"cli"}


def test_hashes_are_salted_per_key(session, survey):
    a, raw_a = create_api_key(session, role="operator")
    b, _ = create_api_key(session, role="operator")
    assert a.salt != b.salt and len(a.salt) == 32
    assert a.key_hash == hash_key(raw_a, a.salt)
    assert a.key_hash != hashlib.sha256(raw_a.encode()).hexdigest()  # not the unsalted form
    assert hash_key(raw_a, b.salt) != a.key_hash  # the same key under another salt differs


def test_migration_converts_unsalted_hashes(database_url):
    """Keys stored before 0320 (sha256 of the key) keep working after the upgrade; the unsalted
    hash is gone from the database; a downgrade revokes them (it cannot unsalt)."""
    engine = make_engine(database_url)
    try:
        migrate(engine, BEFORE_SALT)
        raw = "pvm_0123456789.legacy-secret-of-a-key"
        legacy = hashlib.sha256(raw.encode()).hexdigest()
        boot = "bootstrap-admin-key-0123456789"
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO api_keys (prefix, key_hash, role, created_at) VALUES "
                    "(:p, :h, 'operator', :t), (:p2, :h2, 'admin', :t)"
                ),
                {
                    "p": "pvm_0123456789",
                    "h": legacy,
                    "p2": "h_" + hashlib.sha256(("prefix:" + boot).encode()).hexdigest()[:14],
                    "h2": hashlib.sha256(boot.encode()).hexdigest(),
                    "t": "2026-01-01 00:00:00",
                },
            )
        migrate(engine)
        with make_sessionmaker(engine)() as session:
            principal = authenticate(session, raw_key=raw)
            assert principal is not None and principal.role == "operator"
            assert authenticate(session, raw_key=boot).role == "admin"
            assert authenticate(session, raw_key=raw + "x") is None
            stored = session.scalars(select(ApiKey)).all()
            assert all(len(k.salt) == 32 for k in stored)
            assert legacy not in {k.key_hash for k in stored}
        downgrade(engine, BEFORE_SALT)
        with engine.connect() as conn:
            revoked = conn.execute(sa.text("SELECT revoked_at FROM api_keys")).scalars().all()
        assert len(revoked) == 2 and all(r is not None for r in revoked)
    finally:
        engine.dispose()


def test_a_branch_limited_admin_cannot_widen_its_scope(client, session, survey, admin_headers):
    limited = bearer(create_api_key(session, role="admin", branches=["BR01"])[1])
    wide, _ = create_api_key(session, role="operator")
    other, _ = create_api_key(session, role="operator", branches=["BR02"])
    r = client.post(KEYS, json={"role": "admin"}, headers=limited)
    assert r.status_code == 201 and r.json()["branches"] == ["BR01"]  # its own scope
    r = client.post(KEYS, json={"role": "operator", "branches": ["BR02"]}, headers=limited)
    assert r.status_code == 403
    for key in (wide, other):
        assert client.post(f"{KEYS}/{key.id}/revoke", headers=limited).status_code == 403
    listed = {k["id"] for k in client.get(KEYS, headers=limited).json()}
    assert wide.id not in listed and other.id not in listed
    assert client.post(f"{KEYS}/{other.id}/revoke", headers=admin_headers).status_code == 200
