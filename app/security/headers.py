"""Security headers of the server-rendered pages (questionnaire, dashboard)."""

from __future__ import annotations

from typing import TypeVar

from starlette.datastructures import MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

R = TypeVar("R", bound=Response)

# The questionnaire needs no script and no inline style.
FORM_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
# The dashboard loads its own PNG-export script and fetches its own SVGs; its heat-table cells
# carry inline style attributes, hence 'unsafe-inline' for styles only (never for scripts).
DASHBOARD_CSP = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "style-src 'self' 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def secure_page(response: R, *, csp: str) -> R:
    """Set the policy and the headers every HTML page of pvm carries; returns ``response``."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = csp
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


PRIVATE_PREFIXES = ("/api/", "/dashboard")


class NoStore:
    """``Cache-Control: no-store`` on every answer of the API and the dashboard that does not
    set its own: survey data (responses.csv and every other download or export), scores and
    fit results must never be kept by a browser or a shared cache (F20)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PRIVATE_PREFIXES):
            await self.app(scope, receive, send)
            return

        async def send_private(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_private)
