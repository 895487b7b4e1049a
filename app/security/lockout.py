"""Lockout after repeated failures from one client, on the guard's counters.

Used by the dashboard login (a guessed operator key): the same fixed-window counters as the
bad invitation tokens (:mod:`app.security.middleware`), the same limits (``bad_token_max`` per
``bad_token_window_s``, from the app's settings), and a key of its own so that respondents'
token typos and operators' failed logins do not share one budget. Sync route handlers run in a
worker thread; the counters are async and bound to the event loop, hence ``from_thread``.
"""

from __future__ import annotations

import logging

from anyio import from_thread
from starlette.requests import Request

from app.config import Settings
from app.security.middleware import Guard

logger = logging.getLogger(__name__)


def _parts(request: Request, kind: str) -> tuple[Settings, Guard, str]:
    client = request.client.host if request.client else "unknown"
    return request.app.state.settings, request.app.state.security, f"{kind}:{client}"


def locked_for(request: Request, *, kind: str) -> int:
    """Seconds the client is still locked out of ``kind`` (0 = not locked); sync handlers."""
    settings, guard, key = _parts(request, kind)
    if not settings.rate_limit_enabled:
        return 0
    count, ttl = from_thread.run(guard.counters.get, key)
    return ttl if count >= settings.bad_token_max else 0


def record_failure(request: Request, *, kind: str) -> None:
    """Count one failure of the client for ``kind``; sync handlers."""
    settings, guard, key = _parts(request, kind)
    if settings.rate_limit_enabled:
        count, _ = from_thread.run(guard.counters.incr, key, settings.bad_token_window_s)
        if count == settings.bad_token_max:
            logger.info("client locked out of %s after %d failures", kind, count)  # no IP
