"""With a broker configured, invitation messages are sent by a Celery worker (the fit
worker's application, task ``pvm.invitations.deliver``), not by the API process."""

from __future__ import annotations

import os
import uuid

import pytest
import redis
from fastapi.testclient import TestClient

from app.config import Settings
from app.db import make_engine, make_sessionmaker
from app.fits import celery_app
from app.invitations.jobs import CeleryDispatcher
from app.main import create_app
from tests.conftest import Factory
from tests.invitations.conftest import SmtpServer
from tests.invitations.test_invitations import wait_settled

REDIS_URL = os.environ.get("PVM_TEST_REDIS_URL")


@pytest.mark.skipif(not REDIS_URL, reason="PVM_TEST_REDIS_URL not set")
def test_a_celery_worker_sends_the_batch(settings: Settings, smtp_server: SmtpServer) -> None:
    from celery.contrib.testing.worker import start_worker

    assert REDIS_URL
    queue = f"pvm-test-invitations-{uuid.uuid4().hex[:8]}"
    brokered = settings.model_copy(update={"broker_url": REDIS_URL, "fit_queue": queue})
    app = create_app(brokered)
    engine = make_engine(brokered.database_url)
    celery_app.configure_worker(make_sessionmaker(engine), brokered)
    try:
        worker_app = celery_app.make_celery(REDIS_URL, queue)
        with (
            start_worker(worker_app, pool="solo", perform_ping_check=False, shutdown_timeout=30),
            TestClient(app) as client,
        ):
            factory = Factory(app, client)
            factory.branches()
            factory.survey("field", requires_token=True)
            headers = factory.key("researcher")
            body = {"recipients": [{"email": "w@example.com", "branch": "BR01", "lang": "en"}]}
            created = client.post("/api/v1/surveys/field/invitations", json=body, headers=headers)
            assert created.status_code == 202
            assert isinstance(app.state.invitation_dispatcher, CeleryDispatcher)
            url = f"/api/v1/surveys/field/invitations/{created.json()['batch']}"
            batch = wait_settled(client, url, headers)
            assert batch["counts"]["sent"] == 1
            assert [m["To"] for m in smtp_server.messages()] == ["w@example.com"]
    finally:
        celery_app.configure_worker(None)
        engine.dispose()
        app.state.engine.dispose()
        redis.Redis.from_url(REDIS_URL).delete(queue)


@pytest.mark.skipif(not REDIS_URL, reason="PVM_TEST_REDIS_URL not set")
def test_the_maintenance_pass_queues_reminders_and_wakes_a_worker(
    settings: Settings, smtp_server: SmtpServer
) -> None:
    from datetime import timedelta

    from app.invitations.schemas import BatchCreate
    from app.invitations.senders import email_sender
    from app.invitations.service import Senders, create_batch, deliver_due
    from app.maintenance import run_maintenance
    from app.surveys.models import utcnow
    from app.surveys.service import get_survey

    assert REDIS_URL
    queue = f"pvm-test-invitations-{uuid.uuid4().hex[:8]}"
    brokered = settings.model_copy(update={"broker_url": REDIS_URL, "fit_queue": queue})
    app = create_app(brokered)
    try:
        with TestClient(app) as client:
            factory = Factory(app, client)
            factory.branches()
            factory.survey("field", requires_token=True)
        body = {"recipients": [{"email": "m@example.com", "branch": "BR01"}], "max_reminders": 1}
        with app.state.sessionmaker() as db:
            survey = get_survey(db, slug="field")
            create_batch(db, survey=survey, data=BatchCreate(**body), base_url="http://x")
        senders = Senders(email=email_sender(brokered))
        deliver_due(app.state.sessionmaker, settings=brokered, senders=senders)
        later = utcnow() + timedelta(days=4)
        done = run_maintenance(app.state.sessionmaker, settings=brokered, now=later)
        assert done["reminders_queued"] == 1
        assert redis.Redis.from_url(REDIS_URL).llen(queue) == 1  # the task for a worker
    finally:
        app.state.engine.dispose()
        redis.Redis.from_url(REDIS_URL).delete(queue)
