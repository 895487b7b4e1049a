"""The Celery client of fit jobs: what an API process needs to publish a job to the broker.

The worker side (``app.fits.celery_app``) registers the task under the same name on a Celery
application configured the same way.
"""

from __future__ import annotations

from celery import Celery

TASK_NAME = "pvm.fits.run"
DEFAULT_BROKER = "redis://127.0.0.1:6379/0"


def make_client(broker_url: str, queue: str) -> Celery:
    """A Celery application for ``queue`` on ``broker_url`` (no task registered: it sends by
    name)."""
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
    return app
