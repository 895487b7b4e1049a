"""Small ASGI helpers: read a (bounded) request body once and hand it on unchanged."""

from __future__ import annotations

import email.message
import json
from typing import Any

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Message, Receive, Scope, Send


async def read_body(receive: Receive) -> bytes:
    """The whole body. ``BodySizeLimit`` (outside) raises HTTPException(413) past its limit."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def read_body_or_answer(receive: Receive, scope: Scope, send: Send) -> bytes | None:
    """The body, or None after answering the HTTPException raised while reading it (413)."""
    try:
        return await read_body(receive)
    except HTTPException as exc:
        await JSONResponse({"detail": exc.detail}, exc.status_code)(scope, receive, send)
        return None


def replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives ``body`` once, then defers to the real one (disconnects)."""
    done = False

    async def replayed() -> Message:
        nonlocal done
        if not done:
            done = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


def content_type(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            return str(value.decode("latin-1").lower())
    return ""


def parses_as_json(content_type: str) -> bool:
    """Whether FastAPI reads a body with this Content-Type as JSON: ``application/json`` or
    ``application/*+json`` (``fastapi.routing``'s rule; with its default
    ``strict_content_type`` a body without Content-Type is not JSON)."""
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    if message.get_content_maintype() != "application":
        return False
    subtype = message.get_content_subtype()
    return subtype == "json" or subtype.endswith("+json")


def parses_as_form(content_type: str) -> bool:
    """Whether Starlette's ``request.form()`` reads this Content-Type (else: an empty form)."""
    media = content_type.split(";", 1)[0].strip()
    return media in ("multipart/form-data", "application/x-www-form-urlencoded")


async def form_of(scope: Scope, body: bytes) -> FormData | None:
    """``body`` parsed by the very parser the handlers use (``request.form()``), or None when
    it cannot be parsed (the handler will then answer for itself). Close it after use."""

    async def no_more() -> Message:
        return {"type": "http.disconnect"}

    request = Request({**scope, "type": "http"}, replay(body, no_more))
    try:
        return await request.form()  # the handlers' limits: Starlette's defaults
    except Exception:  # noqa: BLE001 - malformed bodies are the handler's to refuse
        return None


def json_of(body: bytes) -> tuple[bool, Any]:
    """``(ok, value)``: ``body`` read as FastAPI reads JSON (``json.loads``, escapes decoded)."""
    try:
        return True, json.loads(body)
    except (ValueError, RecursionError):
        return False, None
