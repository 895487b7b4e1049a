"""``GET /api/v1/audit`` (admin keys without a branch scope): the audit log, newest first,
paged by event id."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from app.audit import service
from app.audit.schemas import AuditEventRead, AuditPage
from app.deps import AdminKey, SessionDep
from app.errors import Forbidden

router = APIRouter(prefix="/api/v1", tags=["audit"])


@router.get("/audit", response_model=AuditPage)
def list_audit_events(
    session: SessionDep,
    principal: AdminKey,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="an event id")] = None,
    action: service.Action | None = None,
    key_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> Any:
    if principal.branches is not None:
        raise Forbidden("the audit log covers every branch: it needs an admin key without a scope")
    events = service.list_events(session, limit=limit, before=before, action=action, key_id=key_id)
    return AuditPage(
        items=[AuditEventRead.model_validate(e) for e in events],
        next_before=events[-1].id if len(events) == limit else None,
    )
