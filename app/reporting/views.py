"""Operators' dashboard: HTML page, login form (key -> session cookie), CSV/SVG downloads.

Authentication accepts ``Authorization: Bearer <key>`` or the ``pvm_session`` cookie set by the
login form (httponly, SameSite=Strict, path /dashboard, Secure over https). The cookie holds a
server-side session id (:mod:`app.auth.sessions`), never the key; logging out deletes the
session, and revoking the key ends it at once. The form carries a
CSRF token (:mod:`app.security.csrf`); failed logins lock the client out under the bad-token
limits (:mod:`app.security.lockout`): 429 with Retry-After. Every figure comes
from ``app.reporting.service``, so suppression and branch scope are those of the JSON API.

Every page and download is in the reader's language (:mod:`app.reporting.i18n`: ``?lang=``,
remembered in a cookie, else Accept-Language); :mod:`app.reporting.page` words the numbers.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from app.auth.service import Principal, authenticate
from app.auth.sessions import SESSION_TTL, end_session, session_principal, start_session
from app.deps import SessionDep, SurveyDep, split_codes
from app.errors import DomainError, Forbidden, InvalidInput, NotFound, Unauthorized, field_error
from app.fits.api import start_runner
from app.invitations.rates import response_rates
from app.reporting import page as words
from app.reporting import service
from app.reporting.api import SVG, download
from app.reporting.charts import heat_table_svg, ipa_svg, ipma_svg, trend_svg
from app.reporting.i18n import COOKIE as LANG_COOKIE
from app.reporting.i18n import LANGS, Labels, html_lang, page_lang, texts
from app.reporting.invariance import branch_invariance
from app.reporting.plsindex import pls_drivers
from app.reporting.tables import FILTER_PREFIX, parse_filters
from app.security.csrf import DASHBOARD_LOGIN
from app.security.headers import DASHBOARD_CSP, secure_page
from app.security.lockout import locked_for, record_failure
from app.stats.scores import GroupScores
from app.surveys.models import Survey
from app.surveys.service import branch_display_names, get_survey
from app.surveys.specs import survey_spec

router = APIRouter(prefix="/dashboard", tags=["dashboard"], include_in_schema=False)

COOKIE = "pvm_session"
COOKIE_MAX_AGE = int(SESSION_TTL.total_seconds())
LEGACY_COOKIE = "pvm_key"  # held the raw key before sessions: ignored, deleted at log in/out
CSRF = DASHBOARD_LOGIN
LOGIN_LOCKOUT = "dashboard-login"  # counter key of failed logins per client
LANG_MAX_AGE = 365 * 86400
REFRESH_S = 15  # the page reloads itself this often while the invariance check runs


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


# ---- language --------------------------------------------------------------------------------
def reader_lang(
    request: Request, survey: Survey | None = None, form_lang: str | None = None
) -> str:
    """The page's language: ``?lang`` (or the login form's), the cookie, Accept-Language, the
    instrument's first language."""
    preferred = survey_spec(survey).languages if survey is not None else ()
    return page_lang(
        requested=form_lang or request.query_params.get("lang"),
        cookie=request.cookies.get(LANG_COOKIE),
        accept_language=request.headers.get("accept-language"),
        preferred=preferred,
    )


def labels_for(session: Session, survey: Survey, lang: str) -> Labels:
    return Labels(texts(lang), survey_spec(survey), branch_display_names(session, lang=lang))


def _lang_links(request: Request, lang: str) -> list[tuple[str, str, str, bool]]:
    """(code, own name, href, current) of each language: plain links keeping the query."""
    links = []
    for code in LANGS:
        params = {k: v for k, v in request.query_params.items() if k != "lang"} | {"lang": code}
        name = texts(code)("language_name")
        links.append((code, name, f"{request.url.path}?{urlencode(params)}", code == lang))
    return links


def _remember(request: Request, response: Response, lang: str) -> Response:
    """A language chosen by ``?lang`` (or the login form) is kept for the next pages."""
    if request.cookies.get(LANG_COOKIE) != lang:
        response.set_cookie(
            LANG_COOKIE,
            lang,
            max_age=LANG_MAX_AGE,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
            path="/dashboard",
        )
    return response


def _page(request: Request, name: str, context: dict[str, Any], lang: str, status: int = 200,
          headers: dict[str, str] | None = None) -> HTMLResponse:  # fmt: skip
    t = texts(lang)
    full = {"t": t, "lang": lang, "html_lang": html_lang(lang),
            "lang_links": _lang_links(request, lang), **context}  # fmt: skip
    response: HTMLResponse = _templates(request).TemplateResponse(
        request, name, full, status_code=status, headers=headers
    )
    if request.query_params.get("lang") in LANGS:
        _remember(request, response, lang)
    return secure_page(response, csp=DASHBOARD_CSP)


# ---- login -----------------------------------------------------------------------------------
def _login(
    request: Request,
    slug: str,
    error: str | None,
    status: int,
    headers: dict[str, str] | None = None,
    *,
    lang: str | None = None,
    **values: object,
) -> HTMLResponse:
    lang = lang or reader_lang(request)
    t = texts(lang)
    nonce = CSRF.nonce(request)
    context = {
        "next": f"/dashboard/{slug}",
        "slug": slug,
        "error": t(error, **values) if error else None,
        "csrf_token": CSRF.sign(request, nonce),
    }
    page = _page(request, "reporting/login.html", context, lang, status, headers)
    CSRF.set_cookie(request, page, nonce)
    return page


@router.post("/login", response_model=None)
def login(
    request: Request,
    session: SessionDep,
    key: Annotated[str, Form(max_length=200)],
    next: Annotated[str, Form(max_length=300)] = "/dashboard",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    lang: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    slug = next.removeprefix("/dashboard/").split("?")[0].split("/")[0]
    chosen = reader_lang(request, form_lang=lang if lang in LANGS else None)
    wait = locked_for(request, kind=LOGIN_LOCKOUT)
    if wait:
        minutes = max(1, -(-wait // 60))
        return _login(
            request, slug, "login_locked", 429, {"Retry-After": str(wait)}, lang=chosen,
            minutes=minutes,
        )  # fmt: skip
    if not CSRF.valid(request, csrf_token):
        return _login(request, slug, "login_expired", 403, lang=chosen)
    principal = authenticate(session, raw_key=key.strip())
    if principal is None or principal.key_id is None:
        record_failure(request, kind=LOGIN_LOCKOUT)
        return _login(request, slug, "login_invalid", 401, lang=chosen)
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
    if lang in LANGS:
        _remember(request, response, lang)
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


# ---- the dashboard ---------------------------------------------------------------------------
FIELD_KEYS = {"by": "field_by", "branch": "field_branch", "outcome": "field_outcome",
              "month": "field_month", "month_from": "field_month", "month_to": "field_month",
              "filter": "field_filter", "index": "field_index"}  # fmt: skip


def _error_page(request: Request, exc: DomainError, lang: str, slug: str) -> HTMLResponse:
    """A refused request as a page in the reader's language, naming the field at fault."""
    t = texts(lang)
    lines: list[str] = []
    if isinstance(exc, InvalidInput):
        for e in exc.errors:
            loc = e.get("loc") or ()
            name = str(loc[-1]) if loc else "filter"
            label = t(FIELD_KEYS.get(name, "field_filter"))
            if name.startswith(FILTER_PREFIX):
                label = f"{label} ({name})"
            lines.append(t("error_field", field=label, message=t("error_bad_value")))
    elif isinstance(exc, Forbidden):
        lines.append(t("error_forbidden"))
    elif isinstance(exc, NotFound):
        lines.append(t("error_notfound"))
    context = {"title": t("error_title"), "lines": lines, "back": f"/dashboard/{slug}"}
    return _page(request, "reporting/error.html", context, lang, exc.status_code)


@router.get("/{slug}", response_model=None)
def dashboard(
    request: Request,
    slug: str,
    session: SessionDep,
    principal: MaybeKey,
    branch: BranchQuery = None,
    by: ByQuery = "branch",
    outcome: OutcomeQuery = None,
    index: Annotated[str, Query(max_length=10)] = "equal",
) -> Response:
    if principal is None:
        return _login(request, slug, None, 401)
    try:
        survey = get_survey(session, slug=slug)
    except NotFound as exc:
        return _error_page(request, exc, reader_lang(request), slug)
    lang = reader_lang(request, survey)
    try:
        if index not in ("equal", "pls"):
            raise InvalidInput([field_error("index", msg="must be equal or pls")])
        context = _dashboard_context(request, session, survey, principal, branch, by, outcome,
                                     lang, index)  # fmt: skip
    except DomainError as exc:
        return _error_page(request, exc, lang, slug)
    return _page(request, "reporting/dashboard.html", context, lang)


def _dashboard_context(
    request: Request,
    session: Session,
    survey: Survey,
    principal: Principal,
    branch: str | None,
    by: str,
    outcome: str | None,
    lang: str,
    index: str = "equal",
) -> dict[str, Any]:
    codes = split_codes(branch)
    filters = parse_filters(request.query_params)
    labels = labels_for(session, survey, lang)
    t = labels.t
    kw: dict[str, Any] = {"scope": principal.branches, "branches": codes, "filters": filters}
    weighted, pls_error = None, None
    if index == "pls":
        try:
            scores, weighted, _ = service.get_pls_scores(session, survey=survey, by=by, **kw)
        except InvalidInput as exc:
            if not any((e.get("loc") or ("",))[-1] == "index" for e in exc.errors):
                raise
            pls_error = t("pls_unavailable")
    if weighted is None:
        index = "equal"
        scores = service.get_scores(session, survey=survey, by=by, **kw)
    trends = service.get_trends(session, survey=survey, index=index, **kw)
    spec = survey_spec(survey)
    drivers, drivers_error = None, None
    visible = service.visible_branches(session, scope=principal.branches, requested=None)
    shown = codes or visible
    focus = shown[0] if shown and len(shown) == 1 else None  # one branch: its own IPA
    try:
        if weighted is None:  # the PLS view has its own map (_ipma_context)
            drivers = service.get_drivers(
                session,
                survey=survey,
                outcome=outcome,
                branch=focus,
                scope=principal.branches,
                filters=filters,
            )
    except DomainError as exc:
        if isinstance(exc, InvalidInput) and any(
            (e.get("loc") or ("",))[-1] == "outcome" and outcome for e in exc.errors
        ):
            raise  # a bad ?outcome is the reader's error, not the data's
        drivers_error = t("drivers_unavailable")
    all_codes = visible if visible is not None else service.branch_codes(session)
    rows = [("branch", t("rows_branch")), ("month", t("rows_month"))]
    rows += [(a, labels.attribute(a)) for a in spec.attribute_codes]
    status = branch_invariance(
        session, survey=survey, submit=_submitter(request), scope=principal.branches
    )
    query = {k: v for k, v in request.query_params.items()}
    query["lang"] = lang
    ipma = _ipma_context(scores, weighted, labels, outcome or spec.default_outcome, focus)
    focus_names = [labels.construct(c) for c in drivers.ipa.concentrate] if drivers else []
    return {
        "survey": survey,
        "title": survey.title.get(lang)
        or spec.title.get(lang)
        or next(iter(survey.title.values()), survey.slug),  # fmt: skip
        "n_text": t("responses", n=t.count(scores.overall.n)),
        "scoped_names": t.join(labels.group("branch", b) for b in all_codes)
        if principal.branches is not None
        else "",
        "by": by,
        "rows_name": labels.rows(by),
        "outcome": drivers.outcome if drivers else (outcome or spec.default_outcome),
        "outcome_name": labels.construct(
            drivers.outcome if drivers else (outcome or spec.default_outcome)
        ),
        "branch_filter": codes or [],
        "branches": [(b, labels.group("branch", b)) for b in all_codes],
        "scoped": principal.branches is not None,
        "constructs": [(c, labels.construct(c)) for c in scores.constructs],
        "rows": words.score_rows(scores, labels),
        "legend": words.legend(labels),
        "row_options": rows,
        "outcome_options": [(c, labels.construct(c)) for c in spec.construct_codes],
        "ipa_svg": words.drivers_chart(drivers, labels) if drivers else None,
        "drivers": drivers,
        "drivers_group": labels.group("branch", drivers.group) if drivers and drivers.group else "",
        "driver_lines": words.driver_lines(drivers, labels) if drivers else [],
        "focus": t.join(focus_names),
        "per_branch": [
            (labels.group("branch", b), n, sup, t.join(labels.construct(c) for c in conc))
            for b, n, sup, conc in (drivers.by_branch if drivers else ())
        ],
        "drivers_method": words.drivers_method(
            drivers, labels, min_group_size=survey.min_group_size
        )
        if drivers
        else [],
        "drivers_error": drivers_error,
        "trends": words.trends(trends, labels),
        "rates": rate_lines(session, survey, principal, labels),
        "verdict": words.verdict(status, labels),
        "refresh_s": REFRESH_S,
        "q": "?" + urlencode(query),
        "lang_value": lang,
        "index": index,
        "index_links": _index_links(request, lang, index, t),
        "pls_error": pls_error,
        "ipma": ipma,
        "index_note": t("index_pls_explained") if index == "pls" else t("index_explained"),
    }


def _index_links(request: Request, lang: str, current: str, t: Any) -> list[tuple[str, str, bool]]:
    """(name, href, current) of the two indices: plain links keeping the rest of the query."""
    out = []
    for code, key in (("equal", "index_equal"), ("pls", "index_pls")):
        params = {k: v for k, v in request.query_params.items() if k != "index"}
        params |= {"lang": lang, "index": code}
        out.append((t(key), f"{request.url.path}?{urlencode(params)}", code == current))
    return out


def _ipma_context(
    scores: GroupScores,
    weighted: Any,
    labels: Labels,
    outcome: str,
    focus: str | None,
) -> dict[str, Any] | None:
    """The PLS view's importance-performance map: importance the unstandardized total effect
    (pooled), performance the protected PLS-weighted index of the row shown (the focused
    branch, else the benchmark); None outside the PLS view."""
    if weighted is None:
        return None
    t = labels.t
    target = outcome
    row = scores.overall
    if focus:
        row = next((g for g in scores.groups if g.group == focus), None) or row
    hidden = row.suppressed
    perf = {} if hidden else {c: cs.index for c, cs in row.constructs.items()}
    result = pls_drivers(weighted, outcome=target, performance=perf)
    return {
        "svg": ipma_svg(result, labels),
        "lines": words.ipa_lines(result, labels),
        "hidden": hidden,
        "group": labels.group("branch", focus) if focus else "",
        "method": [
            t("ipma_method", outcome=labels.construct(target)),
            t("drivers_sample", n=t.count(weighted.nobs)),
        ],
        "focus": t.join(labels.construct(c) for c in result.concentrate),
    }


def rate_lines(
    session: Session, survey: Survey, principal: Principal, labels: Labels
) -> list[dict[str, Any]]:
    """The invitation rates per branch as the dashboard's table shows them (the key's
    branches; small groups hidden by app.invitations.rates)."""
    t = labels.t
    lines = []
    for r in response_rates(session, survey=survey, by="branch", scope=principal.branches):
        lines.append(
            {
                "code": r.group,
                "name": labels.group("branch", r.group),
                "hidden": r.suppressed,
                "sent": t.count(r.sent or 0),
                "opened": t.count(r.opened or 0),
                "completed": t.count(r.completed or 0),
                "rate": t.pct(r.rate) if r.rate is not None else "–",
                "median": t.num(r.median_seconds / 60) if r.median_seconds is not None else "–",
            }
        )
    return lines


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
    index: Annotated[Literal["equal", "pls"], Query()] = "equal",
) -> GroupScores:
    """The score table behind the downloads: the key's branches, narrowed by ``branch``;
    ``index=pls``: the PLS-weighted indices, as the page's PLS view."""
    kw: dict[str, Any] = {
        "survey": survey,
        "by": by,
        "scope": principal.branches,
        "branches": split_codes(branch),
        "filters": parse_filters(request.query_params),
    }
    if index == "pls":
        return service.get_pls_scores(session, **kw)[0]
    return service.get_scores(session, **kw)


DownloadScores = Annotated[GroupScores, Depends(_download_scores)]


def _download_labels(request: Request, session: SessionDep, survey: SurveyDep) -> Labels:
    return labels_for(session, survey, reader_lang(request, survey))


DownloadLabels = Annotated[Labels, Depends(_download_labels)]


@router.get("/{slug}/scores.csv", response_model=None)
def scores_csv(result: DownloadScores, labels: DownloadLabels, survey: SurveyDep) -> Response:
    # a byte order mark: spreadsheet programs then read the Chinese names as UTF-8
    text = "\ufeff" + words.scores_csv(result, labels)
    return download(text, f"{survey.slug}-scores-{labels.t.lang}.csv")


@router.get("/{slug}/scores.svg", response_model=None)
def scores_svg(result: DownloadScores, labels: DownloadLabels, survey: SurveyDep) -> Response:
    return _svg(heat_table_svg(result, labels), f"{survey.slug}-scores.svg")


@router.get("/{slug}/ipa.svg", response_model=None)
def ipa_download(
    principal: DashKey,
    request: Request,
    survey: SurveyDep,
    session: SessionDep,
    labels: DownloadLabels,
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
    return _svg(ipa_svg(report.ipa, labels), f"{survey.slug}-ipa-{report.outcome}.svg")


@router.get("/{slug}/trends.svg", response_model=None)
def trends_download(
    principal: DashKey,
    request: Request,
    survey: SurveyDep,
    session: SessionDep,
    labels: DownloadLabels,
    branch: BranchQuery = None,
    index: Annotated[Literal["equal", "pls"], Query()] = "equal",
) -> Response:
    trends = service.get_trends(
        session,
        survey=survey,
        scope=principal.branches,
        branches=split_codes(branch),
        filters=parse_filters(request.query_params),
        index=index,
    )
    return _svg(trend_svg(trends, labels), f"{survey.slug}-trends.svg")
