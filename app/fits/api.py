"""Routes: queue a fit, read it (optionally waiting), draw it, cancel or delete it.

Every route that names a fit id goes through ``readable_fit``: a fit whose data lies outside a
branch-scoped key's scope is a 404, as if it did not exist (``app.fits.access``).

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

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi import Response as HttpResponse
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from app.auth.service import Principal
from app.deps import ResearcherKey, SessionDep, SettingsDep, SurveyDep
from app.errors import Conflict, NotFound
from app.fits import service
from app.fits.access import can_read, check_remove
from app.fits.diagram import render_pls_svg, render_svg
from app.fits.limits import FitLimits
from app.fits.models import TERMINAL, FitJob
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


def get_readable_fit(session: Session, *, fit_id: str, principal: Principal) -> FitJob:
    """The fit ``fit_id`` if ``principal`` may read it; NotFound otherwise (ids not probeable)."""
    job = service.get_fit(session, fit_id=fit_id)
    if not can_read(job, principal):
        raise NotFound(f"no fit {fit_id}")
    return job


def readable_fit(fit_id: str, principal: ResearcherKey, session: SessionDep) -> FitJob:
    return get_readable_fit(session, fit_id=fit_id, principal=principal)


ReadableFit = Annotated[FitJob, Depends(readable_fit)]


@router.post(
    "/surveys/{slug}/fits",
    status_code=202,
    response_model=FitRead,
    responses={
        200: {"description": "The same fit on the same data was done before"},
        403: {"description": "`filters.branch` names a branch outside the key's scope"},
        429: {"description": "A job limit is reached; see the Retry-After header"},
    },
)
def create_fit(
    principal: ResearcherKey,
    survey: SurveyDep,
    body: FitCreate,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
    response: HttpResponse,
) -> FitRead:
    """Queue a model fit (202), or return the stored one for the same spec, data and scope.

    A branch-scoped key fits only its branches' responses (``filters.branch`` may narrow them;
    a branch outside the scope is a 403). Jobs queued or running, and their bootstrap draws,
    are capped per key and in total (429 with Retry-After)."""
    submission = service.create_fit(
        session,
        survey=survey,
        data=body,
        principal=principal,
        limits=FitLimits.from_settings(settings),
    )
    job = submission.job
    if submission.created:
        start_runner(request.app).submit(job.id)
    elif job.status == "done":
        response.status_code = 200
    response.headers["Location"] = f"/api/v1/fits/{job.id}"
    return service.to_read(session, job)


@router.get("/fits/{fit_id}", response_model=FitRead)
async def read_fit(
    fit_id: str,
    principal: ResearcherKey,
    session: SessionDep,
    wait: Annotated[float, Query(ge=0, le=30, description="seconds to wait for the end")] = 0,
) -> FitRead:
    """A fit job; ``?wait=30`` blocks up to 30 s until it is done, failed or cancelled."""
    deadline = time.monotonic() + wait
    delay = 0.05
    while True:
        job = await run_in_threadpool(get_readable_fit, session, fit_id=fit_id, principal=principal)
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
    job: ReadableFit,
    session: SessionDep,
    group: Annotated[str | None, Query(max_length=100)] = None,
) -> HttpResponse:
    """Path diagram with standardized estimates (SVG)."""
    if job.status != "done" or job.result is None:
        raise Conflict(f"fit {fit_id} is {job.status}; the diagram needs a finished fit")
    read = service.to_read(session, job)
    title = f"{read.survey}: fit {fit_id[:8]}"
    if job.result.get("method") == "pls":
        svg = render_pls_svg(job.result, title=title)
    else:
        svg = render_svg(job.result, title=title, group=group)
    return HttpResponse(svg, media_type="image/svg+xml")


@router.delete("/fits/{fit_id}", status_code=204, response_class=HttpResponse)
def delete_fit(job: ReadableFit, principal: ResearcherKey, session: SessionDep) -> HttpResponse:
    """Cancel a queued or running fit (its status becomes ``cancelled`` and its worker stops at
    the next stage or bootstrap draw), or delete a finished one. The key that created the fit,
    or an admin key, may do this; others get 403."""
    check_remove(job, principal)
    service.remove_fit(session, fit_id=job.id)
    return HttpResponse(status_code=204)
