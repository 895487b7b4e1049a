"""Rate limits and bad-token lockout on the two public submission paths.

``POST /api/v1/surveys/{slug}/responses`` and ``POST /s/{slug}`` (the HTML form) need no key, so
they are guarded here, before any database work:

* a client (IP address as uvicorn sees it; run uvicorn with ``--proxy-headers`` behind a proxy)
  locked out for sending too many bad invitation tokens gets 429;
* more than ``submit_per_ip`` submissions per window from one client: 429;
* more than ``submit_per_token`` submissions carrying one invitation token: 429;
* every 403 answer to a submission that carried a token (unknown token, or one of another
  survey or branch; the form also answers 403 to a failed CSRF check) counts towards the
  lockout of that client.

Every 429 carries ``Retry-After`` (seconds). The middleware sits inside ``BodySizeLimit``, so the
body it reads to find the token is already bounded.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from starlette.responses import HTMLResponse, JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.config import Settings
from app.security.asgi import (
    content_type,
    form_of,
    json_of,
    parses_as_form,
    parses_as_json,
    read_body_or_answer,
    replay,
)
from app.security.counters import Counters, MemoryCounters, RedisCounters
from app.security.headers import NoStore
from app.security.nul import RejectNul

logger = logging.getLogger(__name__)

API_SUBMIT = re.compile(r"^/api/v1/surveys/[^/]+/responses$")
FORM_SUBMIT = re.compile(r"^/s/[^/]+$")
FORM_MESSAGE = (
    "<!doctype html><meta charset=utf-8><title>429</title>"
    "<p>提交过于频繁，请稍后再试。</p><p>Too many submissions; please try again later.</p>"
)


@dataclass
class Guard:
    """Where the middleware counts; ``app.state.security`` (tests may swap its parts).

    The limits themselves are read per request from the app's settings
    (``app.state.settings``: :class:`app.config.Settings`)."""

    counters: Counters
    shared: bool  # True: counters in Redis, shared by every process


def install(app: FastAPI, settings: Settings) -> Guard:
    """Add the guard, :class:`RejectNul` and :class:`NoStore` to ``app``; call it before
    ``BodySizeLimit`` is added (that one must be outside, so that these read bounded bodies)."""
    url = settings.counter_store_url()
    counters: Counters
    if url:
        # Processes of one deployment share the database, so its URL names their counters.
        namespace = hashlib.sha256(settings.database_url.encode()).hexdigest()[:16]
        counters = RedisCounters(url, namespace=namespace)
    else:
        counters = MemoryCounters()
    guard = Guard(counters=counters, shared=url is not None)
    app.state.security = guard
    app.add_middleware(SubmissionGuard, guard=guard)
    app.add_middleware(RejectNul)  # outside the guard: a NUL never reaches a counter key
    app.add_middleware(NoStore)
    return guard


async def token_of(scope: Scope, body: bytes, *, form: bool) -> str | None:
    """The invitation token of a submission, read as its handler reads it (F12): the form
    through ``request.form()`` (urlencoded or multipart, the last value of a repeated field),
    the API as FastAPI reads JSON (escapes such as ``\\u0074oken`` decoded)."""
    ctype = content_type(scope)
    value: Any = None
    if form:
        if not parses_as_form(ctype):
            return None
        fields = await form_of(scope, body)
        if fields is None:
            return None
        value = fields.get("token")
        await fields.close()
    elif parses_as_json(ctype):
        ok, data = json_of(body)
        value = data.get("token") if ok and isinstance(data, dict) else None
    return value.strip() or None if isinstance(value, str) else None


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:32]


class SubmissionGuard:
    def __init__(self, app: ASGIApp, *, guard: Guard) -> None:
        self.app, self.guard = app, guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not (API_SUBMIT.match(path) or FORM_SUBMIT.match(path))
        ):
            await self.app(scope, receive, send)
            return
        limits: Settings = scope["app"].state.settings
        if not limits.rate_limit_enabled:
            await self.app(scope, receive, send)
            return
        counters = self.guard.counters
        client = scope.get("client")
        ip = client[0] if client else "unknown"
        is_form = FORM_SUBMIT.match(path) is not None

        async def refuse(retry_after: int, detail: str) -> None:
            headers = {"Retry-After": str(max(1, retry_after))}
            response = (
                HTMLResponse(FORM_MESSAGE, 429, headers)
                if is_form
                else JSONResponse({"detail": detail}, 429, headers)
            )
            await response(scope, receive, send)

        bad, ttl = await counters.get(f"bad:{ip}")
        if bad >= limits.bad_token_max:
            logger.info("submission refused: client locked out after bad tokens")  # no IP
            await refuse(ttl, "too many invalid invitation tokens from this client; retry later")
            return
        count, ttl = await counters.incr(f"ip:{ip}", limits.submit_ip_window_s)
        if count > limits.submit_per_ip:
            await refuse(ttl, "too many submissions from this client; retry later")
            return
        body = await read_body_or_answer(receive, scope, send)
        if body is None:
            return
        token = await token_of(scope, body, form=is_form)
        if token is not None:
            count, ttl = await counters.incr(
                f"token:{_digest(token)}", limits.submit_token_window_s
            )
            if count > limits.submit_per_token:
                await refuse(ttl, "too many submissions with this invitation token; retry later")
                return
        status = 0

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, replay(body, receive), watch)
        if status == 403 and token is not None:
            await counters.incr(f"bad:{ip}", limits.bad_token_window_s)
