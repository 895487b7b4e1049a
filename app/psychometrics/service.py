"""Psychometrics on a survey's stored responses: load the item frame, check the request,
call app.stats, return its result. Raises domain errors only (the web layer maps them)."""

from __future__ import annotations

import logging

import pandas as pd
from sqlalchemy.orm import Session

from app.errors import InvalidInput
from app.instruments.spec import InstrumentSpec
from app.psychometrics.schemas import EFAParams, ReliabilityParams
from app.stats.efa import EFAError, EFAResult, run_efa
from app.stats.reliability import ReliabilityError
from app.stats.reliability_report import ReliabilityReport, reliability_report
from app.surveys.models import Survey
from app.surveys.schemas import ResponseFilters
from app.surveys.service import load_item_frame, survey_spec

log = logging.getLogger(__name__)


def _query_error(param: str | None, msg: str) -> InvalidInput:
    loc = ["query", param] if param else ["query"]
    return InvalidInput([{"loc": loc, "field": param or "", "msg": msg, "type": "value_error"}])


def _frame(
    session: Session,
    *,
    survey: Survey,
    branch: list[str] | None,
    scope: list[str] | None,
    exclude_flagged: bool = False,
) -> pd.DataFrame:
    """Responses of ``survey`` in ``branch`` (within the key's ``scope``).

    With a branch filter, fewer rows than the survey's ``min_group_size`` are refused: a
    small group's statistics could identify respondents.
    """
    filters = ResponseFilters(branch=branch or None, exclude_flagged=exclude_flagged)
    frame = load_item_frame(session, survey=survey, filters=filters, branches=scope)
    if branch and len(frame) < survey.min_group_size:
        raise _query_error(
            "branch",
            f"branch filter {','.join(branch)} selects {len(frame)} responses, fewer than the "
            f"survey's min_group_size of {survey.min_group_size}",
        )
    return frame


def get_reliability(
    session: Session,
    *,
    survey: Survey,
    params: ReliabilityParams,
    scope: list[str] | None = None,
) -> ReliabilityReport:
    """Reliability and validity of the instrument's constructs on the survey's responses."""
    spec = survey_spec(survey)
    constructs = spec.construct_items
    if params.constructs:
        _check_constructs(spec, params.constructs)
        constructs = {c: constructs[c] for c in params.constructs}
    frame = _frame(
        session,
        survey=survey,
        branch=params.branch,
        scope=scope,
        exclude_flagged=params.exclude_flagged,
    )
    if frame.empty:
        raise _query_error(None, "the survey has no responses in this selection")
    try:
        return reliability_report(
            frame,
            constructs,
            missing=params.missing,
            htmt_draws=params.htmt_bootstrap,
            seed=params.seed,
        )
    except ReliabilityError as exc:
        raise _query_error(None, str(exc)) from None


def _check_constructs(spec: InstrumentSpec, codes: list[str]) -> None:
    """422 naming ``constructs`` when a code is not one of the instrument's constructs."""
    unknown = [c for c in codes if c not in spec.construct_items]
    if unknown:
        known = ", ".join(spec.construct_codes)
        raise _query_error(
            "constructs", f"unknown construct(s): {', '.join(unknown)} (known: {known})"
        )


def get_efa(
    session: Session,
    *,
    survey: Survey,
    params: EFAParams,
    scope: list[str] | None = None,
) -> EFAResult:
    """EFA of the chosen items (default: every scale and 0-10 item of the chosen constructs,
    else of the instrument) on their complete cases or pairwise (``params.use``)."""
    spec = survey_spec(survey)
    if params.constructs:
        _check_constructs(spec, params.constructs)
    if params.items and params.constructs:
        raise _query_error("items", "give items or constructs, not both")
    if params.constructs:
        chosen = {c for k in params.constructs for c in spec.construct_items[k]}
        items = [c for c in spec.numeric_codes if c in chosen]
    else:
        items = params.items or list(spec.numeric_codes)
    unknown = [c for c in items if c not in spec.item_codes]
    if unknown:
        raise _query_error("items", f"unknown item(s): {', '.join(unknown)}")
    other = [c for c in items if c not in spec.numeric_codes]
    if other:
        raise _query_error(
            "items", f"not scale or 0-10 items (no EFA of choices or text): {', '.join(other)}"
        )
    frame = _frame(
        session,
        survey=survey,
        branch=params.branch,
        scope=scope,
        exclude_flagged=params.exclude_flagged,
    )
    try:
        return run_efa(
            frame,
            items,
            n_factors=params.factors,
            method=params.method,
            rotation=params.rotation,
            seed=params.seed,
            use=params.use,
        )
    except EFAError as exc:
        raise _query_error(exc.param, str(exc)) from None
