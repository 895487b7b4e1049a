"""CSRF for the HTML forms: a random nonce in a cookie, and in the form an HMAC of it.

The HMAC is keyed with ``settings.secret_key`` and names its form (``purpose``), so a token
issued for one form is worthless for another; each form keeps its own cookie and path.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Literal

from starlette.requests import Request
from starlette.responses import Response


@dataclass(frozen=True)
class CsrfCookie:
    """One form's CSRF pair: cookie ``name`` on ``path`` holds the nonce."""

    name: str
    path: str
    purpose: str
    max_age: int
    samesite: Literal["lax", "strict"] = "strict"

    def sign(self, request: Request, nonce: str) -> str:
        key = (request.app.state.settings.secret_key or "").encode("utf-8")
        return hmac.new(key, f"{self.purpose}|{nonce}".encode(), hashlib.sha256).hexdigest()

    def nonce(self, request: Request) -> str:
        """The request's nonce if it is well formed, else a new one (set it on the response)."""
        nonce = request.cookies.get(self.name, "")
        if 16 <= len(nonce) <= 64 and nonce.isalnum():
            return nonce
        return secrets.token_hex(16)

    def valid(self, request: Request, submitted: str) -> bool:
        nonce = request.cookies.get(self.name, "")
        if not nonce or not submitted:
            return False
        # bytes, not str: compare_digest refuses non-ASCII str (a 500 instead of a 403)
        return hmac.compare_digest(self.sign(request, nonce).encode(), submitted.encode())

    def set_cookie(self, request: Request, response: Response, nonce: str) -> None:
        response.set_cookie(
            self.name,
            nonce,
            max_age=self.max_age,
            path=self.path,
            httponly=True,
            samesite=self.samesite,
            secure=request.url.scheme == "https",
        )


# The questionnaire (lax: a respondent may arrive from an e-mail link and post at once).
SURVEY_FORM = CsrfCookie("pvm_csrf", "/s/", "pvm-form-csrf", 7 * 24 * 3600, "lax")
DASHBOARD_LOGIN = CsrfCookie("pvm_login_csrf", "/dashboard", "pvm-dashboard-login", 8 * 3600)
