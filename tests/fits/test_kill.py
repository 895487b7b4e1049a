"""SIGKILL the API process while a fit job is in flight; after a restart the job ends done."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session

from app.config import Settings
from app.fits.models import FitJob
from app.surveys.models import Survey
from tests.server import Server

ROOT = Path(__file__).resolve().parents[2]


def test_fit_interrupted_by_sigkill_is_rerun_after_restart(
    settings: Settings,
    fit_mode: str,
    session: Session,
    telecom_survey: Survey,
    researcher_headers: dict[str, str],
) -> None:
    if fit_mode != "local":
        pytest.skip("in-process runner only: with Celery the job waits in the broker")
    first = Server(settings.database_url, workers=1, PVM_SECRET_KEY=settings.secret_key)
    with first:
        r = httpx.post(
            f"{first.base}/api/v1/surveys/telecom/fits",
            json={},
            headers=researcher_headers,
            timeout=30,
        )
        assert r.status_code == 202, r.text
        fit_id = r.json()["id"]
        first.kill()
    job = session.get(FitJob, fit_id)
    assert job is not None
    if job.status not in ("queued", "running"):
        pytest.skip(f"the fit ended ({job.status}) before the kill landed")
    with Server(settings.database_url, workers=1, PVM_SECRET_KEY=settings.secret_key) as again:
        body: dict[str, Any] = {}
        for _ in range(10):
            body = httpx.get(
                f"{again.base}/api/v1/fits/{fit_id}",
                params={"wait": 30},
                headers=researcher_headers,
                timeout=60,
            ).json()
            if body["status"] in ("done", "failed"):
                break
        assert body["status"] == "done", body
        assert body["result"]["fit"]["df"] == 603
