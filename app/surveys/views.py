"""The respondent questionnaire: ``GET /s/{slug}`` renders it, ``POST /s/{slug}`` moves between
its pages or stores it.

Server-rendered and usable without JavaScript. A paged questionnaire (sections as pages) carries
the answers of the other pages as hidden inputs; Next checks the page's required items, Back and
the language switch keep whatever was entered. Only the final submit stores, through
:func:`app.surveys.service.submit_response` (so the form and the JSON API share validation and
storage), keyed by the page's submission id: submitting the same page again (Back after
submitting) replays the stored response instead of storing a second one. CSRF: a random nonce in
a cookie, and in the form an HMAC of it under the app secret (:mod:`app.security.csrf`).
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.routing import NoMatchFound

from app.deps import SessionDep
from app.errors import DomainError, InvalidInput, NotFound
from app.instruments.spec import AttributeSpec, InstrumentSpec
from app.invitations.service import record_open
from app.security.csrf import SURVEY_FORM
from app.security.headers import FORM_CSP, secure_page
from app.surveys import partials, quality, service
from app.surveys.models import Branch, Survey
from app.surveys.questionnaire import (
    UI_LANGS,
    Block,
    Fields,
    answers_from_form,
    choose_lang,
    error_text,
    field_text,
    fill,
    hidden_fields,
    html_lang,
    language_name,
    page_number,
    page_of_field,
    pages,
    survey_title,
    ui_strings,
)
from app.surveys.schemas import ClientInfo, ResponseCreate

logger = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "templates"
templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.trim_blocks = True
templates.env.lstrip_blocks = True

HONEYPOT = "website"
CSRF = SURVEY_FORM
# Posted fields that are never repeated: a repeat keeps the last value.
CONTROL_FIELDS = frozenset(
    {"csrf_token", "submission_id", "lang", "branch", "branch_choice", "token", HONEYPOT}
    | {"nav", "switch", "page", quality.START_FIELD}
)


def translate_error(msg: str, lang: str, spec: InstrumentSpec | None = None, name: str = "") -> str:
    """The respondent-facing wording of a service message (which is English, for the API)
    about field ``name``."""
    item = None
    if spec is not None and name.startswith("answers."):
        item = spec.items_by_code.get(name.removeprefix("answers."))
    return error_text(msg, ui_strings(lang, spec), item, spec) if spec else msg


def form_fields(form: FormData) -> Fields:
    """Posted fields, trimmed, blanks dropped, line ends as ``\\n``; a field posted more than
    once (the checkboxes of a multiple-choice item) is a list."""
    out: Fields = {}
    for key in dict.fromkeys(form.keys()):
        values = [v.replace("\r\n", "\n").strip() for v in form.getlist(key) if isinstance(v, str)]
        values = [v for v in values if v]
        if values:
            out[key] = values[-1] if len(values) == 1 or key in CONTROL_FIELDS else values
    return out


# ---- rendering -------------------------------------------------------------------------------
def _lang(request: Request, requested: str | None, spec: InstrumentSpec | None = None) -> str:
    """The page's language: ``requested`` if the instrument declares it, else the best of the
    browser's Accept-Language, else the instrument's first language (zh/en without one)."""
    offered = list(spec.languages) if spec is not None else list(UI_LANGS)
    return choose_lang(offered, requested, request.headers.get("accept-language"))


def _static_url(request: Request, path: str) -> str:
    try:
        return str(request.app.url_path_for("static", path=path))
    except NoMatchFound:
        return f"/static/{path}"


def _page(
    request: Request,
    template: str,
    *,
    lang: str,
    spec: InstrumentSpec | None = None,
    survey: Survey | None = None,
    status_code: int = 200,
    title: str = "",
    lang_links: list[tuple[str, str, str]] | None = None,
    **context: Any,
) -> HTMLResponse:
    t = ui_strings(lang, spec)
    # What is stored, on every respondent page: the survey's rule, or (no survey) nothing.
    if survey is None:
        privacy = t["privacy_none"]
    else:
        privacy = t["privacy_anonymous"] if survey.anonymous else t["privacy_stored"]
    response = templates.TemplateResponse(
        request,
        template,
        {
            "lang": lang,
            "html_lang": html_lang,
            "t": t,
            "page_title": title or t["default_title"],
            "lang_links": lang_links or [],
            "privacy": privacy,
            "static_url": lambda path: _static_url(request, path),
            **context,
        },
        status_code=status_code,
    )
    return secure_page(response, csp=FORM_CSP)


MESSAGE_STATUS = {
    "notfound": 404,
    "branch_notfound": 404,
    "closed": 410,
    "notyet": 409,
    "full": 409,
}


def _unavailable(survey: Survey | None) -> str:
    """The message of a questionnaire that takes no answers (Survey.closed_reason)."""
    if survey is None:
        return "notfound"
    return "notyet" if survey.not_yet_open else "closed"


def _message(
    request: Request, *, lang: str, kind: str, survey: Survey | None = None
) -> HTMLResponse:
    spec = service.survey_spec(survey) if survey is not None else None
    t = ui_strings(lang, spec)
    return _page(
        request,
        "survey/message.html",
        lang=lang,
        spec=spec,
        survey=survey,
        status_code=MESSAGE_STATUS[kind],
        kind=kind,
        heading=t[f"{kind}_heading"],
        message=t[f"{kind}_body"],
    )


def _find_survey(session: Session, slug: str) -> Survey | None:
    try:
        return service.get_survey(session, slug=slug)
    except NotFound:
        return None


def _title(survey: Survey, spec: InstrumentSpec, lang: str) -> str:
    return survey_title(survey.title, spec, lang)


def _lang_links(
    spec: InstrumentSpec, path: str, query: dict[str, str]
) -> list[tuple[str, str, str]]:
    """(code, own name, href) of every declared language, for pages without a form."""
    links = []
    for code in spec.languages:
        params = {k: v for k, v in query.items() if v} | {"lang": code}
        links.append((code, language_name(code, spec), f"{path}?{urlencode(params)}"))
    return links


def branch_name(branch: Branch, lang: str) -> str:
    """A branch as respondents see it: its name in the page's language."""
    return branch.name_in(lang)


def _render_form(
    request: Request,
    session: Session,
    *,
    survey: Survey,
    lang: str,
    branch: str | None,
    values: Fields,
    errors: dict[str, str] | None = None,
    general_errors: list[str] | None = None,
    submission_id: str | None = None,
    status_code: int = 200,
    page: int | None = None,
) -> HTMLResponse:
    """Page ``page`` (0-based) of the questionnaire; None: the first page with an error, else
    the page the form was posted from."""
    spec = service.survey_spec(survey)
    t = ui_strings(lang, spec)
    book = pages(spec, lang)
    errors = dict(errors or {})
    general = list(general_errors or [])
    where = {name: page_of_field(book, name) for name in errors}
    if page is None:
        with_errors = [n for n in where.values() if n is not None]
        page = min(with_errors) if with_errors else page_number(values, len(book))
    # a field no page shows (e.g. a tampered language) is reported above the form
    general += [msg for name, msg in errors.items() if where[name] is None]
    errors = {name: msg for name, msg in errors.items() if where[name] == page}
    first, last = page == 0, page == len(book) - 1
    shown = {q.code for block in book[page] for q in block.questions}
    attributes: list[dict[str, Any]] = [
        {
            "code": a.code,
            "label": a.label.get(lang, a.code),
            "required": a.required,
            "options": [(o.code, o.label.get(lang, o.code)) for o in a.options],
        }
        for a in asked_attributes(spec)
    ]
    choosing = not branch or bool(values.get("branch_choice"))
    branches = service.list_branches(session) if choosing or branch else []
    names = {b.code: branch_name(b, lang) for b in branches}
    carried = [c for c in spec.item_codes if c not in shown]
    carried += [] if last else [a["code"] for a in attributes]
    carried += [] if first else ["token", *(["branch", "branch_choice"] if choosing else [])]
    if first and not survey.requires_token:  # the link's token, kept for resuming
        carried.append("token")
    labels = {f"answers.{q.code}": q.text for block in book[page] for q in block.questions}
    labels |= {f"attributes.{a['code']}": a["label"] for a in attributes}
    labels |= {"branch": t["branch"], "token": t["token"]}
    numbers = {q.field: q.number for block in book[page] for q in block.questions}
    nonce = CSRF.nonce(request)
    response = _page(
        request,
        "survey/form.html",
        lang=lang,
        spec=spec,
        survey=survey,
        status_code=status_code,
        title=_title(survey, spec, lang),
        languages=[(code, language_name(code, spec)) for code in spec.languages],
        intro=spec.intro.get(lang, "") if first else "",
        action=f"/s/{survey.slug}",
        csrf_token=CSRF.sign(request, nonce),
        submission_id=submission_id or field_text(values, "submission_id") or uuid.uuid4().hex,
        started=field_text(values, quality.START_FIELD)
        or quality.sign_start(_secret(request), survey.slug),
        page=page,
        page_count=len(book),
        progress=fill(t["progress"], page=page + 1, pages=len(book)),
        first=first,
        last=last,
        blocks=book[page],
        hidden=hidden_fields(values, carried),
        branch=branch,
        branch_name=names.get(branch or ""),
        choosing=choosing,
        branches=[(b.code, names[b.code]) for b in branches] if choosing else [],
        requires_token=survey.requires_token,
        attributes=attributes if last else [],
        values=values,
        errors=errors,
        general_errors=general,
        labels=labels,
        summary=error_summary(errors, numbers),
    )
    # Not no-store: Back after submitting must show the page with its submission id (a fresh
    # copy would carry a new id and store the answers twice). Revalidated on every normal load.
    response.headers["Cache-Control"] = "private, no-cache"
    CSRF.set_cookie(request, response, nonce)
    set_device_cookie(request, response)
    return response


def _secret(request: Request) -> str:
    return str(request.app.state.settings.secret_key or "")


def set_device_cookie(request: Request, response: Response) -> None:
    """Give the browser a random device id (a year) unless it has one: a second response from
    it is flagged a duplicate (app.surveys.quality). Only its sha256 is ever stored."""
    if request.cookies.get(quality.DEVICE_COOKIE):
        return
    response.set_cookie(
        quality.DEVICE_COOKIE,
        quality.new_device_id(),
        max_age=365 * 24 * 3600,
        path="/s/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def _started(request: Request, survey: Survey, fields: Fields) -> int | None:
    """The verified first-load time the form carries (None: missing or forged)."""
    return quality.started_at(
        _secret(request), survey.slug, field_text(fields, quality.START_FIELD)
    )


def error_summary(
    errors: dict[str, str], numbers: dict[str, int]
) -> list[tuple[str, list[tuple[str, int | None]]]]:
    """The error summary above the form: one line per message, in the order of the page, with
    the (field, question number) pairs it is about; more than three questions that share a
    message (35 unanswered ones) share a line instead of repeating it 35 times."""
    shared: dict[str, int] = {}
    for name, msg in errors.items():
        shared[msg] = shared.get(msg, 0) + (name in numbers)
    lines: dict[str, list[tuple[str, int | None]]] = {}
    for name, msg in errors.items():
        # a line each for other fields and for messages about a few (<= 3) questions
        key = msg if name in numbers and shared[msg] > 3 else f"{msg}\0{name}"
        lines.setdefault(key, []).append((name, numbers.get(name)))
    return [(key.split("\0")[0], fields) for key, fields in lines.items()]


# ---- submission ------------------------------------------------------------------------------
Problems = tuple[int, dict[str, str] | list[str]]


def asked_attributes(spec: InstrumentSpec) -> list[AttributeSpec]:
    """The respondent attributes the questionnaire asks (choice attributes marked ``ask``)."""
    return [a for a in spec.attributes if a.ask and a.type == "choice"]


def _page_problems(
    session: Session, spec: InstrumentSpec, page: list[Block], fields: Fields, lang: str
) -> dict[str, str]:
    """Required questions left unanswered on one page, and the branch when the page asks for
    it. The answers themselves are checked once, by the service, on the final submit (the
    form offers no value they could refuse)."""
    t = ui_strings(lang, spec)
    items = spec.items_by_code
    errors = {
        q.field: t["err_required"]
        for block in page
        for q in block.questions
        if items[q.code].is_required and q.code not in fields
    }
    branch = field_text(fields, "branch")
    if fields.get("branch_choice") and not service.branch_ids(session, codes=[branch]):
        errors["branch"] = t["err_branch"]
    return errors


def _navigate(
    request: Request, session: Session, survey: Survey, fields: Fields, lang: str
) -> HTMLResponse | None:
    """Next, Back or another language: the page to show, nothing stored (so no CSRF check: a
    forged post can only render a page). None: store (the final submit, or a post without
    navigation from a one-page form or an API-like client)."""
    spec = service.survey_spec(survey)
    book = pages(spec, lang)
    nav, switch = field_text(fields, "nav"), field_text(fields, "switch")
    current = page_number(fields, len(book))
    last = current == len(book) - 1
    step: dict[str, Any] = {"survey": survey, "branch": field_text(fields, "branch") or None}
    if switch:
        lang = switch if switch in spec.languages else lang
        fields["lang"] = lang
        return _render_form(request, session, lang=lang, values=fields, page=current, **step)
    if nav == "back":
        page = max(current - 1, 0)
        return _render_form(request, session, lang=lang, values=fields, page=page, **step)
    if nav == "submit" or last or (not nav and "page" not in fields):
        return None
    errors = _page_problems(session, spec, book[current], fields, lang)
    if errors:
        return _render_form(
            request,
            session,
            lang=lang,
            values=fields,
            errors=errors,
            page=current,
            status_code=422,
            **step,
        )
    # Pages answered so far are kept against the link's invitation token (resume on reopening).
    partials.save_partial(
        session,
        survey=survey,
        raw_token=field_text(fields, "token") or None,
        fields=fields,
        next_page=current + 1,
        started=_started(request, survey, fields),
    )
    return _render_form(request, session, lang=lang, values=fields, page=current + 1, **step)


def _store(
    request: Request, session: Session, survey: Survey, fields: Fields, lang: str
) -> Problems | None:
    """Validate and store the form: None, or (status, field errors | general errors)."""
    spec = service.survey_spec(survey)
    try:
        payload = ResponseCreate(
            branch=field_text(fields, "branch"),
            answers=answers_from_form(spec, fields),
            attributes={a.code: fields.get(a.code) for a in asked_attributes(spec)},
            lang=lang,
            token=field_text(fields, "token") or None,
        )
        service.submit_response(
            session,
            survey=survey,
            payload=payload,
            idempotency_key=f"web:{field_text(fields, 'submission_id')}",
            client=ClientInfo(
                ip=request.client.host if request.client else None,
                user_agent=request.headers.get("user-agent"),
            ),
            channel="web",
            started=_started(request, survey, fields),
            device=request.cookies.get(quality.DEVICE_COOKIE, "")[:64] or None,
        )
    except ValidationError as exc:
        return 422, {
            (name := ".".join(str(p) for p in e["loc"])): translate_error(
                e["msg"], lang, spec, name
            )
            for e in exc.errors()
        }
    except InvalidInput as exc:
        return 422, {k: translate_error(v, lang, spec, k) for k, v in exc.by_field().items()}
    except DomainError as exc:
        msg = translate_error(str(exc.detail), lang, spec)
        if survey.requires_token and "token" in str(exc.detail):
            return exc.status_code, {"token": msg}
        return exc.status_code, [msg]
    return None


# ---- routes ----------------------------------------------------------------------------------
@router.get("/s/{slug}", response_class=HTMLResponse)
def questionnaire(
    request: Request,
    session: SessionDep,
    slug: str,
    branch: str | None = None,
    lang: str | None = None,
    token: str | None = None,
) -> HTMLResponse:
    survey = _find_survey(session, slug)
    spec = service.survey_spec(survey) if survey is not None else None
    lang = _lang(request, lang, spec)
    if survey is None or not survey.is_open:
        return _message(request, lang=lang, kind=_unavailable(survey), survey=survey)
    if branch and branch not in service.branch_ids(session, codes=[branch]):
        return _message(request, lang=lang, kind="branch_notfound", survey=survey)
    if branch and service.branch_full_reason(session, survey=survey, branch=branch):
        return _message(request, lang=lang, kind="full", survey=survey)
    if token:
        record_open(session, survey=survey, token=token)
    values: Fields = {"token": token} if token else {}
    page = None
    saved = partials.load_partial(session, survey=survey, raw_token=token)
    if saved is not None:  # reopened link: earlier answers filled in, at the next page
        stored = {k: v for k, v in saved.fields.items() if isinstance(v, (str, list))}
        values = {**stored, "token": token or ""}
        values[quality.START_FIELD] = quality.sign_start(
            _secret(request), survey.slug, service.as_utc(saved.started_at).timestamp()
        )
        branch = field_text(values, "branch") or branch
        page = min(saved.next_page, len(pages(service.survey_spec(survey), lang)) - 1)
    return _render_form(
        request,
        session,
        survey=survey,
        lang=lang,
        branch=branch or None,
        values=values,
        page=page,
    )


async def posted_fields(request: Request) -> Fields:
    """The posted form. Reading the body is the only async part of a submission: the handler
    itself is sync, so its database work runs in the threadpool and never blocks the event
    loop (F8: 20 concurrent posts froze the whole server)."""
    return form_fields(await request.form())


@router.post("/s/{slug}", response_class=HTMLResponse)
def submit(
    request: Request,
    session: SessionDep,
    slug: str,
    fields: Annotated[Fields, Depends(posted_fields)],
) -> Response:
    survey = _find_survey(session, slug)
    spec = service.survey_spec(survey) if survey is not None else None
    lang = _lang(request, field_text(fields, "lang") or request.query_params.get("lang"), spec)
    if survey is None or not survey.is_open:
        return _message(request, lang=lang, kind=_unavailable(survey), survey=survey)
    thanks_url = f"/s/{slug}/thanks?{urlencode({'lang': lang})}"
    if fields.get(HONEYPOT):
        logger.info("honeypot filled on survey %s; submission dropped", slug)
        return RedirectResponse(thanks_url, status_code=303)
    fields["submission_id"] = field_text(fields, "submission_id")[:64] or uuid.uuid4().hex
    moved = _navigate(request, session, survey, fields, lang)
    if moved is not None:
        return moved
    posted_branch = field_text(fields, "branch")
    if posted_branch and service.branch_full_reason(session, survey=survey, branch=posted_branch):
        return _message(request, lang=lang, kind="full", survey=survey)
    if CSRF.valid(request, field_text(fields, "csrf_token")):
        outcome = _store(request, session, survey, fields, lang)
    else:
        outcome = 403, [ui_strings(lang, spec)["expired"]]
    if outcome is None:
        return RedirectResponse(thanks_url, status_code=303)
    status, problems = outcome
    errors = problems if isinstance(problems, dict) else {}
    return _render_form(
        request,
        session,
        survey=survey,
        lang=lang,
        branch=None if "branch" in errors else field_text(fields, "branch") or None,
        values=fields,
        errors=errors,
        general_errors=problems if isinstance(problems, list) else [],
        submission_id=field_text(fields, "submission_id"),
        status_code=status,
    )


@router.get("/s/{slug}/thanks", response_class=HTMLResponse)
def thanks(
    request: Request, session: SessionDep, slug: str, lang: str | None = None
) -> HTMLResponse:
    survey = _find_survey(session, slug)
    spec = service.survey_spec(survey) if survey is not None else None
    lang = _lang(request, lang, spec)
    if survey is None or spec is None:
        return _message(request, lang=lang, kind="notfound")
    return _page(
        request,
        "survey/thanks.html",
        lang=lang,
        spec=spec,
        survey=survey,
        title=_title(survey, spec, lang),
        lang_links=_lang_links(spec, f"/s/{slug}/thanks", {}),
    )
