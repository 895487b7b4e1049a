"""JSON (and CSV) routes for operators: scores, drivers, trends (API.md "Operators")."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from app.auth.service import Principal
from app.deps import OperatorKey, SessionDep, SurveyDep, split_codes
from app.errors import Forbidden, InvalidInput, field_error
from app.reporting import service
from app.reporting.plsboot import DEFAULT_DRAWS, MAX_DRAWS, MIN_DRAWS
from app.reporting.schemas import DriversOut, ScoresOut
from app.reporting.tables import parse_filters

router = APIRouter(prefix="/api/v1", tags=["reporting"])

MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"
BranchQuery = Annotated[
    str | None, Query(description="comma-separated branch codes to show, e.g. BR01,BR02")
]
MonthQuery = Annotated[str | None, Query(pattern=MONTH, description="YYYY-MM, inclusive")]
ByQuery = Annotated[
    str, Query(max_length=40, description="branch, month or an attribute code of the instrument")
]


CSV = "text/csv; charset=utf-8"
SVG = "image/svg+xml"
# JSON by default; ``format=csv`` returns the same table as a CSV download.
CSV_TOO: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}}
}


def download(text: str, filename: str, media_type: str = CSV, *, inline: bool = False) -> Response:
    """A file for the browser to save (or, ``inline``, to show) under ``filename``."""
    disposition = "inline" if inline else "attachment"
    return Response(
        text,
        media_type=media_type,
        headers={"Content-Disposition": f'{disposition}; filename="{filename}"'},
    )


def check_exclude_flagged(principal: Principal, *, index: str) -> None:
    """``exclude_flagged`` on an aggregate is for keys that may read raw responses anyway.

    An operator could subtract the table without exclusion from the table with it and learn
    the scores of the (few) flagged respondents of a branch: a group far below
    ``min_group_size``. Researchers and admins may export every response, so the difference
    tells them nothing new."""
    if not principal.has_role("researcher"):
        raise Forbidden(
            [
                field_error(
                    "exclude_flagged",
                    msg="needs a researcher or admin key: an operator key may not exclude "
                    "flagged responses from aggregates",
                )
            ]
        )
    if index == "pls":
        raise InvalidInput(
            [field_error("exclude_flagged", msg="not available with index=pls; use index=equal")]
        )


@router.get("/surveys/{slug}/scores", response_model=ScoresOut, responses=CSV_TOO)
def scores(
    request: Request,
    principal: OperatorKey,
    survey: SurveyDep,
    session: SessionDep,
    by: ByQuery = "branch",
    branch: BranchQuery = None,
    month_from: MonthQuery = None,
    month_to: MonthQuery = None,
    format: Literal["json", "csv"] = "json",
    index: Annotated[
        Literal["equal", "pls"],
        Query(
            description="`equal`: the mean of the construct's items; `pls`: ACSI-style index "
            "with the items weighted by a PLS fit of the instrument's model on all responses "
            "(`pls` in the answer holds the model, weights and scale)"
        ),
    ] = "equal",
    ci: Annotated[
        bool,
        Query(
            description=f"with `index=pls`: bootstrap percentile intervals `ci_boot` per index "
            f"({DEFAULT_DRAWS} draws unless `bootstrap` says otherwise)"
        ),
    ] = False,
    bootstrap: Annotated[
        int | None,
        Query(
            ge=MIN_DRAWS,
            le=MAX_DRAWS,
            description="with `index=pls`: number of bootstrap draws of `ci_boot` (implies ci)",
        ),
    ] = None,
    seed: Annotated[int, Query(ge=0, le=2**31 - 1, description="seed of the bootstrap draws")] = 1,
    exclude_flagged: Annotated[
        bool,
        Query(
            description="true: leave out responses with a quality flag (default false). "
            "Researcher and admin keys only: an operator key gets 403 (the difference of two "
            "requests would describe the few flagged respondents); not with `index=pls`"
        ),
    ] = False,
) -> Any:
    """0-100 index per group and construct with a 95% CI and a Holm-corrected Welch test of the
    group against the rest, from the protected cells of the disclosure control; groups below
    the survey's ``min_group_size`` show only ``n``. ``attr.<code>=v1,v2`` keeps respondents
    with those values of one attribute. With ``index=pls`` and ``ci=true`` (or ``bootstrap=N``)
    each index also gets ``ci_boot``, a seeded percentile bootstrap interval that includes the
    weights' sampling error (``pls.bootstrap`` reports the draws)."""
    if exclude_flagged:
        check_exclude_flagged(principal, index=index)
    draws = bootstrap or (DEFAULT_DRAWS if ci else None)
    if draws and index != "pls":
        name = "bootstrap" if bootstrap else "ci"
        raise InvalidInput([field_error(name, msg="bootstrap intervals need index=pls")])
    kw: dict[str, Any] = {
        "survey": survey,
        "by": by,
        "scope": principal.branches,
        "branches": split_codes(branch),
        "months": (month_from, month_to),
        "filters": parse_filters(request.query_params),
    }
    extra: dict[str, Any] = {}
    cis = None
    if index == "pls":
        result, weighted, cis = service.get_pls_scores(session, bootstrap=draws, seed=seed, **kw)
        extra = {"index": "pls", "pls": weighted.info()}
        if cis is not None:
            extra["pls"]["bootstrap"] = cis.info()
    else:
        result = service.get_scores(session, exclude_flagged=exclude_flagged, **kw)
    if format == "csv":
        name = f"{survey.slug}-{'pls-' if extra else ''}scores-by-{by}.csv"
        return download(service.scores_csv(result), name)
    # Plain floats/str/None only: skip jsonable_encoder, which costs more than the statistics
    # (ScoresOut documents this JSON; tests/reporting/test_schemas.py holds it to it).
    body = result.to_dict()
    if cis is not None:
        body = cis.annotate(body)
    return JSONResponse(body | extra)


@router.get("/surveys/{slug}/ipma")
def pls_ipma(
    principal: OperatorKey,
    survey: SurveyDep,
    session: SessionDep,
    outcome: Annotated[str | None, Query(max_length=40)] = None,
) -> dict[str, Any]:
    """Importance-performance map analysis of the PLS-weighted model (the weights of
    ``scores?index=pls``) for ``outcome`` (default: the instrument's outcome): per construct and
    item the 0-100 performance and the unstandardized total effect on the outcome, pooled over
    every response (like ``/drivers``' importances)."""
    return service.get_pls_ipma(session, survey=survey, outcome=outcome)


@router.get("/surveys/{slug}/drivers", response_model=DriversOut)
def drivers(
    request: Request,
    principal: OperatorKey,
    survey: SurveyDep,
    session: SessionDep,
    outcome: Annotated[str | None, Query(max_length=40)] = None,
    branch: str | None = None,
    exclude_flagged: Annotated[
        bool,
        Query(
            description="true: importance and performance without the responses with a "
            "quality flag (default false). Researcher and admin keys only (403 for operator "
            "keys, as on `scores`)"
        ),
    ] = False,
) -> dict[str, Any]:
    """Importance (standardized SEM effects, pooled) x performance (index) and IPA quadrants;
    ``outcome`` defaults to the instrument's."""
    if exclude_flagged:
        check_exclude_flagged(principal, index="equal")
    report = service.get_drivers(
        session,
        survey=survey,
        outcome=outcome,
        branch=branch,
        scope=principal.branches,
        filters=parse_filters(request.query_params),
        exclude_flagged=exclude_flagged,
    )
    return report.to_dict()


@router.get("/surveys/{slug}/trends", response_model=ScoresOut, responses=CSV_TOO)
def trends(
    request: Request,
    principal: OperatorKey,
    survey: SurveyDep,
    session: SessionDep,
    by: Literal["month", "survey"] = "month",
    branch: BranchQuery = None,
    format: Literal["json", "csv"] = "json",
    index: Annotated[
        Literal["equal", "pls"],
        Query(
            description="`equal`: item means; `pls`: the ACSI-style PLS-weighted index of "
            "`scores?index=pls` (by survey: each survey with its own weights)"
        ),
    ] = "equal",
    exclude_flagged: Annotated[
        bool,
        Query(
            description="true: leave out responses with a quality flag (default false). "
            "Researcher and admin keys only (403 for operator keys, as on `scores`); "
            "not with `index=pls`"
        ),
    ] = False,
) -> Any:
    """Index and 95% CI per construct by month of submission (UTC) or by survey of the same
    instrument; periods below ``min_group_size`` show only ``n``."""
    if exclude_flagged:
        check_exclude_flagged(principal, index=index)
    result = service.get_trends(
        session,
        survey=survey,
        by=by,
        scope=principal.branches,
        branches=split_codes(branch),
        filters=parse_filters(request.query_params),
        index=index,
        exclude_flagged=exclude_flagged,
    )
    prefix = "pls-" if index == "pls" else ""
    if format == "csv":
        return download(service.scores_csv(result), f"{survey.slug}-{prefix}trends-by-{by}.csv")
    extra = {"index": "pls"} if index == "pls" else {}
    return JSONResponse(result.to_dict() | extra)
