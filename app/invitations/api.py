"""JSON routes: invitation batches (send, read, remind) and response rates."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from app.deps import OperatorKey, ResearcherKey, SessionDep, SettingsDep, SurveyDep
from app.errors import InvalidInput, field_error
from app.invitations import service
from app.invitations.csvin import recipients_from_csv
from app.invitations.jobs import Dispatcher, make_dispatcher
from app.invitations.rates import response_rates
from app.invitations.schemas import (
    BatchCreate,
    BatchCreated,
    BatchRead,
    RateRead,
    RatesRead,
    Reminded,
)

_lock = threading.Lock()


def dispatcher(app: FastAPI) -> Dispatcher:
    """This process's sender of invitation messages (started on first use)."""
    with _lock:
        current: Dispatcher | None = getattr(app.state, "invitation_dispatcher", None)
        if current is None:
            current = make_dispatcher(app.state.sessionmaker, settings=app.state.settings)
            app.state.invitation_dispatcher = current
            current.start()
        return current


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    current: Dispatcher | None = getattr(app.state, "invitation_dispatcher", None)
    if current is not None:
        await run_in_threadpool(current.shutdown)
        app.state.invitation_dispatcher = None


router = APIRouter(prefix="/api/v1", tags=["invitations"], lifespan=lifespan)


def inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with its ``$defs`` references written in place (the route reads its body
    itself, so its models are not among the OpenAPI components)."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return walk(defs[ref.removeprefix("#/$defs/")])
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    result: dict[str, Any] = walk(schema)
    return result


BODY_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": inlined(BatchCreate.model_json_schema())},
            "text/csv": {
                "schema": {"type": "string"},
                "example": "email,phone,branch,lang,segment\na@example.com,,BR01,en,prepaid\n",
            },
        },
    }
}


async def batch_body(request: Request) -> BatchCreate:
    """The batch from a JSON body, or from CSV (``Content-Type: text/csv``; reminders then
    come from the query: ``max_reminders``, ``remind_after_days``)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw = await request.body()
    try:
        if kind in ("text/csv", "application/csv"):
            data: dict[str, Any] = {"recipients": recipients_from_csv(raw)}
            for name in ("max_reminders", "remind_after_days"):
                if name in request.query_params:
                    data[name] = request.query_params[name]
        else:
            try:
                data = json.loads(raw or b"null")
            except ValueError:
                msg = "not JSON (or send text/csv)"
                raise InvalidInput([field_error("body", msg=msg)]) from None
        return BatchCreate.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None


@router.post(
    "/surveys/{slug}/invitations",
    status_code=202,
    response_model=BatchCreated,
    openapi_extra=BODY_DOC,
)
async def create_invitations(
    request: Request,
    survey: SurveyDep,
    session: SessionDep,
    principal: ResearcherKey,
    settings: SettingsDep,
) -> Any:
    """Queue one message per recipient, each with its own single-use invitation token; they
    are sent in the background. The batch id reads the messages' states."""
    data = await batch_body(request)
    for i, r in enumerate(data.recipients):
        if not principal.can_see(r.branch):
            raise InvalidInput(
                [field_error("recipients", i, "branch", msg="outside this key's branches")]
            )
    base_url = settings.public_url or str(request.base_url)
    batch, queued = await run_in_threadpool(
        lambda: service.create_batch(
            session, survey=survey, data=data, base_url=base_url, actor=principal.actor()
        )
    )
    await run_in_threadpool(lambda: dispatcher(request.app).kick())
    return BatchCreated(batch=batch.id, survey=survey.slug, queued=queued)


@router.get("/surveys/{slug}/invitations/{batch}", response_model=BatchRead)
def read_invitations(
    batch: str, survey: SurveyDep, session: SessionDep, principal: OperatorKey
) -> Any:
    """Each message's state (an operator sees the messages of its branches); contact details
    are masked."""
    return service.read_batch(session, survey=survey, batch_id=batch, branches=principal.branches)


@router.post("/surveys/{slug}/invitations/{batch}/remind", response_model=Reminded)
def remind_invitations(
    batch: str,
    survey: SurveyDep,
    session: SessionDep,
    principal: ResearcherKey,
    request: Request,
) -> Any:
    """Queue reminders to the batch's recipients who have not completed, within its
    ``max_reminders`` and ``remind_after_days``."""
    service.get_batch(session, survey=survey, batch_id=batch)
    queued = service.queue_reminders(
        session, survey=survey, batch_id=batch, branches=principal.branches
    )
    if queued:
        dispatcher(request.app).kick()
    return Reminded(batch=batch, queued=queued)


@router.get("/surveys/{slug}/rates", response_model=RatesRead)
def read_rates(
    survey: SurveyDep,
    session: SessionDep,
    principal: OperatorKey,
    by: Annotated[
        str, Query(max_length=64, description='"branch" or an attribute of the recipients')
    ] = "branch",
) -> Any:
    """Invitations sent, opened and completed, the rate and the median completion time per
    branch or attribute value (an operator sees its branches; small groups suppressed)."""
    rows = response_rates(session, survey=survey, by=by, scope=principal.branches)
    return RatesRead(
        survey=survey.slug,
        by=by,
        min_group_size=survey.min_group_size,
        groups=[RateRead(**r.to_dict()) for r in rows],
    )
