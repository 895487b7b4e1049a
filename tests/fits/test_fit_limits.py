"""Job limits and cancelling (issue 11, F10), in-process and through Celery.

One key used to queue 200 fits with 10,000 bootstrap draws each (30 h of backlog, 700 MB of data
frames held by queued jobs) with no way to stop them. Now active jobs and their draws are capped
per key and in total (429 + Retry-After), a queued job holds no data (it loads its rows when it
starts) and ``DELETE /api/v1/fits/{id}`` cancels a queued or running fit or deletes a done one.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.fits.models import FitJob
from app.fits.schemas import FitCreate
from app.fits.worker import Runner
from app.surveys.models import Survey, utcnow
from tests.conftest import TELECOM_CSV
from tests.fits.test_fit_scope import ITEMS, MODEL, complete_rows, done, key_id, post
from tests.security.helpers import set_limits


class Held:
    """A runner that only records submissions: queued jobs stay queued."""

    id = "held"

    def __init__(self) -> None:
        self.submitted: list[str] = []

    def start(self) -> None:
        return None

    def submit(self, fit_id: str) -> None:
        self.submitted.append(fit_id)

    def shutdown(self) -> None:
        return None


@pytest.fixture
def held(app: FastAPI, client: TestClient) -> Iterator[tuple[Held, Runner]]:
    """Jobs queue up instead of running; the real runner is handed back to submit them."""
    real: Runner = app.state.fit_runner
    app.state.fit_runner = Held()
    yield app.state.fit_runner, real
    app.state.fit_runner = real


def backlog(
    session: Session, survey: Survey, owner: int | None, n: int, bootstrap: int = 0
) -> None:
    """``n`` queued jobs of ``owner`` as another (live) process holds them."""
    spec = FitCreate(model=MODEL, bootstrap=bootstrap).canonical(model=MODEL)
    session.add_all(
        FitJob(
            id=uuid.uuid4().hex,
            survey_id=survey.id,
            cache_key=uuid.uuid4().hex,
            data_fingerprint="x" * 64,
            spec=spec,
            status="queued",
            progress=0.0,
            attempts=0,
            runner="elsewhere:1:alive",
            heartbeat_at=utcnow(),
            owner_key_id=owner,
        )
        for _ in range(n)
    )
    session.commit()


def jobs(session: Session) -> int:
    session.rollback()  # a fresh snapshot (SQLite)
    return int(session.scalar(select(func.count()).select_from(FitJob)) or 0)


def refused(r: Any, setting: str) -> None:
    assert r.status_code == 429, r.text
    assert r.headers["retry-after"] == "30"
    assert f"({setting})" in r.json()["detail"], r.json()["detail"]
    assert "DELETE /api/v1/fits/" in r.json()["detail"]


def test_per_key_cap_is_429_with_retry_after_and_spares_cache_hits_and_other_keys(
    app: FastAPI,
    client: TestClient,
    telecom_survey: Survey,
    session: Session,
    researcher_headers: dict[str, str],
    factory: Any,
) -> None:
    first = post(client, researcher_headers)
    done(client, researcher_headers, first.json()["id"])
    set_limits(app, fit_max_queued_per_key=3)
    backlog(session, telecom_survey, key_id(session, researcher_headers), 3)
    before = jobs(session)
    refused(post(client, researcher_headers, seed=2), "PVM_FIT_MAX_QUEUED_PER_KEY")
    assert jobs(session) == before  # nothing stored
    again = post(client, researcher_headers)  # the stored result: created nothing, not refused
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    other = factory.key("researcher")
    assert post(client, other, seed=2).status_code == 202


def test_global_and_bootstrap_caps(
    app: FastAPI,
    client: TestClient,
    telecom_survey: Survey,
    session: Session,
    researcher_headers: dict[str, str],
    held: tuple[Held, Runner],
) -> None:
    set_limits(
        app, fit_max_queued=4, fit_max_bootstrap_queued=1000, fit_max_bootstrap_queued_per_key=500
    )
    backlog(session, telecom_survey, None, 1, bootstrap=600)
    backlog(session, telecom_survey, key_id(session, researcher_headers), 1, bootstrap=300)
    refused(post(client, researcher_headers, bootstrap=300), "PVM_FIT_MAX_BOOTSTRAP_QUEUED_PER_KEY")
    r = post(client, researcher_headers, bootstrap=600)  # more than a key may ever queue
    assert r.status_code == 422 and "bootstrap" in r.text
    # 200 more fit the key's room (500) but not the server's (600 + 300 + 200 > 1000)
    refused(post(client, researcher_headers, bootstrap=200), "PVM_FIT_MAX_BOOTSTRAP_QUEUED")
    assert post(client, researcher_headers, bootstrap=100).status_code == 202
    backlog(session, telecom_survey, None, 1)  # 4 active jobs now
    refused(post(client, researcher_headers, seed=5), "PVM_FIT_MAX_QUEUED")
    assert len(held[0].submitted) == 1


def test_concurrent_requests_cannot_overshoot_the_cap(
    app: FastAPI,
    client: TestClient,
    telecom_survey: Survey,
    session: Session,
    researcher_headers: dict[str, str],
    held: tuple[Held, Runner],
) -> None:
    set_limits(app, fit_max_queued_per_key=3)
    with ThreadPoolExecutor(8) as pool:
        codes = list(
            pool.map(lambda s: post(client, researcher_headers, seed=s).status_code, range(8))
        )
    assert sorted(codes) == [202] * 3 + [429] * 5, codes
    assert jobs(session) == 3


def status_of(client: TestClient, headers: dict[str, str], fit_id: str) -> dict[str, Any]:
    r = client.get(f"/api/v1/fits/{fit_id}", headers=headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_cancel_a_queued_fit_and_delete_finished_ones(
    client: TestClient,
    telecom_survey: Survey,
    researcher_headers: dict[str, str],
    operator_headers: dict[str, str],
    factory: Any,
    held: tuple[Held, Runner],
) -> None:
    r = post(client, researcher_headers)
    fit_id = r.json()["id"]
    assert r.status_code == 202 and held[0].submitted == [fit_id]
    url = f"/api/v1/fits/{fit_id}"
    assert client.delete(url, headers=factory.key("researcher")).status_code == 403  # not owner
    assert client.delete(url, headers=operator_headers).status_code == 403
    assert client.delete(url).status_code == 401
    assert client.delete(url, headers=researcher_headers).status_code == 204
    assert status_of(client, researcher_headers, fit_id)["status"] == "cancelled"
    held[1].submit(fit_id)  # the message reaches a worker after all: the job is not run
    time.sleep(2)
    job = status_of(client, researcher_headers, fit_id)
    assert job["status"] == "cancelled" and job["started_at"] is None and job["result"] is None
    # a new request for the same fit is not answered by the cancelled job
    again = post(client, researcher_headers)
    assert again.status_code == 202 and again.json()["id"] != fit_id
    held[1].submit(again.json()["id"])
    done(client, researcher_headers, again.json()["id"])
    # finished and cancelled fits are deleted (an admin may delete any fit)
    admin = factory.key("admin")
    for gone in (fit_id, again.json()["id"]):
        assert client.delete(f"/api/v1/fits/{gone}", headers=admin).status_code == 204
        assert client.get(f"/api/v1/fits/{gone}", headers=researcher_headers).status_code == 404


def test_cancel_stops_a_running_bootstrap(
    app: FastAPI,
    client: TestClient,
    telecom_survey: Survey,
    researcher_headers: dict[str, str],
    fit_mode: str,
) -> None:
    r = post(client, researcher_headers, bootstrap=10_000)  # about a minute of draws
    fit_id = r.json()["id"]
    deadline = time.monotonic() + 120
    job = status_of(client, researcher_headers, fit_id)
    while not (job["status"] == "running" and job["progress"] > 0):
        assert time.monotonic() < deadline and job["status"] in ("queued", "running"), job
        time.sleep(0.2)
        job = status_of(client, researcher_headers, fit_id)
    assert client.delete(f"/api/v1/fits/{fit_id}", headers=researcher_headers).status_code == 204
    stopped = time.monotonic()
    if fit_mode == "local":  # the runner's thread lets go of the job
        while app.state.fit_runner.held:
            assert time.monotonic() - stopped < 20, "the fit thread did not stop"
            time.sleep(0.1)
    else:  # the (single, solo) Celery worker is free for the next job
        small = post(client, researcher_headers, seed=7)
        assert done(client, researcher_headers, small.json()["id"])["status"] == "done"
        assert time.monotonic() - stopped < 20, "the worker did not stop the cancelled fit"
    job = status_of(client, researcher_headers, fit_id)
    assert job["status"] == "cancelled" and job["result"] is None
    assert job["progress"] < 0.5


def test_a_queued_job_loads_its_rows_when_it_starts(
    client: TestClient,
    telecom_survey: Survey,
    researcher_headers: dict[str, str],
    factory: Any,
    held: tuple[Held, Runner],
) -> None:
    r = post(client, researcher_headers)
    assert r.status_code == 202
    rows = pd.read_csv(TELECOM_CSV, nrows=40, dtype=str, keep_default_na=False)
    rows = rows[(rows[ITEMS] != "").all(axis=1)].head(5)
    rows["id"] = [str(uuid.uuid4()) for _ in range(len(rows))]
    assert factory.import_direct("telecom", rows.to_csv(index=False).encode()) == 5
    held[1].submit(r.json()["id"])
    assert done(client, researcher_headers, r.json()["id"])["result"]["nobs"] == (
        complete_rows() + 5
    )
