"""The respondent questionnaire: ``GET /s/{slug}`` renders it, ``POST /s/{slug}`` stores it.

Server-rendered and usable without JavaScript. Submissions go through
:func:`app.surveys.service.submit_response`, so the form and the JSON API share validation and
storage. CSRF: a random nonce in a cookie, and in the form an HMAC of it under the app secret
(:mod:`app.security.csrf`).
"""

from __future__ import annotations

import logging
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import yaml
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.routing import NoMatchFound

from app.deps import SessionDep
from app.errors import DomainError, InvalidInput, NotFound
from app.instruments.spec import AttributeSpec, InstrumentSpec, na_label
from app.security.csrf import SURVEY_FORM
from app.security.headers import FORM_CSP, secure_page
from app.surveys import service
from app.surveys.models import Survey
from app.surveys.schemas import ClientInfo, ResponseCreate

logger = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "templates"
templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.trim_blocks = True
templates.env.lstrip_blocks = True
LANGS = ("zh", "en")


@lru_cache(maxsize=1)
def _strings() -> dict[str, Any]:
    text = (TEMPLATES_DIR / "survey" / "strings.yaml").read_text(encoding="utf-8")
    return dict(yaml.safe_load(text))


def ui_strings(lang: str) -> dict[str, str]:
    return dict(_strings()[lang])


def translate_error(msg: str, lang: str) -> str:
    """The respondent-facing wording of a service message (which is English, for the API)."""
    for entry in _strings()["errors"]:
        if msg.startswith(entry["match"]):
            return str(entry[lang])
    return msg


HONEYPOT = "website"
CSRF = SURVEY_FORM


# ---- rendering -------------------------------------------------------------------------------
def _lang(raw: str | None) -> str:
    return raw if raw in LANGS else "zh"


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
    status_code: int = 200,
    title: str = "",
    lang_links: list[tuple[str, str, str]] | None = None,
    **context: Any,
) -> HTMLResponse:
    response = templates.TemplateResponse(
        request,
        template,
        {
            "lang": lang,
            "t": ui_strings(lang),
            "page_title": title or ui_strings(lang)["default_title"],
            "lang_links": lang_links or [],
            "static_url": lambda path: _static_url(request, path),
            **context,
        },
        status_code=status_code,
    )
    return secure_page(response, csp=FORM_CSP)


MESSAGE_STATUS = {"notfound": 404, "branch_notfound": 404, "closed": 410}


def _message(request: Request, *, lang: str, kind: str) -> HTMLResponse:
    t = ui_strings(lang)
    return _page(
        request,
        "survey/message.html",
        lang=lang,
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
    titles = survey.title or spec.title
    return titles.get(lang) or spec.title.get(lang) or next(iter(titles.values()), "")


def _lang_links(slug: str, query: dict[str, str]) -> list[tuple[str, str, str]]:
    labels = {"zh": "中文", "en": "English"}
    links = []
    for code in LANGS:
        params = {k: v for k, v in query.items() if v} | {"lang": code}
        links.append((code, labels[code], f"/s/{slug}?{urlencode(params)}"))
    return links


def _render_form(
    request: Request,
    session: Session,
    *,
    survey: Survey,
    lang: str,
    branch: str | None,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    general_errors: list[str] | None = None,
    submission_id: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    spec = service.survey_spec(survey)
    t = ui_strings(lang)
    branches = service.list_branches(session)
    branch_name = next((b.name for b in branches if b.code == branch), None)
    items = spec.items_by_code
    constructs = [
        {
            "code": c.code,
            "name": c.name.get(lang, c.code),
            "questions": [
                {
                    "code": code,
                    "text": items[code].text.get(lang, ""),
                    "allow_na": items[code].allow_na,
                }
                for code in c.items
            ],
        }
        for c in spec.constructs
    ]
    attributes = [
        {
            "code": a.code,
            "label": a.label.get(lang, a.code),
            "options": [{"code": o.code, "label": o.label.get(lang, o.code)} for o in a.options],
        }
        for a in asked_attributes(spec)
    ]
    labels: dict[str, str] = {f"answers.{i.code}": i.code for i in spec.items}
    labels |= {f"attributes.{a.code}": a.label.get(lang, a.code) for a in spec.attributes}
    labels |= {"branch": t["branch"], "token": t["token"]}
    scale = spec.item_scale(spec.numeric_codes[0])
    nonce = CSRF.nonce(request)
    response = _page(
        request,
        "survey/form.html",
        lang=lang,
        status_code=status_code,
        title=_title(survey, spec, lang),
        lang_links=_lang_links(
            survey.slug, {"branch": branch or "", "token": values.get("token", "")}
        ),
        intro=spec.intro.get(lang, ""),
        action=f"/s/{survey.slug}",
        csrf_token=CSRF.sign(request, nonce),
        submission_id=submission_id or uuid.uuid4().hex,
        branch=branch,
        branch_name=branch_name,
        branches=branches,
        requires_token=survey.requires_token,
        constructs=constructs,
        attributes=attributes,
        scale=list(zip(scale.values, scale.point_labels(lang), strict=False)),
        na_label=na_label(spec, spec.items[0], lang),
        values=values,
        errors=errors or {},
        general_errors=general_errors or [],
        labels=labels,
    )
    CSRF.set_cookie(request, response, nonce)
    return response


# ---- submission ------------------------------------------------------------------------------
def _answers_from_form(spec: InstrumentSpec, values: dict[str, str]) -> dict[str, str | None]:
    """Item answers as the API takes them: "na" -> None; unanswered items left out."""
    return {
        code: (None if values[code] == "na" else values[code])
        for code in spec.item_codes
        if code in values
    }


Problems = tuple[int, dict[str, str] | list[str]]


def asked_attributes(spec: InstrumentSpec) -> list[AttributeSpec]:
    """The respondent attributes the questionnaire asks (choice attributes marked ``ask``)."""
    return [a for a in spec.attributes if a.ask and a.type == "choice"]


def _store(
    request: Request, session: Session, survey: Survey, fields: dict[str, str], lang: str
) -> Problems | None:
    """Validate and store the form: None, or (status, field errors | general errors)."""
    spec = service.survey_spec(survey)
    try:
        payload = ResponseCreate(
            branch=fields.get("branch", ""),
            answers=_answers_from_form(spec, fields),
            attributes={a.code: fields.get(a.code) for a in asked_attributes(spec)},
            lang=lang,
            token=fields.get("token") or None,
        )
        service.submit_response(
            session,
            survey=survey,
            payload=payload,
            idempotency_key=f"web:{fields['submission_id']}",
            client=ClientInfo(
                ip=request.client.host if request.client else None,
                user_agent=request.headers.get("user-agent"),
            ),
            channel="web",
        )
    except ValidationError as exc:
        return 422, {
            ".".join(str(p) for p in e["loc"]): translate_error(e["msg"], lang)
            for e in exc.errors()
        }
    except InvalidInput as exc:
        return 422, {k: translate_error(v, lang) for k, v in exc.by_field().items()}
    except DomainError as exc:
        msg = translate_error(str(exc.detail), lang)
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
    lang = _lang(lang)
    survey = _find_survey(session, slug)
    if survey is None or not survey.is_open:
        return _message(request, lang=lang, kind="closed" if survey else "notfound")
    if branch and branch not in service.branch_ids(session, codes=[branch]):
        return _message(request, lang=lang, kind="branch_notfound")
    values = {"token": token} if token else {}
    return _render_form(
        request, session, survey=survey, lang=lang, branch=branch or None, values=values
    )


@router.post("/s/{slug}", response_class=HTMLResponse)
async def submit(request: Request, session: SessionDep, slug: str) -> Response:
    form = await request.form()
    fields = {k: v.strip() for k, v in form.items() if isinstance(v, str) and v.strip()}
    lang = _lang(fields.get("lang") or request.query_params.get("lang"))
    survey = _find_survey(session, slug)
    if survey is None or not survey.is_open:
        return _message(request, lang=lang, kind="closed" if survey else "notfound")
    thanks_url = f"/s/{slug}/thanks?{urlencode({'lang': lang})}"
    if fields.get(HONEYPOT):
        logger.info("honeypot filled on survey %s; submission dropped", slug)
        return RedirectResponse(thanks_url, status_code=303)
    fields["submission_id"] = fields.get("submission_id", "")[:64] or uuid.uuid4().hex
    if CSRF.valid(request, fields.get("csrf_token", "")):
        outcome = _store(request, session, survey, fields, lang)
    else:
        outcome = 403, [ui_strings(lang)["expired"]]
    if outcome is None:
        return RedirectResponse(thanks_url, status_code=303)
    status, problems = outcome
    errors = problems if isinstance(problems, dict) else {}
    return _render_form(
        request,
        session,
        survey=survey,
        lang=lang,
        branch=None if "branch" in errors else fields.get("branch"),
        values=fields,
        errors=errors,
        general_errors=problems if isinstance(problems, list) else [],
        submission_id=fields["submission_id"],
        status_code=status,
    )


@router.get("/s/{slug}/thanks", response_class=HTMLResponse)
def thanks(
    request: Request, session: SessionDep, slug: str, lang: str | None = None
) -> HTMLResponse:
    lang = _lang(lang)
    survey = _find_survey(session, slug)
    if survey is None:
        return _message(request, lang=lang, kind="notfound")
    spec = service.survey_spec(survey)
    return _page(request, "survey/thanks.html", lang=lang, title=_title(survey, spec, lang))
