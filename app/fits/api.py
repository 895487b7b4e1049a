"""Routes: queue a fit, read it (optionally waiting), draw it.

The router's lifespan starts this process's job runner (in-process pool, or Celery when
``PVM_BROKER_URL`` is set) and recovers jobs orphaned by a crashed process.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi import Response as HttpResponse
from fastapi.concurrency import run_in_threadpool

from app.deps import ResearcherKey, SessionDep, SurveyDep
from app.errors import Conflict
from app.fits import service
from app.fits.diagram import render_svg
from app.fits.schemas import FitCreate, FitRead
from app.fits.worker import Runner, make_runner

_runner_lock = threading.Lock()


def start_runner(app: FastAPI) -> Runner:
    """This process's job runner (started on first use); the dashboard queues checks on it."""
    with _runner_lock:
        runner: Runner | None = getattr(app.state, "fit_runner", None)
        if runner is None:
            settings = app.state.settings
            runner = make_runner(
                app.state.sessionmaker,
                broker_url=settings.broker_url,
                queue=settings.fit_queue,
                workers=settings.fit_workers,
            )
            app.state.fit_runner = runner
            runner.start()
        return runner


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    await run_in_threadpool(start_runner, app)
    yield
    runner: Runner | None = getattr(app.state, "fit_runner", None)
    if runner is not None:
        runner.shutdown()
        app.state.fit_runner = None


router = APIRouter(prefix="/api/v1", tags=["fits"], lifespan=lifespan)

TERMINAL = ("done", "failed")


@router.post(
    "/surveys/{slug}/fits",
    status_code=202,
    response_model=FitRead,
    responses={200: {"description": "The same fit on the same data was done before"}},
)
def create_fit(
    _: ResearcherKey,
    survey: SurveyDep,
    body: FitCreate,
    session: SessionDep,
    request: Request,
    response: HttpResponse,
) -> FitRead:
    """Queue a model fit (202), or return the stored one for the same spec and data."""
    submission = service.create_fit(session, survey=survey, data=body)
    job = submission.job
    if submission.created:
        start_runner(request.app).submit(job.id, frame=submission.frame)
    elif job.status == "done":
        response.status_code = 200
    response.headers["Location"] = f"/api/v1/fits/{job.id}"
    return service.to_read(session, job)


@router.get("/fits/{fit_id}", response_model=FitRead)
async def read_fit(
    fit_id: str,
    _: ResearcherKey,
    session: SessionDep,
    wait: Annotated[float, Query(ge=0, le=30, description="seconds to wait for the end")] = 0,
) -> FitRead:
    """A fit job; ``?wait=30`` blocks up to 30 s until it is done or failed."""
    deadline = time.monotonic() + wait
    delay = 0.05
    while True:
        job = await run_in_threadpool(service.get_fit, session, fit_id=fit_id)
        if job.status in TERMINAL or time.monotonic() >= deadline:
            return await run_in_threadpool(service.to_read, session, job)
        # End the read transaction: on SQLite it would hold the lock the worker writes through.
        await run_in_threadpool(session.rollback)
        await asyncio.sleep(min(delay, max(deadline - time.monotonic(), 0)))
        delay = min(delay * 1.5, 0.5)


@router.get(
    "/fits/{fit_id}/diagram.svg",
    response_class=HttpResponse,
    responses={200: {"content": {"image/svg+xml": {}}}},
)
def fit_diagram(
    fit_id: str,
    _: ResearcherKey,
    session: SessionDep,
    group: Annotated[str | None, Query(max_length=100)] = None,
) -> HttpResponse:
    """Path diagram with standardized estimates (SVG)."""
    job = service.get_fit(session, fit_id=fit_id)
    if job.status != "done" or job.result is None:
        raise Conflict(f"fit {fit_id} is {job.status}; the diagram needs a finished fit")
    read = service.to_read(session, job)
    svg = render_svg(job.result, title=f"{read.survey}: fit {fit_id[:8]}", group=group)
    return HttpResponse(svg, media_type="image/svg+xml")
