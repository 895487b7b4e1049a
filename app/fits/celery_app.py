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

from celery import Celery
from sqlalchemy.orm import Session, sessionmaker

from app.config import get_settings

logger = logging.getLogger(__name__)

TASK_NAME = "pvm.fits.run"
DEFAULT_BROKER = "redis://127.0.0.1:6379/0"

_factory: sessionmaker[Session] | None = None
_runner: tuple[int, str] | None = None  # (pid, runner id): prefork children get their own
_lock = threading.Lock()


def configure_worker(factory: sessionmaker[Session] | None) -> None:
    """Use ``factory`` for the worker's database sessions (tests); None: from settings."""
    global _factory
    _factory = factory


def _worker_factory() -> sessionmaker[Session]:
    global _factory
    with _lock:
        if _factory is None:
            from app.db import make_engine, make_sessionmaker

            _factory = make_sessionmaker(make_engine(get_settings().database_url))
        return _factory


def _runner_id() -> str:
    global _runner
    from app.fits.service import new_runner_id

    with _lock:
        if _runner is None or _runner[0] != os.getpid():
            _runner = (os.getpid(), new_runner_id())
        return _runner[1]


def run_fit_task(fit_id: str) -> None:
    from app.fits.worker import execute_job

    execute_job(_worker_factory(), fit_id, runner=_runner_id())


def make_celery(broker_url: str, queue: str) -> Celery:
    app = Celery("pvm", broker=broker_url, set_as_current=False)
    app.conf.update(
        task_default_queue=queue,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )
    app.task(name=TASK_NAME, ignore_result=True)(run_fit_task)
    return app


_settings = get_settings()
celery_app = make_celery(_settings.broker_url or DEFAULT_BROKER, _settings.fit_queue)
app = celery_app  # `celery -A app.fits.celery_app` looks for `app` or `celery`
