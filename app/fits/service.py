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
from sqlalchemy.orm import Session

from app.auth.service import Principal
from app.db import begin_write
from app.errors import InvalidInput, NotFound, field_error
from app.fits.access import data_branches, job_branches
from app.fits.grouped import DEFAULT_MIN_GROUP_SIZE, parse_path
from app.fits.limits import FitLimits, check_limits, serialize_creation
from app.fits.models import ACTIVE, FitJob
from app.fits.pls import mga_groups
from app.fits.schemas import FitCreate, FitRead
from app.stats.pls import parse_pls
from app.stats.sem import ModelError, build_partable, usable_data
from app.stats.sem import definitions as check_definitions
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


def _check_pls(frame: pd.DataFrame, spec: dict[str, Any], *, items: Sequence[str]) -> None:
    """The PLS model's syntax and variables, and enough complete rows for listwise."""
    try:
        pls = parse_pls(spec["model"])
        numeric = set(items)
        bad = [v for v in pls.items if v not in numeric]
        if bad:
            raise ModelError(f"not scale or 0-10 items of the instrument: {', '.join(bad)}")
        values = frame[pls.items]
        usable = values.notna().all(axis=1) if spec["missing"] == "listwise" else values.notna()
        n = int(usable.sum()) if spec["missing"] == "listwise" else len(values)
        if n < 3:
            raise ModelError(f"too few rows: {n}")
    except ModelError as exc:
        raise InvalidInput([field_error("model", msg=str(exc))]) from exc


def check_model(frame: pd.DataFrame, spec: dict[str, Any], *, items: Sequence[str]) -> None:
    """What the engine would refuse, refused up front: syntax, unknown variables, too few rows.

    Cheaper than the engine's own ``prepare`` (no missing-data patterns, no moments), so the
    request stays quick on large surveys; rarer problems (a singular covariance matrix) still
    end the job as failed with the engine's message. A grouped spec is refused when fewer than
    two groups can be fitted (the others are left out at run time, with their reasons).
    ``items`` are the variables a model may name: the instrument's scale and 0-10 items.
    """
    if spec.get("method") == "pls":
        _check_pls(frame, spec, items=items)
        if spec.get("mga") is not None:
            try:
                mga_groups(frame, spec["mga"])
            except ModelError as exc:
                raise InvalidInput([field_error("mga.groups", msg=str(exc))]) from exc
        return
    try:
        group = spec.get("group")
        groups: list[str | None] = [None]
        if group is not None:
            groups = [str(g) for g in pd.unique(frame[group].dropna().astype(str))] or [None]
        listwise = spec["missing"] == "listwise"
        pt = build_partable(
            spec["model"],
            groups=groups,
            meanstructure=not listwise or group is not None,
            group_equal=spec.get("group_equal") or (),
        )
        numeric = set(items)
        other = [v for v in pt.names.ov if v in frame.columns and v not in numeric]
        if other:
            raise ModelError(
                f"not scale or 0-10 items (a model takes no choices or text): {', '.join(other)}"
            )
        unknown = [v for v in pt.names.ov if v not in numeric]
        if unknown:
            raise ModelError(f"unknown variable(s) in the model: {', '.join(unknown)}")
        check_definitions(pt)
        for path in spec.get("compare_paths") or []:
            target = parse_path(path)
            rows = [r for r in pt.rows if (r.lhs, r.op, r.rhs) == target]
            if not rows or not all(r.free for r in rows):
                raise ModelError(f"compare_paths: {path} is not a free parameter of the model")
        if group is not None:
            min_size = int(spec.get("min_group_size") or DEFAULT_MIN_GROUP_SIZE)
            try:
                usable_data(frame, spec["model"], group, spec["missing"], min_size)
            except ModelError as exc:
                raise InvalidInput([field_error("group", msg=str(exc))]) from exc
            return
        observed = frame[pt.names.ov].notna().to_numpy()
        usable = observed.all(axis=1) if listwise else observed.any(axis=1)
        n, p = int(usable.sum()), len(pt.names.ov)
        if n < 2 or (listwise and n <= p):
            raise ModelError(f"too few rows: {n} for {p} variables")
    except ModelError as exc:
        raise InvalidInput([field_error("model", msg=str(exc))]) from exc


def resolve_spec(data: FitCreate, *, survey: Survey) -> dict[str, Any]:
    """The canonical spec of a request on ``survey``: the model resolved (the instrument's by
    default), groups checked, and the PLS options completed from the instrument (IPMA target
    and scale ranges, the survey's ``min_group_size`` for MGA).

    Raises InvalidInput naming the field (422).
    """
    instrument = survey_spec(survey)
    model = data.model if data.model is not None else instrument.default_model
    groupable = ["branch", *instrument.attribute_codes]
    if data.group is not None and data.group not in groupable:
        raise InvalidInput([field_error("group", msg=f"must be one of {', '.join(groupable)}")])
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
