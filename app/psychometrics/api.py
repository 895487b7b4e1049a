"""JSON routes for researchers (API.md "Psychometrics")."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from app.deps import ResearcherKey, SessionDep, SurveyDep, split_codes
from app.psychometrics import service
from app.psychometrics.schemas import (
    EFAMethod,
    EFAParams,
    EFARotation,
    EFAUse,
    MissingMode,
    ReliabilityParams,
)
from app.psychometrics.tables import DEFAULT_TABLE, report_tables
from app.stats.validity import HTMT_MAX_DRAWS
from app.tables import download, pick

router = APIRouter(prefix="/api/v1", tags=["psychometrics"])

FormatQuery = Annotated[
    Literal["json", "csv", "xlsx"],
    Query(
        alias="format",
        description="json (default), csv (one table: `table`) or xlsx (every table, one sheet "
        "each); column names are the JSON's",
    ),
]
TableQuery = Annotated[
    str | None,
    Query(max_length=100, description="the table of a CSV download (default: the main one)"),
]
DOWNLOAD: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "application/json": {},
            "text/csv": {},
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {},
        }
    }
}


def _answer(
    kind: str, report: dict[str, Any], fmt: str, table: str | None, slug: str
) -> dict[str, Any] | Response:
    if fmt == "json":
        return report
    tables = report_tables(kind, report)
    if fmt == "csv":
        chosen = pick(tables, table or DEFAULT_TABLE[kind])
        return download([chosen], "csv", filename=f"{slug}-{kind}-{chosen.name}")
    return download(tables, "xlsx", filename=f"{slug}-{kind}")


BranchQuery = Annotated[
    str | None,
    Query(description="comma-separated branch codes; fewer rows than min_group_size -> 422"),
]


ExcludeFlaggedQuery = Annotated[
    bool,
    Query(
        description="true: leave out responses with a quality flag (speeder, straight-liner, "
        "duplicate); default false, as on every analysis"
    ),
]


@router.get("/surveys/{slug}/reliability", responses=DOWNLOAD)
def reliability(
    principal: ResearcherKey,
    survey: SurveyDep,
    session: SessionDep,
    branch: BranchQuery = None,
    constructs: Annotated[
        str | None, Query(description="comma-separated construct codes (default: all)")
    ] = None,
    missing: Annotated[
        MissingMode,
        Query(description="CFA and HTMT with missing items: fiml (EM/FIML) or listwise"),
    ] = "fiml",
    htmt_bootstrap: Annotated[
        int,
        Query(
            ge=0,
            le=HTMT_MAX_DRAWS,
            description="bootstrap draws for percentile intervals of HTMT and HTMT2 (0: none)",
        ),
    ] = 0,
    seed: Annotated[int, Query(ge=0, le=2**31 - 1, description="seed of the HTMT bootstrap")] = 1,
    fmt: FormatQuery = "json",
    table: TableQuery = None,
    exclude_flagged: ExcludeFlaggedQuery = False,
) -> Any:
    """Per construct: n, alpha, omega, cr, ave and item statistics; HTMT, HTMT2 and the
    Fornell-Larcker table. ``missing`` in the response says how missing data were used. With
    ``htmt_bootstrap`` draws, ``htmt_bootstrap`` holds per pair of constructs the bootstrap se
    and percentile interval of HTMT and HTMT2 and the draws requested, succeeded and dropped
    (the same seed on the same rows gives the same numbers whatever their order)."""
    params = ReliabilityParams(
        branch=split_codes(branch),
        constructs=split_codes(constructs),
        missing=missing,
        htmt_bootstrap=htmt_bootstrap,
        seed=seed,
        exclude_flagged=exclude_flagged,
    )
    scope = principal.scope(params.branch)
    report = service.get_reliability(session, survey=survey, params=params, scope=scope)
    return _answer("reliability", report.to_dict(), fmt, table, survey.slug)


@router.get("/surveys/{slug}/efa", responses=DOWNLOAD)
def efa(
    principal: ResearcherKey,
    survey: SurveyDep,
    session: SessionDep,
    items: Annotated[
        str | None, Query(description="comma-separated item codes (default: all items)")
    ] = None,
    constructs: Annotated[
        str | None,
        Query(description="comma-separated construct codes: their items (instead of items)"),
    ] = None,
    use: Annotated[
        EFAUse,
        Query(
            description="complete: the rows with every chosen item (listwise); pairwise: each "
            "correlation over the rows with both items (psych's use='pairwise'); fiml: the "
            "correlations of the EM (full-information ML) estimate over every row with an item "
            "(lavaan's lavCor(missing='ml'))"
        ),
    ] = "complete",
    factors: Annotated[
        int | None, Query(ge=1, description="number of factors (default: parallel analysis)")
    ] = None,
    rotation: EFARotation = "oblimin",
    method: EFAMethod = "minres",
    branch: BranchQuery = None,
    seed: Annotated[
        int, Query(ge=0, le=2**31 - 1, description="seed of the parallel analysis")
    ] = 1,
    fmt: FormatQuery = "json",
    table: TableQuery = None,
    exclude_flagged: ExcludeFlaggedQuery = False,
) -> Any:
    """KMO, Bartlett, eigenvalues, parallel analysis, loadings and communalities on the
    complete cases of the chosen items (or pairwise, or FIML (EM) correlations). The result
    says how many rows listwise deletion kept (`n_complete` of `n_rows`, `missing_by_item`)
    and warns (`warnings`) when it kept fewer than half; `loadings_sorted` lists the loadings
    sorted by factor with those below `cut` (0.3) left out (null)."""
    params = EFAParams(
        items=split_codes(items),
        constructs=split_codes(constructs),
        use=use,
        factors=factors,
        rotation=rotation,
        method=method,
        branch=split_codes(branch),
        seed=seed,
        exclude_flagged=exclude_flagged,
    )
    scope = principal.scope(params.branch)
    report = service.get_efa(session, survey=survey, params=params, scope=scope).to_dict()
    return _answer("efa", report, fmt, table, survey.slug)
