"""422 for NUL characters in the path, query or a JSON/urlencoded body.

PostgreSQL cannot store U+0000 in text columns: without this, a NUL in a slug, a branch code or
an Idempotency-Key reaches a query and fails there (500 on PostgreSQL, accepted on SQLite). No
field of pvm has a use for it, so it is refused up front on every route, before any handler.
Multipart bodies (CSV imports) are left to the importer, which reports bad rows itself.
"""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from app.security.asgi import content_type, read_body_or_answer, replay

TEXT_BODIES = ("application/json", "application/x-www-form-urlencoded")


def _refuse(where: str) -> JSONResponse:
    msg = "NUL characters (U+0000) are not accepted"
    error = {"type": "value_error", "loc": [where], "field": where, "msg": msg}
    return JSONResponse({"detail": [error]}, 422)


def _has_nul(raw: bytes) -> bool:
    return b"\x00" in raw or b"%00" in raw


class RejectNul:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw_path = scope.get("raw_path") or scope.get("path", "").encode("utf-8", "replace")
        if _has_nul(raw_path) or "\x00" in scope.get("path", ""):
            await _refuse("path")(scope, receive, send)
            return
        if _has_nul(scope.get("query_string", b"")):
            await _refuse("query")(scope, receive, send)
            return
        if not content_type(scope).startswith(TEXT_BODIES):
            await self.app(scope, receive, send)
            return
        body = await read_body_or_answer(receive, scope, send)
        if body is None:
            return
        if content_type(scope).startswith("application/json"):
            # JSON carries NUL as the escape \u0000 (raw control characters are invalid JSON).
            bad = b"\x00" in body or b"\\u0000" in body
        else:
            bad = _has_nul(body)
        if bad:
            await _refuse("body")(scope, receive, send)
            return
        await self.app(scope, replay(body, receive), send)
