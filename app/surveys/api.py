"""JSON routes: branches, surveys, invitation tokens, responses (API.md v1; instruments are
app.instruments.api)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Header, Query, Request, UploadFile
from fastapi import Response as HttpResponse
from fastapi.responses import FileResponse, PlainTextResponse, StreamingResponse
from sqlalchemy.orm import Session
from starlette.background import BackgroundTask

from app.auth.service import Principal, create_tokens
from app.config import Settings
from app.deps import (
    AdminKey,
    OperatorKey,
    ResearcherKey,
    SessionDep,
    SettingsDep,
    SurveyDep,
    UnscopedResearcherKey,
    check_branch_scope,
    split_codes,
)
from app.surveys import csvio, frames, labelled, lifecycle, partials, posters, quality, service
from app.surveys.models import Branch, Survey
from app.surveys.schemas import (
    BranchCreate,
    BranchRead,
    BranchUpdate,
    ClientInfo,
    EraseByToken,
    Erased,
    FlagsRead,
    ImportResult,
    ResponseCreate,
    ResponseCreated,
    ResponseFilters,
    SurveyCreate,
    SurveyRead,
    SurveyUpdate,
    TokensCreate,
    TokensRead,
)
from app.surveys.specs import survey_spec

router = APIRouter(prefix="/api/v1")


@router.post("/branches", status_code=201, response_model=BranchRead, tags=["branches"])
def create_branch(data: BranchCreate, session: SessionDep, _: AdminKey) -> Any:
    return service.create_branch(session, data=data)


@router.patch("/branches/{code}", response_model=BranchRead, tags=["branches"])
def update_branch(code: str, data: BranchUpdate, session: SessionDep, principal: AdminKey) -> Any:
    """Rename a branch, per language too: ``{"names": {"zh": "北京朝阳", "en": "Beijing
    Chaoyang"}}`` (merged into the stored names; ``null`` removes a language). A branch-scoped
    admin key changes only its branches."""
    check_branch_scope(principal, code)
    return service.update_branch(session, code=code, data=data)


@router.get("/branches", response_model=list[BranchRead], tags=["branches"])
def list_branches(session: SessionDep, principal: OperatorKey) -> Any:
    return service.list_branches(session, codes=principal.branches)


@router.post("/surveys", status_code=201, response_model=SurveyRead, tags=["surveys"])
def create_survey(data: SurveyCreate, session: SessionDep, _: ResearcherKey) -> Any:
    return service.create_survey(session, data=data)


@router.get("/surveys", response_model=list[SurveyRead], tags=["surveys"])
def list_surveys(session: SessionDep, _: OperatorKey) -> Any:
    return service.list_surveys(session)


@router.get("/surveys/{slug}", response_model=SurveyRead, tags=["surveys"])
def read_survey(survey: SurveyDep, _: OperatorKey) -> Any:
    return survey


@router.patch("/surveys/{slug}", response_model=SurveyRead, tags=["surveys"])
def update_survey(
    data: SurveyUpdate, survey: SurveyDep, session: SessionDep, principal: UnscopedResearcherKey
) -> Any:
    """Change a survey (researcher or admin keys without a branch scope). Lowering
    ``min_group_size`` or switching ``requires_token`` or ``anonymous`` off needs an admin key
    (403 naming the field). Changes of those settings are audited."""
    return service.update_survey(
        session,
        survey=survey,
        data=data,
        may_weaken_privacy=principal.has_role("admin"),
        actor=principal.actor(),
    )


@router.post("/surveys/{slug}/tokens", status_code=201, response_model=TokensRead, tags=["surveys"])
def create_invitation_tokens(
    data: TokensCreate, survey: SurveyDep, session: SessionDep, principal: AdminKey
) -> Any:
    check_branch_scope(principal, data.branch)
    tokens = create_tokens(session, survey=survey, branch_code=data.branch, count=data.count)
    return TokensRead(survey=survey.slug, branch=data.branch, tokens=tokens)


@router.post(
    "/surveys/{slug}/responses",
    status_code=201,
    response_model=ResponseCreated,
    responses={200: {"description": "Replay of an Idempotency-Key: the stored response"}},
    tags=["responses"],
)
def submit_response(
    payload: ResponseCreate,
    survey: SurveyDep,
    session: SessionDep,
    request: Request,
    http_response: HttpResponse,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> Any:
    client = ClientInfo(
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
    )
    stored, created = service.submit_response(
        session, survey=survey, payload=payload, idempotency_key=idempotency_key, client=client
    )
    if not created:
        http_response.status_code = 200
    return ResponseCreated(id=stored.id)


CSV_CELLS = (
    "Columns `id,submitted_at,branch,<attributes>,lang,<items>`. Item cells: the integer (scale "
    "and 0-10 items), the option code (single choice), option codes joined by `;` (multiple "
    "choice; empty = none chosen), the text (open text); `NA` = not applicable, an empty cell = "
    "not answered (a not-answered multiple-choice item is empty too, so it imports back as none "
    "chosen). The import also reads `na` and `n/a` as not applicable."
)


@router.post(
    "/surveys/{slug}/responses/import",
    description=CSV_CELLS,
    status_code=201,
    response_model=ImportResult,
    tags=["responses"],
)
def import_responses(
    file: Annotated[UploadFile, File(description="CSV, UTF-8, in the export format")],
    survey: SurveyDep,
    session: SessionDep,
    principal: ResearcherKey,
    settings: SettingsDep,
) -> Any:
    """All rows or none; a branch-scoped key may import rows of its branches only (422 naming
    the other rows)."""
    imported = csvio.import_csv(
        session,
        survey=survey,
        data=file.file,
        scope=principal.branches,
        settings=settings,
    )
    return ImportResult(imported=imported)


@router.get(
    "/surveys/{slug}/responses.csv",
    description=CSV_CELLS,
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/csv": {}}}},
    tags=["responses"],
)
def export_responses(
    request: Request,
    survey: SurveyDep,
    session: SessionDep,
    principal: ResearcherKey,
    branch: Annotated[str | None, Query(description="comma-separated branch codes")] = None,
    submitted_from: datetime | None = None,
    submitted_to: datetime | None = None,
) -> Any:
    """Streamed: the rows are read through a server-side cursor in chunks, so memory stays flat
    at any number of responses; the row count audited is that of the snapshot streamed."""
    requested = split_codes(branch)
    filters = ResponseFilters(submitted_from=submitted_from, submitted_to=submitted_to)
    scope = principal.scope(requested)
    reader: Session = request.app.state.sessionmaker()
    try:
        frames.snapshot(reader)
        rows = frames.count_stored(reader, survey=survey, filters=filters, branches=scope)
        detail = {
            "format": "csv",
            "branches": scope,
            "submitted_from": submitted_from.isoformat() if submitted_from else None,
            "submitted_to": submitted_to.isoformat() if submitted_to else None,
            "rows": rows,
        }
        lifecycle.audit_export(session, survey=survey, actor=principal.actor(), detail=detail)
    except BaseException:
        reader.close()
        raise

    def body() -> Iterator[bytes]:
        try:
            for piece in csvio.iter_export_csv(
                reader, survey=survey, filters=filters, branches=scope
            ):
                yield piece.encode("utf-8")
        finally:
            reader.close()

    return StreamingResponse(
        body(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{survey.slug}-responses.csv"'},
    )


@router.get("/surveys/{slug}/flags", response_model=FlagsRead, tags=["responses"])
def response_flags(
    survey: SurveyDep,
    session: SessionDep,
    principal: ResearcherKey,
    branch: Annotated[str | None, Query(description="comma-separated branch codes")] = None,
    flagged_only: Annotated[
        bool, Query(description="true: list only the responses with a flag")
    ] = False,
) -> Any:
    """Response quality: the thresholds in force, counts per flag, the partial (unsubmitted)
    responses per branch, and every response's completion time and flags. Flags are raised
    when a response is stored; `exclude_flagged=true` leaves flagged responses out of fits,
    reliability, EFA and scores (default false)."""
    scope = principal.scope(split_codes(branch))
    rows = quality.flag_rows(session, survey=survey, branches=scope)
    seconds, run = quality.thresholds(survey)
    partial = partials.partial_counts(session, survey)
    return {
        "survey": survey.slug,
        "thresholds": {
            "speeder_seconds_per_item": seconds,
            "straightline_items": run,
            "default_speeder_seconds_per_item": quality.DEFAULT_SPEEDER_SECONDS_PER_ITEM,
            "default_straightline_items": quality.DEFAULT_STRAIGHTLINE_ITEMS,
        },
        "summary": quality.flag_summary(rows),
        "partial_responses": {
            code: n for code, n in partial.items() if scope is None or code in scope
        },
        "responses": [
            {
                "id": r.id,
                "branch": r.branch,
                "submitted_at": r.submitted_at,
                "duration_seconds": r.duration_seconds,
                "flags": r.flags,
            }
            for r in rows
            if r.flags or not flagged_only
        ],
    }


LABELLED = (
    "Labels: variable labels = item texts, value labels = scale point and option labels, in "
    "`lang` (default: the instrument's first language). Not applicable = -98 and not answered "
    "= -99, both user-missing; multiple choice = one 0/1 variable per option (`<code>_<k>`). "
    "The codebook (`responses.codebook.csv`) lists every code."
)
XLSX = (
    "Sheet `responses`: the CSV export's columns and cells (`NA` = not applicable, empty = not "
    "answered); sheet `codebook`: `responses.codebook.csv`."
)
SAV_TYPE = "application/x-spss-sav"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _download(
    path: str,
    rows: int,
    *,
    survey: Any,
    principal: Any,
    session: Any,
    fmt: str,
    media: str,
    scope: list[str] | None,
    filters: ResponseFilters,
) -> FileResponse:
    """Audit a row-data download (as the CSV export) and stream the file, deleted after."""
    detail = {
        "format": fmt,
        "branches": scope,
        "submitted_from": filters.submitted_from.isoformat() if filters.submitted_from else None,
        "submitted_to": filters.submitted_to.isoformat() if filters.submitted_to else None,
        "rows": rows,
    }
    try:
        lifecycle.audit_export(session, survey=survey, actor=principal.actor(), detail=detail)
    except BaseException:
        os.unlink(path)
        raise
    return FileResponse(
        path,
        media_type=media,
        filename=f"{survey.slug}-responses.{fmt}",
        background=BackgroundTask(os.unlink, path),
    )


@router.get(
    "/surveys/{slug}/responses.sav",
    description=LABELLED,
    response_class=FileResponse,
    responses={200: {"content": {SAV_TYPE: {}}}},
    tags=["responses"],
)
def export_responses_sav(
    survey: SurveyDep,
    session: SessionDep,
    principal: ResearcherKey,
    branch: Annotated[str | None, Query(description="comma-separated branch codes")] = None,
    submitted_from: datetime | None = None,
    submitted_to: datetime | None = None,
    lang: Annotated[str | None, Query(description="language of the labels")] = None,
) -> Any:
    scope = principal.scope(split_codes(branch))
    filters = ResponseFilters(submitted_from=submitted_from, submitted_to=submitted_to)
    path, rows = labelled.write_sav(
        session, survey=survey, lang=lang, filters=filters, branches=scope
    )
    return _download(
        path,
        rows,
        survey=survey,
        principal=principal,
        session=session,
        fmt="sav",
        media=SAV_TYPE,
        scope=scope,
        filters=filters,
    )


@router.get(
    "/surveys/{slug}/responses.xlsx",
    description=XLSX,
    response_class=FileResponse,
    responses={200: {"content": {XLSX_TYPE: {}}}},
    tags=["responses"],
)
def export_responses_xlsx(
    survey: SurveyDep,
    session: SessionDep,
    principal: ResearcherKey,
    branch: Annotated[str | None, Query(description="comma-separated branch codes")] = None,
    submitted_from: datetime | None = None,
    submitted_to: datetime | None = None,
) -> Any:
    scope = principal.scope(split_codes(branch))
    filters = ResponseFilters(submitted_from=submitted_from, submitted_to=submitted_to)
    path, rows = labelled.write_xlsx(session, survey=survey, filters=filters, branches=scope)
    return _download(
        path,
        rows,
        survey=survey,
        principal=principal,
        session=session,
        fmt="xlsx",
        media=XLSX_TYPE,
        scope=scope,
        filters=filters,
    )


@router.get(
    "/surveys/{slug}/responses.codebook.csv",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/csv": {}}}},
    tags=["responses"],
)
def responses_codebook(survey: SurveyDep, _: ResearcherKey) -> Any:
    """Every variable of the exports (CSV, .sav, .xlsx) with its label per language and every
    value with its .sav code (`value`) and its CSV cell (`csv_value`): scale points, options,
    not applicable (-98 / `NA`) and not answered (-99 / empty)."""
    return PlainTextResponse(
        labelled.codebook_csv(survey_spec(survey)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{survey.slug}-codebook.csv"'},
    )


@router.delete("/surveys/{slug}/responses/{response_id}", status_code=204, tags=["responses"])
def delete_response(
    response_id: uuid.UUID, survey: SurveyDep, session: SessionDep, principal: AdminKey
) -> HttpResponse:
    """Delete one response (the score aggregates follow; audited)."""
    lifecycle.delete_response(
        session,
        survey=survey,
        response_id=response_id,
        actor=principal.actor(),
        scope=principal.branches,
    )
    return HttpResponse(status_code=204)


@router.post("/surveys/{slug}/responses/erase", response_model=Erased, tags=["responses"])
def erase_response_by_token(
    data: EraseByToken, survey: SurveyDep, session: SessionDep, principal: AdminKey
) -> Any:
    """Delete the response submitted with an invitation token (a respondent's erasure
    request). Anonymous surveys keep no such link: 409."""
    erased = lifecycle.erase_by_token(
        session, survey=survey, token=data.token, actor=principal.actor(), scope=principal.branches
    )
    return Erased(deleted=erased)


# ---- branch QR codes and posters (issue 17) ---------------------------------------------------
LangQuery = Annotated[
    str | None,
    Query(description="a language of the instrument (default: its first); the poster's texts"),
]


def _branch_url(
    survey: Survey,
    code: str,
    session: Session,
    principal: Principal,
    settings: Settings,
    request: Request,
) -> tuple[Branch, str]:
    """The branch (403 outside the key's scope, 404 unknown) and its questionnaire URL."""
    check_branch_scope(principal, code)
    branch = service.get_branch(session, code=code)
    base = settings.public_url or str(request.base_url)
    return branch, posters.questionnaire_url(base, survey.slug, branch.code)


@router.get(
    "/surveys/{slug}/branches/{code}/qr.svg",
    response_class=HttpResponse,
    responses={200: {"content": {"image/svg+xml": {}}}},
    tags=["surveys"],
)
def branch_qr_svg(
    code: str,
    survey: SurveyDep,
    session: SessionDep,
    principal: OperatorKey,
    settings: SettingsDep,
    request: Request,
) -> HttpResponse:
    """The QR code of the branch's questionnaire URL ``{PVM_PUBLIC_URL}/s/{slug}?branch={code}``
    (PVM_PUBLIC_URL unset: this server's address as the request reached it)."""
    _, url = _branch_url(survey, code, session, principal, settings, request)
    return HttpResponse(posters.qr_svg(url), media_type="image/svg+xml")


@router.get(
    "/surveys/{slug}/branches/{code}/qr.png",
    response_class=HttpResponse,
    responses={200: {"content": {"image/png": {}}}},
    tags=["surveys"],
)
def branch_qr_png(
    code: str,
    survey: SurveyDep,
    session: SessionDep,
    principal: OperatorKey,
    settings: SettingsDep,
    request: Request,
    scale: Annotated[int, Query(ge=1, le=40, description="pixels per module")] = 8,
) -> HttpResponse:
    """The branch's QR code as a PNG (``scale`` pixels per module, a 4-module quiet zone)."""
    _, url = _branch_url(survey, code, session, principal, settings, request)
    return HttpResponse(posters.qr_png(url, scale=scale), media_type="image/png")


@router.get(
    "/surveys/{slug}/branches/{code}/poster.pdf",
    response_class=HttpResponse,
    responses={200: {"content": {"application/pdf": {}}}},
    tags=["surveys"],
)
def branch_poster(
    code: str,
    survey: SurveyDep,
    session: SessionDep,
    principal: OperatorKey,
    settings: SettingsDep,
    request: Request,
    lang: LangQuery = None,
) -> HttpResponse:
    """A printable A4 poster for the branch in one language of the instrument: the survey's
    title, an invitation, the QR code with its URL under it, and the branch's name."""
    lang = posters.poster_lang(survey_spec(survey), lang)
    branch, url = _branch_url(survey, code, session, principal, settings, request)
    font = posters.poster_font(settings.poster_font)
    pdf = posters.poster_pdf(posters.poster_text(survey, branch, lang, url), font=font)
    filename = f"{survey.slug}-{branch.code}-{lang}.pdf"
    return HttpResponse(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{filename}"'},
    )
