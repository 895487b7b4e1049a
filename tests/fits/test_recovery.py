"""Jobs left behind by a crashed process are re-run once, then failed; never stuck "running"."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.config import Settings
from app.fits import service
from app.fits.models import FitJob
from app.fits.schemas import FitCreate
from app.fits.worker import CeleryRunner, LocalRunner
from app.main import create_app
from app.surveys.models import Survey, utcnow

MODEL = "TAN =~ TAN1 + TAN2 + TAN3\nREL =~ REL1 + REL2 + REL3 + REL4"


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def orphan(session: Session, survey: Survey, *, bootstrap: int = 0, **fields: Any) -> str:
    """A job row as a crashed process would leave it (``fields`` override the row's values)."""
    spec = FitCreate(model=MODEL, missing="listwise", bootstrap=bootstrap).canonical(model=MODEL)
    row = FitJob(
        id=uuid.uuid4().hex,
        survey_id=survey.id,
        cache_key=uuid.uuid4().hex,
        data_fingerprint="x" * 64,
        spec=spec,
        progress=0.4,
        **{"status": "running", "attempts": 1, "heartbeat_at": utcnow(), **fields},
    )
    session.add(row)
    session.commit()
    return row.id


def read(client: TestClient, headers: dict[str, str], fit_id: str) -> dict[str, Any]:
    r = client.get(f"/api/v1/fits/{fit_id}", params={"wait": 30}, headers=headers)
    assert r.status_code == 200
    return dict(r.json())


def test_runner_kind_follows_the_broker_setting(
    client: TestClient, app: FastAPI, fit_mode: str
) -> None:
    expected = CeleryRunner if fit_mode == "celery" else LocalRunner
    assert isinstance(app.state.fit_runner, expected)


def test_startup_recovers_jobs_of_dead_processes(
    settings: Settings,
    session: Session,
    telecom_survey: Survey,
    researcher_headers: dict[str, str],
) -> None:
    host = service.HOST
    rerun = orphan(session, telecom_survey, runner=f"{host}:{dead_pid()}:deadbeef")
    stale = orphan(
        session, telecom_survey, runner="elsewhere:1:x", heartbeat_at=utcnow() - timedelta(hours=1)
    )
    give_up = orphan(session, telecom_survey, runner=f"{host}:{dead_pid()}:x", attempts=2)
    never_started = orphan(session, telecom_survey, status="queued", attempts=0, runner=None)
    alive = orphan(session, telecom_survey, runner="elsewhere:2:y")  # fresh heartbeat: untouched

    # A new API process starts: its lifespan runs the recovery.
    with TestClient(create_app(settings)) as restarted:
        for fit_id in (rerun, stale, never_started):
            job = read(restarted, researcher_headers, fit_id)
            assert job["status"] == "done", (fit_id, job["error"])
            assert job["result"]["fit"]["df"] == 13
        failed = read(restarted, researcher_headers, give_up)
        assert failed["status"] == "failed"
        assert "interrupted" in failed["error"]
        still = restarted.get(f"/api/v1/fits/{alive}", headers=researcher_headers).json()
        assert still["status"] == "running"
    session.expire_all()
    assert session.get(FitJob, rerun).attempts == 2  # type: ignore[union-attr]


def test_a_job_taken_over_cannot_be_overwritten_by_its_old_runner(
    session: Session, telecom_survey: Survey
) -> None:
    fit_id = orphan(session, telecom_survey, runner="old:1:a")
    recovered = service.recover_jobs(session, runner="new:2:b", stale_after=timedelta(0))
    assert recovered == [fit_id]
    assert not service.finish_job(session, fit_id=fit_id, runner="old:1:a", error="late")
    session.expire_all()
    job = session.get(FitJob, fit_id)
    assert job is not None and job.status == "queued" and job.runner == "new:2:b"
    assert service.claim_job(session, fit_id=fit_id, runner="new:2:b")
    assert not service.claim_job(session, fit_id=fit_id, runner="third:3:c")


def test_shutdown_stops_every_thread_of_the_local_runner(
    app: FastAPI, session: Session, telecom_survey: Survey
) -> None:
    """A running fit stops at its next progress report, its heartbeat with it, and the sweeper
    and pool threads end before ``shutdown`` returns: nothing of the app runs on after it."""
    before = set(threading.enumerate())  # the app's own runner included
    runner = LocalRunner(app.state.sessionmaker, workers=1)
    runner.start()
    fit_id = orphan(session, telecom_survey, bootstrap=1000, status="queued", attempts=0)
    runner.submit(fit_id)
    for _ in range(600):  # the fit is under way: its heartbeat thread runs
        if any(t.name == f"fit-beat-{fit_id}" for t in threading.enumerate()):
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the fit never started")
    runner.shutdown()
    left = [t.name for t in threading.enumerate() if t.is_alive() and t not in before]
    assert not [n for n in left if n.startswith(("pvm-fit", "fit-beat-", "fit-sweeper"))], left
    session.expire_all()
    stopped = session.get(FitJob, fit_id)
    assert stopped is not None and stopped.status == "running" and stopped.result is None
