"""Fit-job tests run twice: in-process (the default) and through Celery with the Redis broker.

The Celery variant needs ``PVM_TEST_REDIS_URL`` (CI sets redis://127.0.0.1:6379/15); it starts
an embedded Celery worker (celery.contrib.testing) on the test's database for each test.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from app.config import Settings
from app.db import make_engine, make_sessionmaker

REDIS_URL = os.environ.get("PVM_TEST_REDIS_URL")

MODES = [
    "local",
    pytest.param(
        "celery", marks=pytest.mark.skipif(not REDIS_URL, reason="PVM_TEST_REDIS_URL not set")
    ),
]


@pytest.fixture(params=MODES)
def fit_mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def fit_queue() -> str:
    """A queue of this test's own: parallel test processes share the Redis database."""
    return f"pvm-fits-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def celery_worker(fit_mode: str, database_url: str, fit_queue: str) -> Iterator[None]:
    """An embedded Celery worker on this test's database (a no-op in local mode)."""
    if fit_mode != "celery":
        yield
        return
    import redis
    from celery.contrib.testing.worker import start_worker

    from app.fits import celery_app

    assert REDIS_URL
    engine = make_engine(database_url)
    celery_app.configure_worker(make_sessionmaker(engine))
    worker_app = celery_app.make_celery(REDIS_URL, fit_queue)
    try:
        with start_worker(worker_app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
            yield
    finally:
        celery_app.configure_worker(None)
        engine.dispose()
        redis.Redis.from_url(REDIS_URL).delete(fit_queue)


@pytest.fixture
def settings(database_url: str, fit_mode: str, fit_queue: str, celery_worker: None) -> Settings:
    return Settings(
        database_url=database_url,
        environment="test",
        secret_key="test-secret-" + "x" * 40,
        bootstrap_admin_key=None,
        broker_url=REDIS_URL if fit_mode == "celery" else None,
        fit_queue=fit_queue,
        _env_file=None,  # type: ignore[call-arg]
    )
