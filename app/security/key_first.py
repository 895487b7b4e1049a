"""The API key is checked before anything else of a request (F16).

FastAPI reads and parses a route's body, and resolves dependencies in their declared order
(often the survey before the key), before a key dependency can refuse. So without a key an
unknown survey answered 404 and a known one 401 (slug enumeration), and a 46 MB import was
parsed before its 401. :class:`KeyFirst` answers 401 for every route that needs a key
(any route whose dependencies include :func:`app.deps.get_principal`) before the body is read
and before any lookup; the key it found is handed on in ``request.state.principal``, so
``get_principal`` does not look it up twice. Roles and branch scopes stay with the
dependencies (403 after the lookup is fine: the caller holds a valid key).
"""

from __future__ import annotations

import re
from typing import Any

from anyio import to_thread
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.responses import JSONResponse
from starlette.routing import get_route_path
from starlette.types import ASGIApp, Receive, Scope, Send

from app.auth.service import Principal, authenticate

MISSING = "missing API key (Authorization: Bearer <key>)"
UNKNOWN = "unknown API key"


def _needs(dependant: Dependant, marker: Any) -> bool:
    stack = [dependant]
    while stack:
        current = stack.pop()
        if current.call is marker:
            return True
        stack.extend(current.dependencies)
    return False


def bearer_key(scope: Scope) -> str | None:
    """The key of an ``Authorization: Bearer <key>`` header, as ``HTTPBearer`` reads it."""
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, credentials = get_authorization_scheme_param(value.decode("latin-1"))
            return credentials or None if scheme.lower() == "bearer" else None
    return None


class KeyFirst:
    """401 before the body and before any lookup, for the routes that need a key."""

    def __init__(self, app: ASGIApp, *, marker: Any) -> None:
        self.app, self.marker = app, marker
        self._table: list[tuple[re.Pattern[str], set[str], bool]] | None = None

    def _routes(self, app: Any) -> list[tuple[re.Pattern[str], set[str], bool]]:
        """(path regex, methods, needs a key) of every API route, in matching order; built on
        the first request, when every router is included."""
        if self._table is None:
            table = []
            for route in iter_route_contexts(app.router.routes):
                original = route.original_route
                if isinstance(original, APIRoute):
                    needs = _needs(original.dependant, self.marker)
                    table.append((route.path_regex, set(route.methods or ()), needs))
            self._table = table
        return self._table

    def _route_needs_key(self, scope: Scope) -> bool:
        path = get_route_path(scope)
        method = "GET" if scope["method"] == "HEAD" else scope["method"]
        for regex, methods, needs in self._routes(scope["app"]):
            if method in methods and regex.match(path):
                return needs
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._route_needs_key(scope):
            await self.app(scope, receive, send)
            return
        raw = bearer_key(scope)
        principal = None
        if raw is not None and "\x00" not in raw:  # PostgreSQL cannot even look a NUL up
            try:
                principal = await to_thread.run_sync(_authenticate, scope["app"], raw)
            except PoolTimeout:  # outside the app's error handlers: answer as they would
                busy = JSONResponse({"detail": "the server is busy; retry later"}, 429)
                busy.headers.update({"Retry-After": "2", "Cache-Control": "no-store"})
                await busy(scope, receive, send)
                return
        if principal is None:
            headers = {"WWW-Authenticate": "Bearer", "Cache-Control": "no-store"}
            detail = MISSING if raw is None else UNKNOWN
            await JSONResponse({"detail": detail}, 401, headers)(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


def _authenticate(app: Any, raw: str) -> Principal | None:
    with app.state.sessionmaker() as session:
        return authenticate(session, raw_key=raw)
