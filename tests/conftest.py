"""Shared fixtures for every test package (surveys, auth, psychometrics, fits, reporting).

Every fixture below that touches a database runs once per backend: SQLite (a temp file) always,
and PostgreSQL too when ``PVM_TEST_POSTGRES_URL`` is set (each test gets its own throw-away
schema, dropped afterwards, so ``pytest -n 2`` processes never collide).

Fixture names (use these):
  backend            "sqlite" | "postgresql" (parametrised)
  database_url       a fresh, empty database URL for this test
  settings           Settings for it (environment="test", fixed secret, no bootstrap key)
  app                create_app(settings): migrated to head, instruments synced
  client             fastapi.testclient.TestClient(app), entered (lifespan runs)
  session            a SQLAlchemy Session on the app's engine (closed after the test)
  factory            Factory helpers, see the class: branches(), survey(), key(role, branches),
                     import_csv(slug, data, headers), submit(slug, body, key), answers(), count()
  admin_headers      {"Authorization": "Bearer <admin key>"}; also researcher_headers,
  researcher_headers operator_headers (every branch) and operator_br01_headers (BR01 only)
  operator_headers
  survey             open survey "telecom" (telecom-pv version 1, min_group_size 5) with
                     branches BR01..BR12, no responses (an ORM Survey)
  telecom_survey     the same survey with tests/data/telecom_1500.csv imported (1,500 rows)
Constants: DATA_DIR (tests/data), TELECOM_CSV, BRANCHES.

Note: on SQLite a read transaction sees a snapshot. If a test reads with ``session``, then
writes through ``client`` and reads again, call ``session.commit()`` (or ``rollback()``) before
the second read. Services that write call ``app.db.begin_write(session)`` first.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.auth.service import create_api_key
from app.config import Settings
from app.db import make_engine
from app.instruments.registry import get_instrument
from app.main import create_app
from app.surveys import csvio
from app.surveys import service as surveys
from app.surveys.models import Branch, Survey
from app.surveys.schemas import SurveyCreate

DATA_DIR = Path(__file__).resolve().parent / "data"
TELECOM_CSV = DATA_DIR / "telecom_1500.csv"
BRANCHES = [f"BR{i:02d}" for i in range(1, 13)]
POSTGRES_URL = os.environ.get("PVM_TEST_POSTGRES_URL")

BACKENDS = [
    "sqlite",
    pytest.param(
        "postgresql",
        marks=pytest.mark.skipif(not POSTGRES_URL, reason="PVM_TEST_POSTGRES_URL not set"),
    ),
]


def postgres_schema_url(base_url: str, schema: str) -> str:
    """``base_url`` with its search path set to ``schema``."""
    url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'pvm.db'}"
        return
    assert POSTGRES_URL
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = make_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield postgres_schema_url(POSTGRES_URL, schema)
    finally:
        drop_schema(admin, schema)
        admin.dispose()


def drop_schema(admin: Any, schema: str, attempts: int = 6) -> None:
    """DROP SCHEMA, retried: a background thread of the test's app (a fit's heartbeat, the
    maintenance loop) may still be finishing a statement in it, and PostgreSQL then resolves
    the lock conflict by cancelling the DROP as a deadlock victim."""
    for attempt in range(attempts):
        try:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            return
        except OperationalError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 * (attempt + 1))


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        environment="test",
        secret_key="test-secret-" + "x" * 40,
        bootstrap_admin_key=None,
        broker_url=None,
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest.fixture
def app(settings: Settings) -> Iterator[FastAPI]:
    application = create_app(settings)
    yield application
    application.state.engine.dispose()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def session(app: FastAPI) -> Iterator[Session]:
    with app.state.sessionmaker() as db:
        yield db


class Factory:
    """Builds test data through the services (fast) or the API (when the test is about it)."""

    def __init__(self, app: FastAPI, client: TestClient) -> None:
        self.app, self.client = app, client

    def _session(self) -> Session:
        session: Session = self.app.state.sessionmaker()
        return session

    def branches(self, codes: list[str] | None = None) -> list[str]:
        codes = codes or BRANCHES
        with self._session() as db:
            existing = surveys.branch_ids(db)
            db.add_all(
                Branch(code=c, name=f"Branch {c}", region="North" if i % 2 else "South")
                for i, c in enumerate(codes)
                if c not in existing
            )
            db.commit()
        return codes

    def survey(self, slug: str = "telecom", **fields: Any) -> Survey:
        """A survey; telecom-pv ones are on version 1 (the version of `answers()` and of
        tests/data/telecom_1500.csv) unless ``instrument_version`` is given (None: current)."""
        if "instrument" not in fields:
            fields.setdefault("instrument_version", 1)
        with self._session() as db:
            return surveys.create_survey(db, data=SurveyCreate(slug=slug, **fields))

    def key(self, role: str, branches: list[str] | None = None) -> dict[str, str]:
        with self._session() as db:
            _, raw = create_api_key(db, role=role, branches=branches)
        return {"Authorization": f"Bearer {raw}"}

    def answers(self, value: int = 4, *, version: int = 1, **overrides: Any) -> dict[str, Any]:
        """A complete valid answer set for telecom-pv `version` (every item = ``value``); a
        version with no file of its own (an upload) has the current file's items."""
        spec = get_instrument("telecom-pv", version=min(version, 2))
        body: dict[str, Any] = {c: value for c in spec.item_codes}
        body.update(overrides)
        return body

    def submit(
        self,
        slug: str,
        body: dict[str, Any],
        key: str | None = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """POST a JSON response; ``key`` is sent as the Idempotency-Key header."""
        headers = {**(headers or {}), **({"Idempotency-Key": key} if key else {})}
        return self.client.post(
            f"/api/v1/surveys/{slug}/responses", json=body, headers=headers, **kwargs
        )

    def import_csv(self, slug: str, data: bytes | Path, headers: dict[str, str]) -> httpx.Response:
        content = data.read_bytes() if isinstance(data, Path) else data
        return self.client.post(
            f"/api/v1/surveys/{slug}/responses/import",
            files={"file": ("responses.csv", content, "text/csv")},
            headers=headers,
        )

    def import_direct(self, slug: str, data: bytes | Path) -> int:
        """Import through the service (no HTTP): the fast way to load data for other tests."""
        content = data.read_bytes() if isinstance(data, Path) else data
        with self._session() as db:
            return csvio.import_csv(db, survey=surveys.get_survey(db, slug=slug), data=content)

    def count(self, slug: str = "telecom") -> int:
        with self._session() as db:
            return surveys.count_responses(db, survey=surveys.get_survey(db, slug=slug))


@pytest.fixture
def factory(app: FastAPI, client: TestClient) -> Factory:
    return Factory(app, client)


@pytest.fixture
def admin_headers(factory: Factory) -> dict[str, str]:
    return factory.key("admin")


@pytest.fixture
def researcher_headers(factory: Factory) -> dict[str, str]:
    return factory.key("researcher")


@pytest.fixture
def operator_headers(factory: Factory) -> dict[str, str]:
    return factory.key("operator")


@pytest.fixture
def operator_br01_headers(factory: Factory, survey: Survey) -> dict[str, str]:
    return factory.key("operator", branches=["BR01"])


@pytest.fixture
def survey(factory: Factory) -> Survey:
    factory.branches()
    return factory.survey("telecom", min_group_size=5)


@pytest.fixture
def telecom_survey(factory: Factory, survey: Survey) -> Survey:
    assert factory.import_direct(survey.slug, TELECOM_CSV) == 1500
    return survey
