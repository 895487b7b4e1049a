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
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi import Response as HttpResponse
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from app.auth.service import Principal
from app.deps import ResearcherKey, SessionDep, SettingsDep, SurveyDep, split_codes
from app.errors import Conflict, InvalidInput, NotFound
from app.fits import service
from app.fits.access import can_read, check_remove
from app.fits.diagram import render_pls_svg, render_svg
from app.fits.limits import FitLimits
from app.fits.models import STATUSES, TERMINAL, FitJob
from app.fits.schemas import FitCompare, FitComparison, FitCreate, FitPage, FitRead
from app.fits.scores import scores_table
from app.fits.tables import fit_tables
from app.fits.worker import Runner, make_runner
from app.tables import Format, download, pick

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


@router.get("/surveys/{slug}/fits", response_model=FitPage)
def list_fits(
    principal: ResearcherKey,
    survey: SurveyDep,
    session: SessionDep,
    status: Annotated[
        str | None,
        Query(description="comma-separated: queued, running, done, failed, cancelled"),
    ] = None,
    method: Annotated[Literal["sem", "pls"] | None, Query()] = None,
    estimator: Annotated[Literal["ML", "MLR"] | None, Query(description="CB-SEM fits")] = None,
    model: Annotated[
        str | None,
        Query(max_length=1000, description="part of the model syntax (spaces ignored)"),
    ] = None,
    name: Annotated[
        str | None, Query(max_length=200, description="part of the name (case ignored)")
    ] = None,
    created_from: Annotated[datetime | None, Query(description="ISO 8601, inclusive")] = None,
    created_to: Annotated[datetime | None, Query(description="ISO 8601, inclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> FitPage:
    """The survey's fits that this key may read (a branch-scoped key: those whose data lie in
    its scope), newest first, without their full results; ``total`` counts every match and
    ``next_offset`` pages on."""
    statuses = split_codes(status)
    bad = [s for s in statuses or [] if s not in STATUSES]
    if bad:
        raise InvalidInput(
            [
                {
                    "loc": ["query", "status"],
                    "field": "status",
                    "msg": f"unknown status {', '.join(bad)}; one of {', '.join(STATUSES)}",
                    "type": "value_error",
                }
            ]
        )
    query = service.FitQuery(
        status=statuses,
        method=method,
        estimator=estimator,
        model=model,
        name=name,
        created_from=created_from,
        created_to=created_to,
        limit=limit,
        offset=offset,
    )
    jobs, total = service.list_fits(session, survey=survey, query=query, principal=principal)
    end = offset + len(jobs)
    return FitPage(
        items=[service.to_summary(session, job) for job in jobs],
        total=total,
        limit=limit,
        offset=offset,
        next_offset=end if end < total else None,
    )


@router.post(
    "/fits/compare",
    response_model=FitComparison,
    responses={
        404: {"description": "a fit id that does not exist or that this key may not read"},
        422: {"description": "unfinished or PLS fits, or fits on different data"},
    },
)
def compare_fits(body: FitCompare, principal: ResearcherKey, session: SessionDep) -> FitComparison:
    """Likelihood-ratio test of nested fits on the same data, as lavaan's ``lavTestLRT``: under
    ML the chi-square difference (with its RMSEA), under MLR the Satorra-Bentler (2001) scaled
    difference. Fits of different data (survey, filters, scope, rows used, groups) or
    estimators are refused with a 422 saying which."""
    jobs = [get_readable_fit(session, fit_id=i, principal=principal) for i in body.fits]
    return service.compare_fits(jobs)


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


def _finished(job: FitJob) -> dict[str, Any]:
    if job.status != "done" or job.result is None:
        raise Conflict(f"fit {job.id} is {job.status}; its tables need a finished fit")
    return job.result


@router.get("/fits/{fit_id}/tables")
def list_tables(job: ReadableFit) -> dict[str, Any]:
    """The tables of a finished fit: names, columns and download paths (CSV per table, and
    ``results.xlsx`` with one sheet per table)."""
    base = f"/api/v1/fits/{job.id}"
    return {
        "tables": [
            {
                "name": t.name,
                "columns": t.columns,
                "rows": len(t.rows),
                "csv": f"{base}/{t.name}.csv",
            }
            for t in fit_tables(_finished(job))
        ],
        "xlsx": f"{base}/results.xlsx",
    }


@router.get(
    "/fits/{fit_id}/results.xlsx",
    response_class=HttpResponse,
    responses={
        200: {"content": {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}}}
    },
)
def download_results(job: ReadableFit) -> HttpResponse:
    """Every table of a finished fit in one XLSX workbook, one sheet per table."""
    return download(fit_tables(_finished(job)), "xlsx", filename=f"fit-{job.id[:8]}")


@router.get(
    "/fits/{fit_id}/scores.{fmt}",
    response_class=HttpResponse,
    responses={
        200: {"content": {"text/csv": {}}},
        404: {"description": "no such fit"},
        409: {"description": "the fit is not finished, or its responses changed since"},
        422: {"description": "bad `method`, or a fit without factor scores (PLS, ordered)"},
    },
)
def download_scores(
    job: ReadableFit,
    session: SessionDep,
    fmt: Annotated[Format, Path(description="csv or xlsx")],
    method: Annotated[
        str, Query(max_length=20, description="regression (default) or bartlett")
    ] = "regression",
) -> HttpResponse:
    """Factor scores per respondent (lavaan's ``lavPredict``: ``regression`` or ``bartlett``)
    of a finished SEM fit: ``response_id``, ``group`` for grouped fits, one column per latent
    variable; only the rows the fit used (its filters and the creating key's scope). Under
    FIML a row scores on the items it answered (Bartlett: empty where none of a factor's
    items was answered), as lavaan. Individual data: researcher and admin keys only."""
    table = scores_table(session, job, method=method)
    return download([table], fmt, filename=f"fit-{job.id[:8]}-{table.name}")


@router.get(
    "/fits/{fit_id}/{table}.{fmt}",
    response_class=HttpResponse,
    responses={
        200: {"content": {"text/csv": {}}},
        404: {"description": "no such fit, or no such table in its result"},
        409: {"description": "the fit is not finished"},
    },
)
def download_table(
    job: ReadableFit,
    table: Annotated[str, Path(max_length=100, description="e.g. estimates, fit, r2, invariance")],
    fmt: Annotated[Format, Path(description="csv or xlsx")],
) -> HttpResponse:
    """One table of a finished fit (``estimates``, ``fit``, ``r2``, ``invariance``,
    ``modindices``, ``residuals.cor``, ...; ``GET .../tables`` lists them) as CSV or XLSX,
    with the JSON's names as column names."""
    chosen = pick(fit_tables(_finished(job)), table)
    return download([chosen], fmt, filename=f"fit-{job.id[:8]}-{chosen.name}")
