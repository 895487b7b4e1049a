"""Background sending of invitation messages, on the job machinery of fits.

Without a broker, :class:`LocalDispatcher` is a daemon thread in the API process that sends
whatever is due when kicked (a new batch, reminders) and wakes again when the next retry is
due. With ``PVM_BROKER_URL`` set, :class:`CeleryDispatcher` publishes a ``pvm.invitations.deliver``
task to the fit queue; a ``pvm worker`` runs it (registered in ``app.fits.celery_app``) and
schedules itself again, with a countdown, while retries are waiting. Either way the message rows
are the only shared state, and a claim on each row keeps two senders from sending one twice.
"""

from __future__ import annotations

import logging
import threading
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.fits.broker import make_client
from app.invitations.senders import email_sender, sms_provider
from app.invitations.service import Senders, deliver_due, next_due
from app.surveys.models import utcnow

logger = logging.getLogger(__name__)

DELIVER_TASK = "pvm.invitations.deliver"
IDLE_WAKE_S = 60.0  # the local thread also looks for due messages this often


def configured_senders(settings: Settings) -> Senders:
    return Senders(email=email_sender(settings), sms=sms_provider(settings))


def seconds_until_due(factory: sessionmaker[Session]) -> float | None:
    with factory() as session:
        due = next_due(session)
    if due is None:
        return None
    if due.tzinfo is None:
        due = due.replace(tzinfo=utcnow().tzinfo)
    return max(0.0, (due - utcnow()).total_seconds())


def deliver_once(
    factory: sessionmaker[Session], *, settings: Settings, senders: Senders | None = None
) -> dict[str, int]:
    """One delivery pass (the body of either dispatcher's job)."""
    return deliver_due(factory, settings=settings, senders=senders or configured_senders(settings))


class Dispatcher(Protocol):
    def start(self) -> None: ...

    def kick(self) -> None: ...

    def shutdown(self) -> None: ...


class LocalDispatcher:
    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        settings: Settings,
        senders: Senders | None = None,
    ) -> None:
        self.factory, self.settings = factory, settings
        self.senders = senders or configured_senders(settings)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="pvm-invitations", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def kick(self) -> None:
        self._wake.set()

    def shutdown(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            wait = IDLE_WAKE_S
            try:
                deliver_once(self.factory, settings=self.settings, senders=self.senders)
                due = seconds_until_due(self.factory)
                if due is not None:
                    wait = min(wait, max(due, 0.05))
            except Exception:  # a failed pass must not end the thread; the next one retries
                logger.exception("invitation delivery pass failed")
            self._wake.wait(wait)


class CeleryDispatcher:
    def __init__(self, *, broker_url: str, queue: str) -> None:
        self.client = make_client(broker_url, queue)

    def start(self) -> None:
        return None

    def kick(self, countdown: float = 0) -> None:
        self.client.send_task(DELIVER_TASK, countdown=countdown or None)

    def shutdown(self) -> None:
        return None


def run_deliver_task(factory: sessionmaker[Session], *, settings: Settings) -> dict[str, int]:
    """The Celery task's body: deliver, then come back when the next retry is due."""
    outcome = deliver_once(factory, settings=settings)
    due = seconds_until_due(factory)
    if due is not None and settings.broker_url:
        CeleryDispatcher(broker_url=settings.broker_url, queue=settings.fit_queue).kick(
            countdown=max(due, 1.0)
        )
    return outcome


def make_dispatcher(factory: sessionmaker[Session], *, settings: Settings) -> Dispatcher:
    if settings.broker_url:
        return CeleryDispatcher(broker_url=settings.broker_url, queue=settings.fit_queue)
    return LocalDispatcher(factory, settings=settings)
