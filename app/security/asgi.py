"""Small ASGI helpers: read a (bounded) request body once and hand it on unchanged."""

from __future__ import annotations

from starlette.exceptions import HTTPException
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
