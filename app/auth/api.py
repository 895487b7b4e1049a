"""Key management (admin): ``GET /api/v1/keys``, ``POST /api/v1/keys``,
``POST /api/v1/keys/{id}/revoke``.

An admin key limited to some branches sees, creates and revokes only keys within them, so it
cannot mint itself a wider key.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from app.auth import service
from app.auth.schemas import KeyCreate, KeyCreated, KeyRead
from app.deps import AdminKey, SessionDep

router = APIRouter(prefix="/api/v1", tags=["keys"])

KeyId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.get("/keys", response_model=list[KeyRead])
def list_keys(session: SessionDep, principal: AdminKey) -> Any:
    return [k for k in service.list_keys(session) if principal.covers(k.branches)]


@router.post("/keys", status_code=201, response_model=KeyCreated)
def create_key(data: KeyCreate, session: SessionDep, principal: AdminKey) -> Any:
    key, raw = service.create_api_key(
        session,
        role=data.role,
        branches=principal.scope(data.branches),  # a limited key makes only limited keys
        label=data.label,
        actor=principal.actor(),
    )
    return KeyCreated(**KeyRead.model_validate(key).model_dump(), key=raw)


@router.post("/keys/{key_id}/revoke", response_model=KeyRead)
def revoke_key(key_id: KeyId, session: SessionDep, principal: AdminKey) -> Any:
    return service.revoke_key(session, key_id=key_id, actor=principal.actor(), by=principal)
