"""Operators' dashboard: HTML page, login form (key -> session cookie), CSV/SVG downloads.

Authentication accepts ``Authorization: Bearer <key>`` or the ``pvm_session`` cookie set by the
login form (httponly, SameSite=Strict, path /dashboard, Secure over https). The cookie holds a
server-side session id (:mod:`app.auth.sessions`), never the key; logging out deletes the
session, and revoking the key ends it at once. The form carries a
CSRF token (:mod:`app.security.csrf`); failed logins lock the client out under the bad-token
limits (:mod:`app.security.lockout`): 429 with Retry-After. Every figure comes
from ``app.reporting.service``, so suppression and branch scope are those of the JSON API.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.auth.service import Principal, authenticate
from app.auth.sessions import SESSION_TTL, end_session, session_principal, start_session
from app.deps import SessionDep, SurveyDep, split_codes
from app.errors import DomainError, Unauthorized
from app.fits.api import start_runner
from app.reporting import service
from app.reporting.api import SVG, download
from app.reporting.invariance import branch_invariance
from app.reporting.tables import parse_filters
from app.security.csrf import DASHBOARD_LOGIN
from app.security.headers import DASHBOARD_CSP, secure_page
from app.security.lockout import locked_for, record_failure
from app.stats.charts import heat_table_svg, index_colour, index_range, ipa_svg, significance_mark
from app.stats.charts import trend_svg as trend_chart
from app.stats.scores import GroupScores
from app.surveys.specs import survey_spec

router = APIRouter(prefix="/dashboard", tags=["dashboard"], include_in_schema=False)

COOKIE = "pvm_session"
COOKIE_MAX_AGE = int(SESSION_TTL.total_seconds())
LEGACY_COOKIE = "pvm_key"  # held the raw key before sessions: ignored, deleted at log in/out
CSRF = DASHBOARD_LOGIN
LOGIN_LOCKOUT = "dashboard-login"  # counter key of failed logins per client


def optional_principal(request: Request, session: SessionDep) -> Principal | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        raw = header[7:].strip()
        return authenticate(session, raw_key=raw) if raw else None
    session_id = request.cookies.get(COOKIE)
    return session_principal(session, session_id=session_id) if session_id else None


def required_principal(
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal:
    if principal is None:
        raise Unauthorized("log in with an operator key")
    return principal


MaybeKey = Annotated[Principal | None, Depends(optional_principal)]
DashKey = Annotated[Principal, Depends(required_principal)]
BranchQuery = Annotated[str | None, Query(description="comma-separated branch codes")]
ByQuery = Annotated[str, Query(max_length=40)]
OutcomeQuery = Annotated[str | None, Query(max_length=40)]


def _templates(request: Request) -> Any:
    return request.app.state.templates


def _login(
    request: Request,
    slug: str,
    error: str | None,
    status: int,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    nonce = CSRF.nonce(request)
    page: HTMLResponse = _templates(request).TemplateResponse(
        request,
        "reporting/login.html",
        {
            "next": f"/dashboard/{slug}",
            "slug": slug,
            "error": error,
            "csrf_token": CSRF.sign(request, nonce),
        },
        status_code=status,
        headers=headers,
    )
    CSRF.set_cookie(request, page, nonce)
    return secure_page(page, csp=DASHBOARD_CSP)


@router.post("/login", response_model=None)
def login(
    request: Request,
    session: SessionDep,
    key: Annotated[str, Form(max_length=200)],
    next: Annotated[str, Form(max_length=300)] = "/dashboard",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    slug = next.removeprefix("/dashboard/").split("?")[0].split("/")[0]
    wait = locked_for(request, kind=LOGIN_LOCKOUT)
    if wait:
        minutes = max(1, -(-wait // 60))
        message = f"Too many failed logins from this address; try again in {minutes} min."
        return _login(request, slug, message, 429, {"Retry-After": str(wait)})
    if not CSRF.valid(request, csrf_token):
        return _login(request, slug, "The login form expired; please try again.", 403)
    principal = authenticate(session, raw_key=key.strip())
    if principal is None or principal.key_id is None:
        record_failure(request, kind=LOGIN_LOCKOUT)
        return _login(request, slug, "This key is not valid.", 401)
    session_id = start_session(session, key_id=principal.key_id)
    target = next if next.startswith("/dashboard/") and "//" not in next else "/dashboard"
    response = RedirectResponse(target, status_code=303)
    response.delete_cookie(LEGACY_COOKIE, path="/dashboard")
    response.set_cookie(
        COOKIE,
        session_id,
        max_age=COOKIE_MAX_AGE,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/dashboard",
    )
    return response


@router.post("/logout", response_model=None)
def logout(request: Request, session: SessionDep) -> Response:
    """End the session on the server (a stolen copy of the cookie stops working too)."""
    session_id = request.cookies.get(COOKIE)
    if session_id:
        end_session(session, session_id=session_id)
    response = RedirectResponse("/dashboard", status_code=303)
    response.delete_cookie(COOKIE, path="/dashboard")
    response.delete_cookie(LEGACY_COOKIE, path="/dashboard")
    return response


@router.get("", response_model=None)
def dashboard_home(request: Request) -> Response:
    return _login(request, "", None, 200)


@router.get("/{slug}", response_model=None)
def dashboard(
    request: Request,
    slug: str,
    session: SessionDep,
    principal: MaybeKey,
    branch: BranchQuery = None,
    by: ByQuery = "branch",
    outcome: OutcomeQuery = None,
) -> Response:
    if principal is None:
        return _login(request, slug, None, 401)
    from app.surveys.service import get_survey

    survey = get_survey(session, slug=slug)
    codes = split_codes(branch)
    filters = parse_filters(request.query_params)
    scores = service.get_scores(
        session, survey=survey, by=by, scope=principal.branches, branches=codes, filters=filters
    )
    trends = service.get_trends(
        session, survey=survey, scope=principal.branches, branches=codes, filters=filters
    )
    drivers, drivers_error = None, None
    visible = service.visible_branches(session, scope=principal.branches, requested=None)
    shown = codes or visible
    focus = shown[0] if shown and len(shown) == 1 else None  # one branch: its own IPA
    try:
        drivers = service.get_drivers(
            session,
            survey=survey,
            outcome=outcome,
            branch=focus,
            scope=principal.branches,
            filters=filters,
        )
    except DomainError as exc:
        drivers_error = str(exc.detail if isinstance(exc.detail, str) else exc.detail[0]["msg"])
    spec = survey_spec(survey)
    lang = spec.languages[0] if "en" not in spec.languages else "en"
    rows = [("branch", "Branches"), ("month", "Months")]
    rows += [(a.code, a.label.get(lang) or a.code) for a in spec.attributes]
    lo, hi = index_range(scores)
    all_codes = visible if visible is not None else sorted(service.branch_codes(session))
    query = request.url.query
    context = {
        "survey": survey,
        "title": survey.title.get("en") or survey.title.get("zh") or survey.slug,
        "scores": scores,
        "by": by,
        "outcome": drivers.outcome if drivers else outcome,
        "branch_filter": codes or [],
        "branches": all_codes,
        "scoped": principal.branches is not None,
        "colour": lambda v: index_colour(v, lo, hi),
        "mark": significance_mark,
        "row_options": rows,
        "outcome_options": spec.construct_codes,
        "ipa_svg": ipa_svg(drivers.ipa) if drivers else None,
        "drivers": drivers,
        "drivers_error": drivers_error,
        "trend_svg": trend_chart(trends),
        "invariance": branch_invariance(
            session, survey=survey, submit=_submitter(request), scope=principal.branches
        ),
        "q": ("?" + query) if query else "",
    }
    page = _templates(request).TemplateResponse(request, "reporting/dashboard.html", context)
    return secure_page(page, csp=DASHBOARD_CSP)


def _submitter(request: Request) -> Any:
    runner = start_runner(request.app)
    return runner.submit


def _svg(text: str, name: str) -> Response:
    return download(text, name, SVG, inline=True)


def _download_scores(
    principal: DashKey,  # first: the key before the survey lookup (no slug enumeration)
    request: Request,
    survey: SurveyDep,
    session: SessionDep,
    branch: BranchQuery = None,
    by: ByQuery = "branch",
) -> GroupScores:
    """The score table behind the downloads: the key's branches, narrowed by ``branch``."""
    return service.get_scores(
        session,
        survey=survey,
        by=by,
        scope=principal.branches,
        branches=split_codes(branch),
        filters=parse_filters(request.query_params),
    )


DownloadScores = Annotated[GroupScores, Depends(_download_scores)]


@router.get("/{slug}/scores.csv", response_model=None)
def scores_csv(result: DownloadScores, survey: SurveyDep) -> Response:
    return download(service.scores_csv(result), f"{survey.slug}-scores.csv")


@router.get("/{slug}/scores.svg", response_model=None)
def scores_svg(result: DownloadScores, survey: SurveyDep) -> Response:
    title = f"Index by {result.by}"
    return _svg(heat_table_svg(result, title=title), f"{survey.slug}-scores.svg")


@router.get("/{slug}/ipa.svg", response_model=None)
def ipa_download(
    principal: DashKey,
    request: Request,
    survey: SurveyDep,
    session: SessionDep,
    branch: BranchQuery = None,
    outcome: OutcomeQuery = None,
) -> Response:
    codes = split_codes(branch)
    focus = codes[0] if codes and len(codes) == 1 else None
    report = service.get_drivers(
        session,
        survey=survey,
        outcome=outcome,
        branch=focus,
        scope=principal.branches,
        filters=parse_filters(request.query_params),
    )
    return _svg(ipa_svg(report.ipa), f"{survey.slug}-ipa-{report.outcome}.svg")


@router.get("/{slug}/trends.svg", response_model=None)
def trends_download(
    principal: DashKey,
    request: Request,
    survey: SurveyDep,
    session: SessionDep,
    branch: BranchQuery = None,
) -> Response:
    trends = service.get_trends(
        session,
        survey=survey,
        scope=principal.branches,
        branches=split_codes(branch),
        filters=parse_filters(request.query_params),
    )
    return _svg(trend_chart(trends), f"{survey.slug}-trends.svg")
