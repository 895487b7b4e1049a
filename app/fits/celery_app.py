"""Celery application for fit jobs when ``PVM_BROKER_URL`` is set.

Run workers with ``pvm worker`` or ``celery -A app.fits.celery_app worker``. A task carries only
the job id; the worker reads everything else from the database (``PVM_DATABASE_URL``), so API
processes and workers share nothing but the database and the broker. Tasks are acknowledged
late: a worker killed mid-fit leaves the message to be delivered again, and the job's heartbeat
lets the API's sweeper re-queue it sooner (see ``service.recover_jobs``).
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from celery import Celery
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings, get_settings
from app.db import make_engine, make_sessionmaker
from app.fits.broker import DEFAULT_BROKER, TASK_NAME, make_client
from app.fits.service import new_runner_id
from app.fits.worker import execute_job
from app.invitations.jobs import DELIVER_TASK, run_deliver_task

logger = logging.getLogger(__name__)

_factory: sessionmaker[Session] | None = None
_settings: Settings | None = None
_runner: tuple[int, str] | None = None  # (pid, runner id): prefork children get their own
_lock = threading.Lock()


def configure_worker(
    factory: sessionmaker[Session] | None, settings: Settings | None = None
) -> None:
    """Use ``factory`` for the worker's database sessions and ``settings`` for its senders
    (tests); None: from the environment's settings."""
    global _factory, _settings
    _factory, _settings = factory, settings


def _worker_factory() -> sessionmaker[Session]:
    global _factory
    with _lock:
        if _factory is None:
            _factory = make_sessionmaker(make_engine(get_settings().database_url))
        return _factory


def _runner_id() -> str:
    global _runner
    with _lock:
        if _runner is None or _runner[0] != os.getpid():
            _runner = (os.getpid(), new_runner_id())
        return _runner[1]


def run_fit_task(fit_id: str) -> None:
    execute_job(_worker_factory(), fit_id, runner=_runner_id())


def run_invitations_task() -> None:
    run_deliver_task(_worker_factory(), settings=_settings or get_settings())


def make_celery(broker_url: str, queue: str) -> Celery:
    """The worker's Celery application: the client's configuration plus the fit task and the
    invitation delivery task."""
    app = make_client(broker_url, queue)
    app.task(name=TASK_NAME, ignore_result=True)(run_fit_task)
    app.task(name=DELIVER_TASK, ignore_result=True)(run_invitations_task)
    return app


_app: Celery | None = None


def __getattr__(name: str) -> Any:
    """``celery -A app.fits.celery_app`` looks for ``app`` (or ``celery_app``): built from the
    settings on first use, not when the module is imported."""
    global _app
    if name in ("app", "celery_app"):
        with _lock:
            if _app is None:
                settings = get_settings()
                _app = make_celery(settings.broker_url or DEFAULT_BROKER, settings.fit_queue)
        return _app
    raise AttributeError(name)
