"""API keys (roles, branch scope, revocation) and invitation tokens. Secrets are stored hashed.

A key is stored as HMAC-SHA256, under a random per-key salt, of the key's sha256
(:func:`hash_key`); the nesting let migration 0320 convert the unsalted sha256 hashes stored
before it without knowing any key. Invitation tokens (random, single use, looked up by hash)
stay plain sha256 hashes.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from app.audit.service import CLI, SYSTEM, Actor, Via, record
from app.auth.models import ROLES, ApiKey, DashboardSession, InvitationToken
from app.db import begin_write
from app.errors import Conflict, Forbidden, InvalidInput, NotFound, field_error
from app.surveys.models import Branch, Survey, utcnow

logger = logging.getLogger(__name__)

KEY_PREFIX = "pvm_"
# Which roles satisfy a requirement: an admin may do what a researcher may, and so on.
ROLE_RANK = {"operator": 0, "researcher": 1, "admin": 2}


@dataclass(frozen=True)
class Principal:
    role: str
    branches: list[str] | None = None  # None: every branch
    key_id: int | None = None

    def has_role(self, minimum: str) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[minimum]

    def can_see(self, branch: str) -> bool:
        return self.branches is None or branch in self.branches

    def scope(self, requested: Sequence[str] | None = None) -> list[str] | None:
        """The branches a query may cover: ``requested`` (checked) or the key's own scope."""
        if requested:
            outside = [b for b in requested if not self.can_see(b)]
            if outside:
                raise Forbidden(f"this key may not see branch(es) {', '.join(outside)}")
            return list(requested)
        return None if self.branches is None else list(self.branches)

    def covers(self, branches: Sequence[str] | None) -> bool:
        """Whether everything a key limited to ``branches`` (None: all) may see, this one may."""
        if self.branches is None:
            return True
        return branches is not None and all(self.can_see(b) for b in branches)

    def actor(self, via: Via = "api") -> Actor:
        """This key as the audit log names it."""
        return Actor(self.key_id, via)


def hash_secret(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def salted(salt: str, digest: str) -> str:
    """HMAC-SHA256 of a sha256 hex ``digest`` under ``salt``: the stored form of a key.

    Migration 0320 applies it to the unsalted hashes stored before it, so keep them in step.
    """
    return hmac.new(salt.encode("ascii"), digest.encode("ascii"), hashlib.sha256).hexdigest()


def hash_key(raw: str, salt: str) -> str:
    return salted(salt, hash_secret(raw))


def new_salt() -> str:
    return secrets.token_hex(16)


def _prefix_of(raw: str) -> str:
    """Lookup handle of a key: the public part of generated keys, a hash slice otherwise."""
    if raw.startswith(KEY_PREFIX) and "." in raw:
        return raw.split(".", 1)[0][:16]
    return "h_" + hash_secret("prefix:" + raw)[:14]


def create_api_key(
    session: Session,
    *,
    role: str,
    branches: Sequence[str] | None = None,
    label: str | None = None,
    raw_key: str | None = None,
    actor: Actor = CLI,
) -> tuple[ApiKey, str]:
    """Store a new key and return it with its clear text (shown once, never stored)."""
    begin_write(session)
    if role not in ROLES:
        raise InvalidInput([field_error("role", msg=f"must be one of {', '.join(ROLES)}")])
    if branches:
        known = set(session.scalars(select(Branch.code).where(Branch.code.in_(branches))))
        unknown = [b for b in branches if b not in known]
        if unknown:
            raise InvalidInput([field_error("branches", msg=f"unknown branch {unknown[0]}")])
    if raw_key is None:
        raw_key = f"{KEY_PREFIX}{secrets.token_hex(5)}.{secrets.token_urlsafe(32)}"
    salt = new_salt()
    key = ApiKey(
        prefix=_prefix_of(raw_key),
        key_hash=hash_key(raw_key, salt),
        salt=salt,
        role=role,
        branches=list(branches) if branches else None,
        label=label,
    )
    session.add(key)
    session.flush()  # the id, for the audit event
    detail = {"role": role, "branches": key.branches, "label": label, "prefix": key.prefix}
    record(session, actor=actor, action="key.create", target=str(key.id), detail=detail)
    session.commit()
    return key, raw_key


def principal_of(key: ApiKey) -> Principal:
    return Principal(role=key.role, branches=key.branches, key_id=key.id)


def authenticate(session: Session, *, raw_key: str) -> Principal | None:
    """The principal of a valid, unrevoked key, else None (checked on every request)."""
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == _prefix_of(raw_key)))
    if key is None or key.revoked_at is not None:
        # Spend the same time as a real comparison so timing does not reveal prefixes.
        hmac.compare_digest(hash_key(raw_key, "0" * 32), "0" * 64)
        return None
    if not hmac.compare_digest(hash_key(raw_key, key.salt), key.key_hash):
        return None
    return principal_of(key)


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


def get_key(session: Session, *, key_id: int) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"API key {key_id} not found")
    return key


def revoke_key(
    session: Session, *, key_id: int, actor: Actor = CLI, by: Principal | None = None
) -> ApiKey:
    """Revoke a key at once: its next request is a 401, its dashboard sessions end.

    Revoking a revoked key changes nothing. The last unrevoked admin key cannot be revoked
    (nobody could create keys through the API any more): Conflict. A branch-limited ``by``
    may revoke only keys limited to its branches: Forbidden.
    """
    begin_write(session)
    key = get_key(session, key_id=key_id)
    if by is not None and not by.covers(key.branches):
        session.rollback()
        raise Forbidden("this key may not manage keys of branches outside its own")
    if key.revoked_at is not None:
        session.rollback()
        return key
    if key.role == "admin":
        admins = session.scalar(
            select(func.count())
            .select_from(ApiKey)
            .where(ApiKey.role == "admin", ApiKey.revoked_at.is_(None), ApiKey.id != key.id)
        )
        if not admins:
            session.rollback()
            raise Conflict("this is the last admin key; create another admin key first")
    key.revoked_at = utcnow()
    session.execute(delete(DashboardSession).where(DashboardSession.key_id == key.id))
    record(session, actor=actor, action="key.revoke", target=str(key.id))
    session.commit()
    return key


def rotate_key(session: Session, *, key_id: int, actor: Actor = CLI) -> tuple[ApiKey, str]:
    """A new key with the old one's role, branches and label; the old one is revoked."""
    old = get_key(session, key_id=key_id)
    if old.revoked_at is not None:
        raise Conflict(f"API key {key_id} is already revoked")
    new, raw = create_api_key(
        session, role=old.role, branches=old.branches, label=old.label, actor=actor
    )
    revoke_key(session, key_id=old.id, actor=actor)
    return new, raw


def ensure_bootstrap_admin(session: Session, *, raw_key: str) -> bool:
    """Make ``raw_key`` an admin key unless it already exists; True when created."""
    if len(raw_key) < 16:
        raise ValueError("PVM_BOOTSTRAP_ADMIN_KEY must be at least 16 characters")
    if session.scalar(select(ApiKey.id).where(ApiKey.prefix == _prefix_of(raw_key))) is not None:
        return False
    create_api_key(session, role="admin", label="bootstrap", raw_key=raw_key, actor=SYSTEM)
    logger.info("created the bootstrap admin key")
    return True


def issue_tokens(
    session: Session, *, survey: Survey, branch_id: int, count: int
) -> list[tuple[InvitationToken, str]]:
    """New single-use tokens (row, clear text) in the caller's transaction (flushed: the rows
    have ids); only their hashes are stored."""
    raws = [secrets.token_urlsafe(18) for _ in range(count)]
    rows = [
        InvitationToken(token_hash=hash_secret(r), survey_id=survey.id, branch_id=branch_id)
        for r in raws
    ]
    session.add_all(rows)
    session.flush()
    return list(zip(rows, raws, strict=True))


def create_tokens(session: Session, *, survey: Survey, branch_code: str, count: int) -> list[str]:
    branch = session.scalar(select(Branch).where(Branch.code == branch_code))
    if branch is None:
        raise InvalidInput([field_error("branch", msg=f"unknown branch {branch_code!r}")])
    begin_write(session)
    issued = issue_tokens(session, survey=survey, branch_id=branch.id, count=count)
    session.commit()
    return [raw for _, raw in issued]


def find_token(session: Session, *, survey: Survey, raw: str) -> InvitationToken | None:
    """The token of ``survey`` whose clear text is ``raw``, or None."""
    return session.scalar(
        select(InvitationToken).where(
            InvitationToken.token_hash == hash_secret(raw), InvitationToken.survey_id == survey.id
        )
    )


def claim_token(session: Session, *, survey: Survey, raw: str | None, branch_id: int) -> int:
    """Check an invitation token and mark it used in the caller's transaction.

    Unknown or missing token, or one for another survey or branch: Forbidden. Already used:
    Conflict. The conditional UPDATE makes two concurrent uses of one token impossible.
    """
    if not raw:
        raise Forbidden("this survey requires an invitation token")
    token = session.scalar(
        select(InvitationToken).where(InvitationToken.token_hash == hash_secret(raw))
    )
    if token is None or token.survey_id != survey.id:
        raise Forbidden("unknown invitation token")
    if token.branch_id != branch_id:
        raise Forbidden("this invitation token belongs to another branch")
    if token.used_at is not None:
        raise Conflict("this invitation token has already been used")
    now: datetime = utcnow()
    if survey.anonymous:  # a precise use time could link the token to its response
        now = now.replace(hour=0, minute=0, second=0, microsecond=0)
    result = session.execute(
        update(InvitationToken)
        .where(InvitationToken.id == token.id, InvitationToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("this invitation token has already been used")
    return token.id


def link_token(session: Session, *, token_id: int, response_id: uuid.UUID) -> None:
    """Remember which response a token was used for (in the caller's transaction), so that
    the response can be erased on the respondent's request. Not for anonymous surveys."""
    session.execute(
        update(InvitationToken)
        .where(InvitationToken.id == token_id)
        .values(response_id=response_id)
        .execution_options(synchronize_session=False)
    )
