"""Caps on the fit-job backlog (issue 11, F10): queued + running jobs and bootstrap draws.

A new job is refused (429 with Retry-After) when its key already has ``per_key`` active jobs
or ``bootstrap_per_key`` active bootstrap draws, or when all keys together have ``total`` jobs
or ``bootstrap`` draws. Requests answered from the cache create nothing and are never refused.
The check runs again inside the write transaction that stores the job, serialised (SQLite's
``BEGIN IMMEDIATE``, a transaction-scoped advisory lock on PostgreSQL), so concurrent requests
cannot overshoot a cap.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.config import Settings
from app.errors import InvalidInput, TooManyRequests, field_error
from app.fits.models import ACTIVE, FitJob

# Any constant works: it names the one lock that serialises job creation on PostgreSQL.
ADVISORY_LOCK_ID = 0x70766D_F17


@dataclass(frozen=True)
class FitLimits:
    per_key: int
    total: int
    bootstrap: int
    bootstrap_per_key: int
    retry_after: int

    @classmethod
    def from_settings(cls, settings: Settings) -> FitLimits:
        return cls(
            per_key=settings.fit_max_queued_per_key,
            total=settings.fit_max_queued,
            bootstrap=settings.fit_max_bootstrap_queued,
            bootstrap_per_key=settings.fit_max_bootstrap_queued_per_key,
            retry_after=settings.fit_retry_after_s,
        )


def serialize_creation(session: Session) -> None:
    """Inside a write transaction: wait for other job creations (PostgreSQL; SQLite already
    holds its database-wide write lock)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": ADVISORY_LOCK_ID})


def check_limits(
    session: Session, *, limits: FitLimits, key_id: int | None, bootstrap: int
) -> None:
    """Raise TooManyRequests when a new job of ``key_id`` with ``bootstrap`` draws is too many."""
    rows = session.execute(
        select(FitJob.owner_key_id, FitJob.spec).where(FitJob.status.in_(ACTIVE))
    ).all()
    draws = [int((spec or {}).get("bootstrap") or 0) for _, spec in rows]
    mine = [d for (owner, _), d in zip(rows, draws, strict=True) if owner == key_id]
    most = min(limits.bootstrap, limits.bootstrap_per_key if key_id is not None else bootstrap)
    if bootstrap > most:  # waiting would not help: not a 429
        raise InvalidInput(
            [field_error("bootstrap", msg=f"at most {most} draws on this server (job limits)")]
        )
    hint = "; wait for a fit to finish or cancel one (DELETE /api/v1/fits/{id})"
    refuse = lambda msg: TooManyRequests(msg + hint, retry_after=limits.retry_after)  # noqa: E731
    if key_id is not None:
        if len(mine) >= limits.per_key:
            raise refuse(
                f"this key has {len(mine)} fits queued or running, the limit "
                f"(PVM_FIT_MAX_QUEUED_PER_KEY) is {limits.per_key}"
            )
        if bootstrap and sum(mine) + bootstrap > limits.bootstrap_per_key:
            raise refuse(
                f"this key has {sum(mine)} bootstrap draws queued or running; {bootstrap} more "
                f"would pass the limit (PVM_FIT_MAX_BOOTSTRAP_QUEUED_PER_KEY) of "
                f"{limits.bootstrap_per_key}"
            )
    if len(rows) >= limits.total:
        raise refuse(
            f"{len(rows)} fits are queued or running, the limit (PVM_FIT_MAX_QUEUED) is "
            f"{limits.total}"
        )
    if bootstrap and sum(draws) + bootstrap > limits.bootstrap:
        raise refuse(
            f"{sum(draws)} bootstrap draws are queued or running; {bootstrap} more would pass "
            f"the limit (PVM_FIT_MAX_BOOTSTRAP_QUEUED) of {limits.bootstrap}"
        )
