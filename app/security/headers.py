"""Security headers of the server-rendered pages (questionnaire, dashboard)."""

from __future__ import annotations

from typing import TypeVar

from starlette.responses import Response

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
