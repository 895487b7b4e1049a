"""Periodic housekeeping of a running app: client-data retention, expired dashboard sessions,
invitation contacts of closed surveys, due reminders (sent by the invitation dispatcher).

:func:`run_maintenance` runs once when the app starts (before it serves) and then every
``settings.maintenance_interval_s`` in a daemon thread of each process; every step is an
idempotent short write, so several workers running it is harmless. ``pvm retention run`` does
the retention step by hand.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from app.auth.sessions import purge_expired_sessions
from app.config import Settings
from app.invitations.jobs import CeleryDispatcher
from app.invitations.service import purge_closed_contacts, queue_reminders
from app.surveys.lifecycle import purge_client_data

logger = logging.getLogger(__name__)


def run_maintenance(
    factory: sessionmaker[Session], *, settings: Settings, now: datetime | None = None
) -> dict[str, int]:
    """One pass; returns what each step removed."""
    with factory() as session:
        cleared = purge_client_data(session, days=settings.client_data_retention_days, now=now)
        ended = purge_expired_sessions(session, now=now)
        contacts = purge_closed_contacts(session, settings=settings, now=now)
        reminders = queue_reminders(session, now=now)
    if reminders and settings.broker_url:  # a worker sends them (local threads poll anyway)
        CeleryDispatcher(broker_url=settings.broker_url, queue=settings.fit_queue).kick()
    return {
        "client_data_cleared": cleared,
        "sessions_expired": ended,
        "invitation_contacts_deleted": contacts,
        "reminders_queued": reminders,
    }


class Maintenance:
    """The periodic runner of one process (``start`` / ``stop``)."""

    def __init__(self, factory: sessionmaker[Session], *, settings: Settings) -> None:
        self.factory, self.settings = factory, settings
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="pvm-maintenance", daemon=True)

    def run_once(self) -> None:
        try:
            run_maintenance(self.factory, settings=self.settings)
        except Exception:  # a failed pass must not stop the app; the next one retries
            logger.exception("maintenance pass failed")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.wait(self.settings.maintenance_interval_s):
            self.run_once()
