"""Is comparing branch means sound? The dashboard's own scalar-invariance check across branches.

The dashboard compares construct indices across branches, which is only sound when the items
measure the same thing in every branch (scalar invariance: equal loadings and intercepts). The
check is an ordinary fit job (``app.fits``), so it is cached by data fingerprint + spec and made
once per data state, runs in the background and survives restarts:

- model: the measurement part (the ``=~`` lines) of the instrument's default model. Invariance
  is a property of the measurement model; the structural part would add misfit of its own (and
  the default model's labels would tie paths across groups). Constructs with items that allow
  N/A are left out, and named: they are answered by a subset of customers (e.g. network users),
  whose saturated model per branch cannot be estimated reliably under FIML (measured on
  telecom_1500: no fit measures, 100 s for two branches), and the remaining constructs take ~30 s
  for 8 branches of 1,500 responses;
- FIML, ML, ``group="branch"``, configural -> metric -> scalar; branches below the survey's
  ``min_group_size`` are left out by the job (``excluded_groups``).

A branch-scoped key sees the verdict without the codes of branches outside its scope (left-out
branches are counted, not named; failures are reported without the job's error text).

At most one such job runs per survey: while it runs, the last finished check (on earlier data)
is shown beside the "running" note instead of queueing another. A check younger than
``RECHECK_AFTER`` is shown as it is: a busy survey would otherwise start a ~30 s multi-group fit
(and scan every response for the data fingerprint) on each dashboard view after a new response.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import DomainError
from app.fits import service as fits
from app.fits.models import ACTIVE, FitJob
from app.fits.schemas import FitCreate
from app.stats.sem import DELTA_CFI as DELTA_CFI_LIMIT
from app.surveys.models import Survey
from app.surveys.service import as_utc, survey_spec, utcnow

Submit = Callable[[str], None]
RECHECK_AFTER = timedelta(hours=1)


@dataclass(frozen=True)
class InvarianceStatus:
    """What the dashboard shows, as data (the page words it in the reader's language).

    ``state``: running | holds | fails | unknown | unavailable. Branches outside the viewer's
    scope are never named: ``left_out`` holds the visible ones, ``others`` counts the rest.
    """

    state: str
    fit_id: str | None = None
    progress: float = 0.0
    delta_cfi: float | None = None
    delta_p: float | None = None
    nobs: int | None = None
    groups: int = 0
    left_out: tuple[str, ...] = ()
    others: int = 0
    not_covered: tuple[str, ...] = ()
    error: str | None = None  # why it is unavailable (only for unscoped keys)
    previous: InvarianceStatus | None = None  # the last finished check while a newer one runs
    limit: float = DELTA_CFI_LIMIT


def check_model(survey: Survey) -> tuple[str, list[str]]:
    """The model of the check and the constructs left out of it (items allowing N/A)."""
    spec = survey_spec(survey)
    optional = {i.construct for i in spec.items if i.allow_na}
    lines, left_out = [], []
    for line in spec.default_model.splitlines():
        if "=~" in line:
            construct = line.split("=~", 1)[0].strip()
            if construct in optional:
                left_out.append(construct)
            else:
                lines.append(line.strip())
    return "\n".join(lines), left_out


def check_spec(survey: Survey) -> FitCreate:
    model, _ = check_model(survey)
    return FitCreate(model=model, missing="fiml", group="branch", invariance=True)


def _is_check(job: FitJob, model: str) -> bool:
    spec = job.spec or {}
    return bool(spec.get("group") == "branch" and spec.get("invariance") and spec["model"] == model)


def _jobs(session: Session, survey: Survey, model: str, statuses: tuple[str, ...]) -> list[FitJob]:
    rows = session.scalars(
        select(FitJob)
        .where(FitJob.survey_id == survey.id, FitJob.status.in_(statuses))
        .order_by(FitJob.created_at.desc())
        .limit(50)
    )
    return [j for j in rows if _is_check(j, model)]


def branch_invariance(
    session: Session,
    *,
    survey: Survey,
    submit: Submit | None = None,
    scope: Sequence[str] | None = None,
) -> InvarianceStatus:
    """The check for the current data: its verdict, or queue it (``submit``) and say so.

    ``scope``: the branches the viewer may see (None = all); others are never named.
    """
    spec = check_spec(survey)
    model = spec.canonical(model=spec.model or "")["model"]
    _, left_out = check_model(survey)
    active = _jobs(session, survey, model, ACTIVE)
    done = _jobs(session, survey, model, ("done",))
    latest = verdict(done[0], left_out, scope=scope) if done else None
    if latest is not None and not active and as_utc(done[0].created_at) > utcnow() - RECHECK_AFTER:
        return latest
    key = fits.cache_key(
        data_fp=fits.data_fingerprint(session, survey=survey, filters=fits.filters_of({})),
        spec=spec.canonical(model=model, min_group_size=survey.min_group_size),
    )
    current = next((j for j in done + active if j.cache_key == key), None)
    if current is None and active:
        current = active[0]  # one check at a time: a newer one waits for this one
    if current is None:
        try:
            submission = fits.create_fit(session, survey=survey, data=spec)
        except DomainError as exc:
            return InvarianceStatus("unavailable", error=_unavailable(exc, scope))
        current = submission.job
        if submission.created and submit is not None:
            submit(current.id)
    if current.status == "done":
        return verdict(current, left_out, scope=scope)
    if current.status == "failed":
        why = (current.error or "") if scope is None else None
        return InvarianceStatus("unavailable", fit_id=current.id, error=why or None)
    return InvarianceStatus(
        "running", fit_id=current.id, progress=float(current.progress or 0.0), previous=latest
    )


def _unavailable(exc: DomainError, scope: Sequence[str] | None) -> str | None:
    if scope is not None:  # the reason may name other branches
        return None
    return str(exc.detail if isinstance(exc.detail, str) else exc.detail[0].get("msg", ""))


def verdict(
    job: FitJob, left_out: list[str], *, scope: Sequence[str] | None = None
) -> InvarianceStatus:
    """Scalar invariance holds or fails, from a finished check's ``result["invariance"]``.

    ``scope``: branches the viewer may see (None = all); other branches are only counted.
    """
    result: dict[str, Any] = job.result or {}
    scalar: dict[str, Any] = next(
        (s for s in result.get("invariance") or [] if s.get("level") == "scalar"), {}
    )
    d_cfi, d_p = scalar.get("delta.cfi"), scalar.get("delta.pvalue")
    skipped = [str(e.get("group")) for e in result.get("excluded_groups") or []]
    named = tuple(g for g in skipped if scope is None or g in set(scope))
    state = "unknown" if d_cfi is None else "fails" if d_cfi < DELTA_CFI_LIMIT else "holds"
    return InvarianceStatus(
        state,
        fit_id=job.id,
        progress=1.0,
        delta_cfi=d_cfi,
        delta_p=d_p,
        nobs=result.get("nobs"),
        groups=len(result.get("groups") or []),
        left_out=named,
        others=len(skipped) - len(named),
        not_covered=tuple(left_out),
    )
