"""Annotated dependencies shared by every router: the session, API-key roles, the survey."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from app.auth.service import Principal, authenticate
from app.config import Settings
from app.errors import Conflict, Forbidden, Unauthorized
from app.surveys.models import Survey
from app.surveys.service import get_survey


def get_session(request: Request) -> Iterator[Session]:
    session: Session = request.app.state.sessionmaker()
    try:
        yield session
    finally:
        session.close()


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]

_bearer = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer <key>`")


def get_principal(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    checked = getattr(request.state, "principal", None)  # by app.security.key_first, first
    if isinstance(checked, Principal):
        return checked
    if credentials is None or not credentials.credentials:
        raise Unauthorized("missing API key (Authorization: Bearer <key>)")
    principal = authenticate(session, raw_key=credentials.credentials)
    if principal is None:
        raise Unauthorized("unknown API key")
    return principal


def require_role(minimum: str) -> Callable[[Principal], Principal]:
    def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if not principal.has_role(minimum):
            raise Forbidden(f"this needs a {minimum} key (yours is {principal.role})")
        return principal

    check.__name__ = f"require_{minimum}"
    return check


AdminKey = Annotated[Principal, Depends(require_role("admin"))]
ResearcherKey = Annotated[Principal, Depends(require_role("researcher"))]  # admin or researcher
OperatorKey = Annotated[Principal, Depends(require_role("operator"))]  # any valid key


def require_unscoped(principal: ResearcherKey) -> Principal:
    """A researcher or admin key limited to no branches: settings that hold for every branch
    (survey edits) are not for a branch-scoped key."""
    if principal.branches is not None:
        raise Forbidden("a branch-scoped key may not change survey settings")
    return principal


UnscopedResearcherKey = Annotated[Principal, Depends(require_unscoped)]


def check_branch_scope(principal: Principal, branch: str) -> None:
    """Raise Forbidden unless the key may see ``branch``."""
    if not principal.can_see(branch):
        raise Forbidden(f"this key may not see branch {branch}")


def survey_from_path(slug: str, session: SessionDep) -> Survey:
    return get_survey(session, slug=slug)


def open_survey_from_path(survey: Annotated[Survey, Depends(survey_from_path)]) -> Survey:
    if not survey.is_open:
        raise Conflict(f"survey {survey.slug} is closed")
    return survey


SurveyDep = Annotated[Survey, Depends(survey_from_path)]
OpenSurveyDep = Annotated[Survey, Depends(open_survey_from_path)]


def split_codes(value: str | None) -> list[str] | None:
    """``"A, B,,C"`` -> ``["A", "B", "C"]``; empty -> None (a comma list in a query or flag)."""
    codes = [c.strip() for c in (value or "").split(",") if c.strip()]
    return codes or None
