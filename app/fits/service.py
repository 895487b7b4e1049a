"""Fit jobs: create (validated, fingerprinted, cached), read, and the state changes of a run.

A job row moves queued -> running -> done | failed. Every change is one conditional UPDATE, so
two processes can never both run a job (``claim_job``) and a process that lost a job to
recovery cannot overwrite it (``finish_job`` checks the runner).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Text, cast, delete, func, select, update
from sqlalchemy.orm import Session, defer

from app.auth.service import Principal
from app.db import begin_write
from app.errors import InvalidInput, NotFound, field_error
from app.fits.access import can_read, data_branches, job_branches
from app.fits.grouped import DEFAULT_MIN_GROUP_SIZE, parse_path
from app.fits.limits import FitLimits, check_limits, serialize_creation
from app.fits.models import ACTIVE, FitJob
from app.fits.pls import mga_groups
from app.fits.schemas import FitComparison, FitCreate, FitRead, FitSummary
from app.stats.pls import check_pls, parse_pls
from app.stats.sem import ModelError, lrt_table, ordered_names, parse_model, usable_data
from app.stats.sem import check_model as check_sem
from app.surveys.frames import as_utc
from app.surveys.models import Branch, Response, Survey, utcnow
from app.surveys.schemas import ResponseFilters
from app.surveys.service import load_item_frame, survey_spec

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 2  # an interrupted job is re-run once, then marked failed
HOST = socket.gethostname()


def new_runner_id() -> str:
    """Identity of one job-running process: host, pid and a nonce (pids get reused)."""
    return f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Submission:
    """What ``create_fit`` decided: the job and whether it is new (then the caller submits it;
    the worker loads the data when the job starts, so a queued job holds no frame)."""

    job: FitJob
    created: bool


def filters_of(spec: dict[str, Any], *, scope: list[str] | None = None) -> ResponseFilters:
    """The rows a job selects: its filters, confined to the creating key's ``scope``."""
    f = spec.get("filters") or {}
    parse = lambda v: datetime.fromisoformat(v) if v else None  # noqa: E731
    return ResponseFilters(
        branch=data_branches(spec, scope),
        submitted_from=parse(f.get("submitted_from")),
        submitted_to=parse(f.get("submitted_to")),
        exclude_flagged=bool(spec.get("exclude_flagged")),
    )


def job_filters(job: FitJob) -> ResponseFilters:
    return filters_of(job.spec or {}, scope=job.scope)


def fingerprint(ids: Iterable[str], *, survey: Survey) -> str:
    """Hash of the ids of a set of responses (what a fitted result records it was fitted on)."""
    h = hashlib.sha256(f"{survey.id}:{survey.instrument_id}:{survey.instrument_version}".encode())
    for i in sorted(ids):
        h.update(i.encode())
        h.update(b"\n")
    return h.hexdigest()


def data_fingerprint(session: Session, *, survey: Survey, filters: ResponseFilters) -> str:
    """Cheap key of the responses selected by ``filters``: one aggregate query, no rows.

    Responses are append-only (no route edits or deletes one; a deleted survey takes its fits
    with it), so any change to a selection changes its count, and the time span and total
    answer length make accidental equality of two different selections implausible.
    """
    query = select(
        func.count(),
        func.min(Response.submitted_at),
        func.max(Response.submitted_at),
        func.sum(func.length(cast(Response.answers, Text))),
    ).where(Response.survey_id == survey.id)
    if filters.branch:
        query = query.join(Branch, Branch.id == Response.branch_id).where(
            Branch.code.in_(filters.branch)
        )
    if filters.submitted_from is not None:
        query = query.where(Response.submitted_at >= filters.submitted_from)
    if filters.submitted_to is not None:
        query = query.where(Response.submitted_at <= filters.submitted_to)
    if filters.exclude_flagged:
        query = query.where(Response.flagged.is_(False))
    count, first, last, length = session.execute(query).one()
    stamp = lambda t: t.replace(tzinfo=None).isoformat() if t is not None else ""  # noqa: E731
    text = f"{survey.id}:{survey.instrument_version}:{count}:{stamp(first)}:{stamp(last)}:{length}"
    return hashlib.sha256(text.encode()).hexdigest()


def cache_key(*, data_fp: str, spec: dict[str, Any], scope: list[str] | None = None) -> str:
    """Key of a job; a scoped key's jobs are never shared with keys of another scope."""
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"))
    if scope is not None:  # unscoped jobs keep the keys they had before scopes were recorded
        canonical += "\nscope:" + ",".join(sorted(scope))
    return hashlib.sha256(f"{data_fp}\n{canonical}".encode()).hexdigest()


def _ipma_spec(spec: dict[str, Any], instrument: Any) -> dict[str, Any]:
    """The IPMA options resolved: the target (default: the instrument's outcome) and each
    model item's scale range (the instrument's), so the job needs no instrument."""
    try:
        pls = parse_pls(spec["model"])
    except ModelError as exc:
        raise InvalidInput([field_error("model", msg=str(exc))]) from exc
    target = spec["ipma"].get("target") or instrument.default_outcome
    if target not in pls.names:
        raise InvalidInput(
            [
                field_error(
                    "ipma.target",
                    msg=f"{target} is not a construct of the model ({', '.join(pls.names)})",
                )
            ]
        )
    scale: dict[str, list[int]] = {}
    for item in pls.items:
        if item not in instrument.numeric_codes:
            raise InvalidInput(
                [field_error("model", msg=f"not a scale or 0-10 item of the instrument: {item}")]
            )
        s = instrument.item_scale(item)
        scale[item] = [s.min, s.max]
    return {"target": target, "scale": scale}


def check_syntax(model: str, *, method: str = "sem") -> None:
    """Syntax errors of the model as the researcher wrote it (before the canonical spec drops
    comments, blank lines and spaces), so their line and column are those of the text sent.

    Raises
    ------
    InvalidInput
        The CB-SEM model cannot be parsed (422 naming ``model``, with line and column).
    """
    if method == "pls":
        return
    try:
        parse_model(model)
    except ModelError as exc:
        raise InvalidInput([field_error("model", msg=str(exc))]) from exc


def check_model(frame: pd.DataFrame, spec: dict[str, Any], *, items: Sequence[str]) -> None:
    """What the engine would refuse, refused up front by the engine's own checks
    (`app.stats.sem.check_model`, `app.stats.pls.check_pls`: no moments, so the request stays
    quick on large surveys); rarer problems (a singular covariance matrix) still end the job as
    failed with the engine's message. A grouped spec is refused when fewer than two groups can
    be fitted (the others are left out at run time, with their reasons). ``items`` are the
    variables a model may name: the instrument's scale and 0-10 items (its other items get
    their own message). InvalidInput names the request field at fault.
    """
    try:
        if spec.get("method") == "pls":
            check_pls(frame, spec["model"], missing=spec["missing"], variables=items)
            if spec.get("mga") is not None:
                try:
                    mga_groups(frame, spec["mga"])
                except ModelError as exc:
                    raise ModelError(str(exc), field="mga.groups") from exc
            return
        group = spec.get("group")
        # ordered models count rows as listwise (pairwise is for ordered items only: FitCreate)
        missing = "listwise" if spec.get("ordered") else spec["missing"]
        checked = check_sem(
            frame,
            spec["model"],
            missing=missing,  # the estimator: checked by FitCreate and at run time
            group=group,
            group_equal=spec.get("group_equal") or (),
            compare_paths=[parse_path(p) for p in spec.get("compare_paths") or []],
            variables=items,
            count_rows=group is None,
            estimator=spec["estimator"]
            if spec.get("cluster") or spec.get("sampling_weights")
            else "ML",
            cluster=spec.get("cluster"),
            sampling_weights=spec.get("sampling_weights"),
        )
        if spec.get("ordered"):
            try:
                ordered_names(spec["ordered"], checked.partable.names.ov, spec["estimator"])
            except ModelError as exc:
                raise ModelError(str(exc), field="ordered") from exc
        if group is not None:
            min_size = int(spec.get("min_group_size") or DEFAULT_MIN_GROUP_SIZE)
            try:
                usable_data(frame, spec["model"], group, missing, min_size)
            except ModelError as exc:
                raise ModelError(str(exc), field="group") from exc
    except ModelError as exc:
        other = [v for v in exc.variables if v in frame.columns]  # items, not scale or 0-10
        if other:
            msg = f"not scale or 0-10 items (a model takes no choices or text): {', '.join(other)}"
            raise InvalidInput([field_error("model", msg=msg)]) from exc
        raise InvalidInput([field_error(exc.field, msg=str(exc))]) from exc


def resolve_spec(data: FitCreate, *, survey: Survey) -> dict[str, Any]:
    """The canonical spec of a request on ``survey``: the model resolved (the instrument's by
    default), groups checked, and the PLS options completed from the instrument (IPMA target
    and scale ranges, the survey's ``min_group_size`` for MGA).

    Raises InvalidInput naming the field (422).
    """
    instrument = survey_spec(survey)
    model = data.model if data.model is not None else instrument.default_model
    check_syntax(model, method=data.method)
    groupable = ["branch", *instrument.attribute_codes]
    for field in ("group", "cluster"):
        if getattr(data, field) is not None and getattr(data, field) not in groupable:
            raise InvalidInput([field_error(field, msg=f"must be one of {', '.join(groupable)}")])
    if (
        data.sampling_weights is not None
        and data.sampling_weights not in instrument.attribute_codes
    ):
        raise InvalidInput(
            [
                field_error(
                    "sampling_weights",
                    msg="must be a respondent attribute holding numbers: one of "
                    f"{', '.join(instrument.attribute_codes) or '(none in this instrument)'}",
                )
            ]
        )
    spec = data.canonical(model=model, min_group_size=survey.min_group_size)
    if not spec["model"]:
        raise InvalidInput([field_error("model", msg="the model is empty")])
    if spec.get("mga") is not None:
        if spec["mga"]["group"] not in groupable:
            raise InvalidInput(
                [field_error("mga.group", msg=f"must be one of {', '.join(groupable)}")]
            )
        spec["mga"]["min_group_size"] = int(survey.min_group_size)
    if spec.get("ipma") is not None:
        spec["ipma"] = _ipma_spec(spec, instrument)
    return spec


def create_fit(
    session: Session,
    *,
    survey: Survey,
    data: FitCreate,
    principal: Principal | None = None,
    limits: FitLimits | None = None,
) -> Submission:
    """Queue a fit, or return the stored job for the same spec on the same data and scope.

    ``principal`` is the key asking (None: the system itself, unscoped); a branch-scoped key's
    job only uses rows of its branches. ``limits`` caps the backlog (None: no caps).

    Raises
    ------
    Forbidden
        ``filters.branch`` names a branch outside the key's scope (403).
    InvalidInput
        The model cannot be fitted to the selected data (422).
    TooManyRequests
        A job limit is reached (429).
    """
    instrument = survey_spec(survey)
    spec = resolve_spec(data, survey=survey)
    scope = None if principal is None or principal.branches is None else sorted(principal.branches)
    if principal is not None:
        principal.scope(data.filters.branch)  # Forbidden for a branch outside the scope
    key_id = principal.key_id if principal is not None else None
    filters = filters_of(spec, scope=scope)
    data_fp = data_fingerprint(session, survey=survey, filters=filters)
    key = cache_key(data_fp=data_fp, spec=spec, scope=scope)
    existing = session.scalars(
        select(FitJob)
        .where(FitJob.cache_key == key, FitJob.status.not_in(("failed", "cancelled")))
        .order_by(FitJob.created_at.desc())
        .limit(1)
    ).first()
    if existing is not None:
        if data.name is not None and existing.name is None:  # a name given later is kept
            begin_write(session)
            existing.name = data.name
            session.commit()
        return Submission(existing, created=False)
    draws = int(spec.get("bootstrap") or 0)
    if limits is not None:  # refuse before loading any data ...
        check_limits(session, limits=limits, key_id=key_id, bootstrap=draws)
    check_model(
        load_item_frame(session, survey=survey, filters=filters),
        spec,
        items=instrument.numeric_codes,
    )
    begin_write(session)
    if limits is not None:  # ... and again where no concurrent request can slip in
        serialize_creation(session)
        check_limits(session, limits=limits, key_id=key_id, bootstrap=draws)
    job = FitJob(
        id=uuid.uuid4().hex,
        survey_id=survey.id,
        cache_key=key,
        data_fingerprint=data_fp,
        spec=spec,
        status="queued",
        progress=0.0,
        attempts=0,
        heartbeat_at=utcnow(),
        owner_key_id=key_id,
        scope=scope,
        name=data.name,
    )
    session.add(job)
    session.commit()
    logger.info("fit %s queued for survey %s by key %s", job.id, survey.slug, key_id)
    return Submission(job, created=True)


def get_fit(session: Session, *, fit_id: str) -> FitJob:
    job = session.get(FitJob, fit_id)
    if job is None:
        raise NotFound(f"no fit {fit_id}")
    return job


def to_read(session: Session, job: FitJob) -> FitRead:
    survey = session.get(Survey, job.survey_id)
    return FitRead(
        id=job.id,
        name=job.name,
        status=job.status,  # type: ignore[arg-type]
        progress=min(max(job.progress, 0.0), 1.0),
        error=job.error,
        result=job.result,
        survey=survey.slug if survey is not None else "",
        spec=job.spec,
        branches=job_branches(job),
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


# Headline fit measures of a list entry (those a finished fit has).
SUMMARY_MEASURES = (
    "npar",
    "chisq",
    "df",
    "pvalue",
    "cfi",
    "tli",
    "rmsea",
    "srmr",
    "chisq.scaled",
    "df.scaled",
    "pvalue.scaled",
    "cfi.robust",
    "tli.robust",
    "rmsea.robust",
)


@dataclass(frozen=True)
class FitQuery:
    """Which of a survey's fits to list: every given filter must hold.

    ``model`` and ``name`` match a part of the stored model syntax (spaces ignored) or of the
    name (case ignored); ``created_from``/``created_to`` bound ``created_at`` (inclusive).
    """

    status: Sequence[str] | None = None
    method: str | None = None
    estimator: str | None = None
    model: str | None = None
    name: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    limit: int = 50
    offset: int = 0


def _matches(job: FitJob, query: FitQuery) -> bool:
    spec = job.spec or {}
    if query.method is not None and spec.get("method", "sem") != query.method:
        return False
    if query.estimator is not None and (
        spec.get("method", "sem") != "sem" or spec.get("estimator") != query.estimator
    ):
        return False
    if query.model is not None:
        wanted = "".join(query.model.split())
        if wanted not in "".join(str(spec.get("model", "")).split()):
            return False
    return query.name is None or query.name.casefold() in (job.name or "").casefold()


def list_fits(
    session: Session, *, survey: Survey, query: FitQuery, principal: Principal | None = None
) -> tuple[list[FitJob], int]:
    """A page of the survey's fits that ``principal`` may read (None: all), newest first, and
    how many match in all. Results are not loaded (``to_summary`` reads headline numbers)."""
    stmt = select(FitJob).where(FitJob.survey_id == survey.id)
    if query.status:
        stmt = stmt.where(FitJob.status.in_(list(query.status)))
    if query.created_from is not None:
        stmt = stmt.where(FitJob.created_at >= as_utc(query.created_from))
    if query.created_to is not None:
        stmt = stmt.where(FitJob.created_at <= as_utc(query.created_to))
    stmt = stmt.options(defer(FitJob.result)).order_by(FitJob.created_at.desc(), FitJob.id)
    jobs = [
        job
        for job in session.scalars(stmt)
        if (principal is None or can_read(job, principal)) and _matches(job, query)
    ]
    return jobs[query.offset : query.offset + query.limit], len(jobs)


def headline(session: Session, job: FitJob) -> tuple[int | None, dict[str, Any] | None]:
    """``nobs`` and the headline fit measures of a finished fit, read from its stored result."""
    if job.status != "done":
        return None, None
    result = session.execute(select(FitJob.result).where(FitJob.id == job.id)).scalar()
    if not isinstance(result, dict):
        return None, None
    fit = result.get("fit")
    measures = {k: fit[k] for k in SUMMARY_MEASURES if k in fit} if isinstance(fit, dict) else None
    nobs = result.get("nobs")
    return (int(nobs) if isinstance(nobs, int | float) else None), measures or None


def to_summary(session: Session, job: FitJob) -> FitSummary:
    spec = job.spec or {}
    survey = session.get(Survey, job.survey_id)
    nobs, measures = headline(session, job)
    method = str(spec.get("method", "sem"))
    return FitSummary(
        id=job.id,
        name=job.name,
        status=job.status,  # type: ignore[arg-type]
        progress=min(max(job.progress, 0.0), 1.0),
        error=job.error,
        survey=survey.slug if survey is not None else "",
        method=method,
        estimator=spec.get("estimator") if method == "sem" else None,
        missing=spec.get("missing"),
        group=spec.get("group"),
        model=str(spec.get("model", "")),
        branches=job_branches(job),
        nobs=nobs,
        fit=measures,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


def _refuse(field: str, msg: str) -> InvalidInput:
    return InvalidInput([field_error(field, msg=msg)])


def compare_fits(jobs: Sequence[FitJob]) -> FitComparison:
    """lavaan's ``lavTestLRT`` of finished CB-SEM fits on the same data (the same survey, the
    same selected rows and the same rows used, the same groups and the same estimator).

    Raises
    ------
    InvalidInput
        A fit is unfinished or PLS, or the fits differ in data or estimator (422 naming it).
    """
    for job in jobs:
        if job.status != "done" or job.result is None:
            raise _refuse("fits", f"fit {job.id} is {job.status}; only finished fits compare")
        if job.result.get("method") == "pls":
            raise _refuse("fits", f"fit {job.id} is a PLS fit; the test compares CB-SEM fits")
        if (job.result.get("fit") or {}).get("chisq") is None:
            raise _refuse("fits", f"fit {job.id} has no chi-square to compare")
    first = jobs[0]
    result0 = first.result or {}
    checks = [
        ("survey", lambda j: j.survey_id, "are of different surveys"),
        (
            "data",
            lambda j: (j.result or {}).get("data_fingerprint"),
            "were fitted to different responses (other filters, scope or data since)",
        ),
        ("nobs", lambda j: (j.result or {}).get("nobs"), "used different numbers of rows"),
        (
            "groups",
            lambda j: [g.get("group") for g in (j.result or {}).get("groups") or []],
            "have different groups",
        ),
        ("estimator", lambda j: (j.result or {}).get("estimator"), "use different estimators"),
        ("missing", lambda j: (j.result or {}).get("missing"), "treat missing data differently"),
        (
            "design",
            lambda j: ((j.spec or {}).get("cluster"), (j.spec or {}).get("sampling_weights")),
            "have different survey designs (cluster, sampling_weights)",
        ),
    ]
    for what, get, reason in checks:
        for job in jobs[1:]:
            if get(job) != get(first):
                detail = (
                    f" ({get(first)} vs {get(job)})"
                    if what in ("nobs", "estimator", "missing")
                    else ""
                )
                raise _refuse(
                    "fits",
                    f"fits {first.id} and {job.id} {reason}{detail}: a likelihood-ratio test "
                    "compares nested models fitted to the same data",
                )
    scaled = result0.get("estimator") == "MLR"
    nobs = int(result0.get("nobs") or 0)
    ngroups = max(len(result0.get("groups") or []), 1)
    try:
        rows = lrt_table(
            [(j.result or {})["fit"] for j in jobs],
            scaled=scaled,
            nobs=nobs,
            ngroups=ngroups,
            names=[j.id for j in jobs],
        )
    except ModelError as exc:
        raise _refuse("fits", str(exc)) from exc
    names = {j.id: j.name for j in jobs}
    table = [
        {
            "fit": r["model"],
            "name": names[r["model"]],
            **{k: v for k, v in r.items() if k != "model"},
        }
        for r in rows
    ]
    return FitComparison(
        method="satorra.bentler.2001" if scaled else "standard", nobs=nobs, table=table
    )


def remove_fit(session: Session, *, fit_id: str) -> str:
    """Cancel a queued or running job ("cancelled"; its worker stops at the next stage or
    bootstrap draw), or delete a finished one ("deleted")."""
    begin_write(session)
    now = utcnow()
    res = session.execute(
        update(FitJob)
        .where(FitJob.id == fit_id, FitJob.status.in_(ACTIVE))
        .values(status="cancelled", error="cancelled", finished_at=now, heartbeat_at=now)
    )
    if getattr(res, "rowcount", 0):
        session.commit()
        logger.info("fit %s cancelled", fit_id)
        return "cancelled"
    session.execute(delete(FitJob).where(FitJob.id == fit_id))
    session.commit()
    logger.info("fit %s deleted", fit_id)
    return "deleted"


# ---- state changes of a run (called by the worker, in its own session) ----------------------
def assign_job(session: Session, *, fit_id: str, runner: str) -> None:
    """Mark a queued job as held by ``runner`` (an in-process pool) for recovery purposes."""
    begin_write(session)
    session.execute(
        update(FitJob)
        .where(FitJob.id == fit_id, FitJob.status == "queued")
        .values(runner=runner, heartbeat_at=utcnow())
    )
    session.commit()


def claim_job(session: Session, *, fit_id: str, runner: str) -> bool:
    """Atomically move a queued job to running under ``runner``; False if someone else has it."""
    begin_write(session)
    now = utcnow()
    res = session.execute(
        update(FitJob)
        .where(FitJob.id == fit_id, FitJob.status == "queued")
        .values(
            status="running",
            runner=runner,
            started_at=now,
            heartbeat_at=now,
            attempts=FitJob.attempts + 1,
            progress=0.0,
        )
    )
    session.commit()
    return bool(getattr(res, "rowcount", 0))


def touch_jobs(
    session: Session, *, fit_ids: list[str], runner: str, progress: float | None = None
) -> int:
    """Heartbeat (and progress) of jobs this runner holds; how many it still holds (a job
    cancelled or taken over by another runner is not touched)."""
    if not fit_ids:
        return 0
    begin_write(session)
    values: dict[str, Any] = {"heartbeat_at": utcnow()}
    if progress is not None:
        values["progress"] = progress
    res = session.execute(
        update(FitJob)
        .where(FitJob.id.in_(fit_ids), FitJob.runner == runner, FitJob.status.in_(ACTIVE))
        .values(**values)
    )
    session.commit()
    return int(getattr(res, "rowcount", 0) or 0)


def finish_job(
    session: Session,
    *,
    fit_id: str,
    runner: str,
    result: dict[str, Any] | None = None,
    error: str | None = None,
) -> bool:
    begin_write(session)
    values: dict[str, Any] = {"finished_at": utcnow(), "heartbeat_at": utcnow()}
    if error is None:
        values.update(status="done", progress=1.0, result=result, error=None)
    else:
        values.update(status="failed", error=error[:4000])
    res = session.execute(
        update(FitJob)
        .where(FitJob.id == fit_id, FitJob.runner == runner, FitJob.status == "running")
        .values(**values)
    )
    session.commit()
    return bool(getattr(res, "rowcount", 0))


# ---- recovery --------------------------------------------------------------------------------
def _runner_dead(runner: str | None) -> bool:
    """True when ``runner`` was a process on this host that no longer exists."""
    if not runner:
        return True
    host, _, rest = runner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != HOST or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False  # maybe another app instance of this process (tests): trust the heartbeat
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def recover_jobs(
    session: Session, *, runner: str, stale_after: timedelta, requeue_queued: bool = True
) -> list[str]:
    """Take over the jobs of processes that died; return the ids to (re-)submit.

    A job is orphaned when its runner is a dead process on this host, or its heartbeat is older
    than ``stale_after`` (another host, or a hung process). Orphaned ``queued`` jobs are taken
    over as they are. Orphaned ``running`` jobs are re-run while they have attempts left
    (``MAX_ATTEMPTS``) and otherwise marked failed with the reason: never left "running".
    """
    begin_write(session)
    cutoff = utcnow() - stale_after
    jobs = session.scalars(select(FitJob).where(FitJob.status.in_(ACTIVE))).all()
    resubmit: list[str] = []
    for job in jobs:
        heartbeat = job.heartbeat_at
        if heartbeat.tzinfo is None:  # SQLite drops the zone; values are stored in UTC
            heartbeat = heartbeat.replace(tzinfo=cutoff.tzinfo)
        if job.runner == runner or not (_runner_dead(job.runner) or heartbeat < cutoff):
            continue
        if job.status == "queued" and not requeue_queued:
            continue
        values: dict[str, Any]
        if job.status == "running" and job.attempts >= MAX_ATTEMPTS:
            values = {
                "status": "failed",
                "finished_at": utcnow(),
                "error": f"interrupted: the process running this fit stopped "
                f"({job.attempts} attempts); not retried again",
            }
        else:
            values = {"status": "queued", "progress": 0.0, "runner": runner}
        values["heartbeat_at"] = utcnow()
        same_runner = FitJob.runner.is_(None) if job.runner is None else FitJob.runner == job.runner
        res = session.execute(
            update(FitJob)
            .where(FitJob.id == job.id, FitJob.status == job.status, same_runner)
            .values(**values)
        )
        if getattr(res, "rowcount", 0) and values["status"] == "queued":
            resubmit.append(job.id)
        logger.warning(
            "fit %s of runner %s recovered: now %s", job.id, job.runner, values["status"]
        )
    session.commit()
    return resubmit
