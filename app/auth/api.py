"""Key management (admin): ``GET /api/v1/keys``, ``POST /api/v1/keys``,
``POST /api/v1/keys/{id}/revoke``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from app.auth import service
from app.auth.schemas import KeyCreate, KeyCreated, KeyRead
from app.deps import AdminKey, SessionDep

router = APIRouter(prefix="/api/v1", tags=["keys"])

KeyId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.get("/keys", response_model=list[KeyRead])
def list_keys(session: SessionDep, _: AdminKey) -> Any:
    return service.list_keys(session)


@router.post("/keys", status_code=201, response_model=KeyCreated)
def create_key(data: KeyCreate, session: SessionDep, principal: AdminKey) -> Any:
    key, raw = service.create_api_key(
        session,
        role=data.role,
        branches=data.branches,
        label=data.label,
        actor=principal.actor(),
    )
    return KeyCreated(**KeyRead.model_validate(key).model_dump(), key=raw)


@router.post("/keys/{key_id}/revoke", response_model=KeyRead)
def revoke_key(key_id: KeyId, session: SessionDep, principal: AdminKey) -> Any:
    return service.revoke_key(session, key_id=key_id, actor=principal.actor())
