"""422 for NUL characters in the path, the query, or any field of a body a handler reads.

PostgreSQL cannot store U+0000 in text columns: without this, a NUL in a slug, a branch code or
an Idempotency-Key reaches a query and fails there (500 on PostgreSQL, accepted on SQLite). No
field of pvm has a use for it, so it is refused up front on every route, before any handler.

Bodies are decoded the way the handlers decode them (F13), not searched as bytes: JSON through
``json.loads`` (so ``\\u0000`` is found and an escaped backslash followed by ``u0000`` is not),
urlencoded and multipart forms through ``request.form()`` (field names, values and file names;
a multipart charset such as UTF-7 can spell a NUL without a zero byte). The *content* of an
uploaded file is left to its importer, which reports bad rows itself.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import UploadFile
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from app.security.asgi import (
    content_type,
    form_of,
    json_of,
    parses_as_form,
    parses_as_json,
    read_body_or_answer,
    replay,
)


def _refuse(where: str) -> JSONResponse:
    msg = "NUL characters (U+0000) are not accepted"
    error = {"type": "value_error", "loc": [where], "field": where, "msg": msg}
    return JSONResponse({"detail": [error]}, 422)


def _has_nul(raw: bytes) -> bool:
    return b"\x00" in raw or b"%00" in raw


def json_has_nul(value: Any) -> bool:
    """Whether a decoded JSON value holds U+0000 in any string or key (walked, no recursion)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


async def _body_has_nul(scope: Scope, body: bytes, ctype: str) -> bool:
    if parses_as_json(ctype):
        ok, data = json_of(body)
        return ok and json_has_nul(data)
    if ctype.startswith("multipart/") and b"\x00" not in body and "charset" not in ctype:
        return False  # UTF-8 parts without a zero byte hold no NUL: skip parsing (imports)
    form = await form_of(scope, body)
    if form is None:
        return False
    try:
        for name, value in form.multi_items():
            text = value.filename or "" if isinstance(value, UploadFile) else value
            if "\x00" in name or "\x00" in text:
                return True
        return False
    finally:
        await form.close()


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
        ctype = content_type(scope)
        if scope["method"] in ("GET", "HEAD", "OPTIONS") or not (
            parses_as_json(ctype) or parses_as_form(ctype)
        ):
            await self.app(scope, receive, send)
            return
        body = await read_body_or_answer(receive, scope, send)
        if body is None:
            return
        if body and await _body_has_nul(scope, body, ctype):
            await _refuse("body")(scope, receive, send)
            return
        await self.app(scope, replay(body, receive), send)
