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
    """What the dashboard shows. ``state``: running | holds | fails | unknown | unavailable."""

    state: str
    message: str
    fit_id: str | None = None
    previous: str | None = None  # the last finished verdict while a newer check runs


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
            return InvarianceStatus("unavailable", _unavailable(exc, scope))
        current = submission.job
        if submission.created and submit is not None:
            submit(current.id)
    if current.status == "done":
        return verdict(current, left_out, scope=scope)
    if current.status == "failed":
        why = f": {current.error}" if scope is None else ""
        return InvarianceStatus("unavailable", f"The invariance check across branches failed{why}")
    previous = latest.message if latest is not None else None
    return InvarianceStatus(
        "running",
        f"Invariance check across branches running ({current.progress:.0%}); reload later.",
        current.id,
        previous,
    )


def _unavailable(exc: DomainError, scope: Sequence[str] | None) -> str:
    if scope is not None:  # the reason may name other branches
        return "No invariance check across branches is available yet."
    detail = exc.detail if isinstance(exc.detail, str) else exc.detail[0].get("msg", "")
    return f"No invariance check across branches: {detail}"


def _skipped(skipped: list[dict[str, Any]], scope: Sequence[str] | None) -> str:
    """The left-out branches: named when the viewer may see them, else only counted."""
    named = [e for e in skipped if scope is None or str(e.get("group")) in set(scope)]
    parts = [f"{e['group']} ({e['reason']})" for e in named]
    others = len(skipped) - len(named)
    if others:
        parts.append(f"{others} other branch{'es' if others > 1 else ''}")
    return ", ".join(parts)


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
    n = result.get("nobs")
    groups = len(result.get("groups") or [])
    where = f"{groups} branches, {n} responses, fit {job.id[:8]}"
    skipped = result.get("excluded_groups") or []
    if skipped:
        where += "; left out: " + _skipped(skipped, scope)
    if left_out:
        where += f"; not covered: {', '.join(left_out)} (items allow N/A)"
    if d_cfi is None:
        return InvarianceStatus(
            "unknown", f"Scalar invariance across branches could not be assessed ({where}).", job.id
        )
    if d_cfi < DELTA_CFI_LIMIT:
        return InvarianceStatus(
            "fails",
            f"Scalar invariance across branches is rejected (ΔCFI = {d_cfi:.3f}"
            + (f", Δχ² p = {d_p:.3g}" if d_p is not None else "")
            + f"; {where}): the items may not mean the same in every branch, so differences "
            "of branch means are not sound.",
            job.id,
        )
    return InvarianceStatus(
        "holds",
        f"Scalar invariance across branches holds (ΔCFI = {d_cfi:.3f} ≥ {DELTA_CFI_LIMIT}; "
        f"{where}): branch means can be compared.",
        job.id,
    )
