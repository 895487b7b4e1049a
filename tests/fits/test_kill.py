"""SIGKILL the API process while a fit job is in flight; after a restart the job ends done."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session

from app.config import Settings
from app.fits.models import FitJob
from app.surveys.models import Survey

ROOT = Path(__file__).resolve().parents[2]


def serve(database_url: str) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PVM_DATABASE_URL": database_url, "PVM_MIGRATE_ON_START": "false"}
    env.pop("PVM_BROKER_URL", None)
    cmd = [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory"]
    proc = subprocess.Popen(
        [*cmd, "--port", str(port), "--log-level", "warning"], cwd=ROOT, env=env
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            httpx.get(f"{base}/openapi.json", timeout=1)
            return proc, base
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("server did not start")


def test_fit_interrupted_by_sigkill_is_rerun_after_restart(
    settings: Settings,
    fit_mode: str,
    session: Session,
    telecom_survey: Survey,
    researcher_headers: dict[str, str],
) -> None:
    if fit_mode != "local":
        pytest.skip("in-process runner only: with Celery the job waits in the broker")
    proc, base = serve(settings.database_url)
    try:
        r = httpx.post(
            f"{base}/api/v1/surveys/telecom/fits", json={}, headers=researcher_headers, timeout=30
        )
        assert r.status_code == 202, r.text
        fit_id = r.json()["id"]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    job = session.get(FitJob, fit_id)
    assert job is not None
    if job.status not in ("queued", "running"):
        pytest.skip(f"the fit ended ({job.status}) before the kill landed")
    proc, base = serve(settings.database_url)
    try:
        body: dict[str, Any] = {}
        for _ in range(10):
            body = httpx.get(
                f"{base}/api/v1/fits/{fit_id}",
                params={"wait": 30},
                headers=researcher_headers,
                timeout=60,
            ).json()
            if body["status"] in ("done", "failed"):
                break
        assert body["status"] == "done", body
        assert body["result"]["fit"]["df"] == 603
    finally:
        proc.terminate()
        proc.wait(timeout=30)
