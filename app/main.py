"""The application factory: settings -> engine (migrated) -> FastAPI app with every router."""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from fastapi_offline import FastAPIOffline
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.auth.service import ensure_bootstrap_admin
from app.config import Settings, get_settings
from app.db import make_engine, make_sessionmaker, migrate
from app.deps import get_principal
from app.errors import DomainError, Unauthorized, capped
from app.instruments.service import sync_instruments
from app.maintenance import Maintenance
from app.security import install as install_security
from app.security.key_first import KeyFirst
from app.security.middleware import FORM_MESSAGE

logger = logging.getLogger(__name__)

APP_DIR = Path(__file__).resolve().parent
# Routers of feature packages, included when the module exists (features land independently).
ROUTERS = (
    "app.auth.api",
    "app.audit.api",
    "app.instruments.api",
    "app.surveys.api",
    "app.surveys.views",
    "app.psychometrics.api",
    "app.fits.api",
    "app.reporting.api",
    "app.reporting.views",
    "app.invitations.api",
)
IMPORT_PATH = re.compile(r"/responses/import$")


class BodySizeLimit:
    """413 for bodies over the limit: by Content-Length up front, else while streaming."""

    def __init__(self, app: ASGIApp, *, default: int, import_limit: int) -> None:
        self.app, self.default, self.import_limit = app, default, import_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.import_limit if IMPORT_PATH.search(scope["path"]) else self.default
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            response = JSONResponse(
                {"detail": f"request body over the limit of {limit} bytes"}, status_code=413
            )
            await response(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # HTTPException passes through FastAPI's body parsing unchanged.
                    raise HTTPException(413, f"request body over the limit of {limit} bytes")
            return message

        await self.app(scope, limited, send)


async def _domain_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    headers = dict(exc.headers or {})
    if isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = "Bearer"
    detail = capped(exc.detail) if isinstance(exc.detail, list) else exc.detail
    return JSONResponse(
        {"detail": jsonable_encoder(detail)}, status_code=exc.status_code, headers=headers
    )


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    detail = [
        {
            "type": err.get("type"),
            "loc": list(err.get("loc", ())),
            "field": ".".join(str(p) for p in err.get("loc", ()) if p != "body"),
            "msg": err.get("msg"),
        }
        for err in exc.errors()
    ]
    return JSONResponse({"detail": jsonable_encoder(capped(detail))}, status_code=422)


def _waited_too_long(exc: Exception) -> bool:
    """A pool checkout or a SQLite write lock that timed out: overload, not a bug."""
    if isinstance(exc, PoolTimeout):
        return True
    return isinstance(exc, OperationalError) and "database is locked" in str(exc.orig)


async def _overloaded(request: Request, exc: Exception) -> Response:
    """429 + Retry-After when the database could not be had in time (F7); other errors 500."""
    if not _waited_too_long(exc):
        raise exc
    logger.warning("database busy: %s", type(exc).__name__)
    headers = {"Retry-After": "2"}
    if request.url.path.startswith("/s/"):
        return HTMLResponse(FORM_MESSAGE, 429, headers)
    return JSONResponse({"detail": "the server is busy; retry later"}, 429, headers)


def prepare_database(settings: Settings) -> Any:
    """Engine for ``settings``, migrated to head, instruments synced, bootstrap key made."""
    engine = make_engine(settings.database_url)
    if settings.migrate_on_start:
        migrate(engine)
    sessionmaker = make_sessionmaker(engine)
    with sessionmaker() as session:
        sync_instruments(session)
        if settings.bootstrap_admin_key:
            ensure_bootstrap_admin(session, raw_key=settings.bootstrap_admin_key)
    return engine


def open_session(settings: Settings | None = None) -> Session:
    """A session on the configured database, migrated and synced first (for the CLI)."""
    session: Session = make_sessionmaker(prepare_database(settings or get_settings()))()
    return session


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    engine = prepare_database(settings)

    @asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[None]:
        # Retention and session expiry: once before serving, then periodically.
        maintenance = Maintenance(application.state.sessionmaker, settings=settings)
        await run_in_threadpool(maintenance.run_once)
        maintenance.start()
        yield
        maintenance.stop()
        engine.dispose()

    # /docs and /redoc with their Swagger UI and ReDoc bundles served by pvm itself (from the
    # fastapi-offline package, under /static-offline-docs): no CDN, so they work offline.
    app = FastAPIOffline(
        title="pvm",
        summary="Perceived-value surveys, psychometrics and SEM that agree with lavaan",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.templates = Jinja2Templates(directory=str(APP_DIR / "templates"))
    install_security(app, settings)  # inside BodySizeLimit: reads bounded bodies
    app.add_middleware(
        BodySizeLimit, default=settings.max_body_bytes, import_limit=settings.max_import_bytes
    )
    app.add_middleware(KeyFirst, marker=get_principal)  # outermost: 401 before any reading
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(PoolTimeout, _overloaded)
    app.add_exception_handler(OperationalError, _overloaded)
    for name in ROUTERS:
        app.include_router(importlib.import_module(name).router)
    static = APP_DIR / "static"
    if static.is_dir():
        app.mount("/static", StaticFiles(directory=str(static)), name="static")
    return app
