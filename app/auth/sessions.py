"""Server-side dashboard sessions: the browser's cookie holds a random id, never the API key.

The table keeps only the id's sha256, so a copy of the database holds no usable session. A
session lasts :data:`SESSION_TTL` from login; logging out deletes it, and revoking its key ends
it at once (the key is checked on every request, and :func:`app.auth.service.revoke_key`
deletes the key's sessions).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.auth.models import ApiKey, DashboardSession
from app.auth.service import Principal, hash_secret, principal_of
from app.db import begin_write
from app.surveys.models import utcnow

SESSION_TTL = timedelta(hours=8)
MAX_ID_LENGTH = 100  # cookie values longer than this are not ours: no hashing, no lookup


def start_session(
    session: Session, *, key_id: int, ttl: timedelta = SESSION_TTL, now: datetime | None = None
) -> str:
    """Store a new session of ``key_id`` and return its id (the cookie value)."""
    begin_write(session)
    raw = secrets.token_urlsafe(32)
    now = now or utcnow()
    session.add(DashboardSession(id_hash=hash_secret(raw), key_id=key_id, expires_at=now + ttl))
    session.commit()
    return raw


def session_principal(
    session: Session, *, session_id: str, now: datetime | None = None
) -> Principal | None:
    """The principal of a live session whose key is not revoked, else None."""
    if not session_id or len(session_id) > MAX_ID_LENGTH:
        return None
    key = session.scalar(
        select(ApiKey)
        .join(DashboardSession, ApiKey.id == DashboardSession.key_id)
        .where(
            DashboardSession.id_hash == hash_secret(session_id),
            DashboardSession.expires_at > (now or utcnow()),
            ApiKey.revoked_at.is_(None),
        )
    )
    return None if key is None else principal_of(key)


def end_session(session: Session, *, session_id: str) -> None:
    """Log out: the session is deleted (an unknown id is ignored)."""
    if not session_id or len(session_id) > MAX_ID_LENGTH:
        return
    begin_write(session)
    session.execute(
        delete(DashboardSession).where(DashboardSession.id_hash == hash_secret(session_id))
    )
    session.commit()


def purge_expired_sessions(session: Session, *, now: datetime | None = None) -> int:
    """Delete expired sessions (the maintenance job); returns how many."""
    begin_write(session)
    result = session.execute(
        delete(DashboardSession).where(DashboardSession.expires_at <= (now or utcnow()))
    )
    session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
