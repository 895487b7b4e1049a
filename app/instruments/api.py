"""JSON routes: instrument documents (upload, list, read, versions, JSON Schema)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Response as HttpResponse

from app.deps import OperatorKey, SessionDep, UnscopedResearcherKey
from app.errors import TooLarge, UnsupportedMediaType
from app.instruments import service
from app.instruments.registry import MAX_DOCUMENT_BYTES, DocumentFormat, json_schema
from app.instruments.schemas import InstrumentStored, InstrumentSummary, InstrumentVersionRead

router = APIRouter(prefix="/api/v1", tags=["instruments"])

MEDIA_TYPES: dict[str, DocumentFormat] = {
    "application/yaml": "yaml",
    "application/x-yaml": "yaml",
    "text/yaml": "yaml",
    "text/x-yaml": "yaml",
    "application/json": "json",
}
# bounded: a version past 64 bits is a 500 (OverflowError) on SQLite
Version = Annotated[int | None, Query(ge=1, le=2**31 - 1)]


def document_format(request: Request) -> DocumentFormat:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    fmt = MEDIA_TYPES.get(media)
    if fmt is None:
        raise UnsupportedMediaType(
            f"send the instrument document as {', '.join(MEDIA_TYPES)} (got {media or 'none'})"
        )
    return fmt


async def document_body(request: Request) -> bytes:
    """The request body, refused (413) past `MAX_DOCUMENT_BYTES` before it is all read."""
    too_large = TooLarge(f"an instrument document is at most {MAX_DOCUMENT_BYTES} bytes")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_DOCUMENT_BYTES:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_DOCUMENT_BYTES:
            raise too_large
    return bytes(body)


_DOCUMENT = {
    "description": "An instrument document (docs/instruments.md; JSON Schema: "
    "GET /api/v1/instruments/schema)",
    "required": True,
    "content": {
        "application/yaml": {"schema": {"type": "string"}},
        "application/json": {"schema": {"type": "object"}},
    },
}


@router.post(
    "/instruments",
    status_code=201,
    response_model=InstrumentStored,
    openapi_extra={"requestBody": _DOCUMENT},
    responses={
        200: {"description": "The same content was stored already: that version"},
        413: {"description": "Document too large"},
        415: {"description": "Not YAML or JSON"},
        422: {"description": "Every problem of the document, with its path"},
    },
)
def upload_instrument(
    fmt: Annotated[DocumentFormat, Depends(document_format)],
    content: Annotated[bytes, Depends(document_body)],
    session: SessionDep,
    principal: UnscopedResearcherKey,
    http_response: HttpResponse,
) -> Any:
    """Store an instrument document (researcher or admin keys without a branch scope: a new
    version moves the idle surveys of every branch)."""
    row, created = service.upload_instrument(
        session, content=content, fmt=fmt, source="api", key_id=principal.key_id
    )
    if not created:
        http_response.status_code = 200
    return InstrumentStored(**InstrumentSummary.of(row).model_dump(), created=created)


@router.get("/instruments", response_model=list[InstrumentSummary])
def list_instruments(session: SessionDep, _: OperatorKey) -> Any:
    return [InstrumentSummary.of(row) for row in service.current_instruments(session)]


@router.get("/instruments/schema")
def instrument_schema(_: OperatorKey) -> dict[str, Any]:
    """JSON Schema (2020-12) of an instrument document. It checks structure and types; the
    cross references (constructs, scales, translations, the model) are checked on upload."""
    return json_schema()


@router.get("/instruments/{instrument_id}")
def read_instrument(
    instrument_id: str, session: SessionDep, _: OperatorKey, version: Version = None
) -> dict[str, Any]:
    return service.get_instrument_definition(session, instrument_id=instrument_id, version=version)


@router.get("/instruments/{instrument_id}/versions", response_model=list[InstrumentVersionRead])
def list_instrument_versions(instrument_id: str, session: SessionDep, _: OperatorKey) -> Any:
    versions = service.list_versions(session, instrument_id=instrument_id)
    current = max(v.row.version for v in versions)
    return [InstrumentVersionRead.of(v, current=current) for v in versions]
