"""Every route of the app, called with no key, each role, and branch-scoped keys of each role.

The table ``ROUTES`` holds one entry per (method, path) of ``app.routes``; a route added to the
app without an entry fails :func:`test_every_route_has_an_expectation`, so none is forgotten.
Access levels (API.md "Auth"):

  public      respondent pages, POST responses, the API docs: every caller gets the success code
  operator    any valid key
  researcher  researcher or admin key; operators 403
  admin       admin key only
  dashboard   HTML pages for operators: no key -> 401 (login form), any key -> success

Each entry also says, with no default, how a key limited to BR01 is treated (``scoped``):

  same        as an unscoped key of its role (the route shows or changes nothing of one branch,
              or it confines itself to the key's branches)
  refused     403 (survey settings hold for every branch)
  hidden      404 (a fit computed from rows outside the key's scope, as if it did not exist)

and, for every route through which a branch can be named (a ``branch`` query, a body with a
``branch`` or ``filters`` field, an uploaded file of rows), a request naming BR02
(``out_of_scope``): the scoped key is refused (``out_of_scope_status``), unscoped keys are not.
:func:`test_branch_routes_declare_an_out_of_scope_case` finds such routes in the OpenAPI schema,
so a new one cannot be left out.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd
import pytest
import yaml
from fastapi.routing import iter_route_contexts
from sqlalchemy import select, text

from app.auth.models import ApiKey, InvitationToken
from app.auth.service import authenticate, create_tokens
from app.fits.models import FitJob
from tests.conftest import DATA_DIR, TELECOM_CSV
from tests.security.helpers import ITEMS, hidden

CALLERS = (
    "none",
    "operator_br01",
    "operator",
    "researcher_br01",
    "researcher",
    "admin_br01",
    "admin",
)
SCOPED = {"operator_br01", "researcher_br01", "admin_br01"}
ROLES = ("operator", "researcher", "admin")
ALLOWED = {
    "public": set(CALLERS),
    "operator": set(CALLERS) - {"none"},
    "dashboard": set(CALLERS) - {"none"},
    "researcher": {"researcher_br01", "researcher", "admin_br01", "admin"},
    "admin": {"admin_br01", "admin"},
}
MODEL = "TAN =~ TAN1 + TAN2 + TAN3\nREL =~ REL1 + REL2 + REL3 + REL4"
_seq = itertools.count()
Scoped = Literal["same", "refused", "hidden"]


@dataclass
class Call:
    """One request: ``path`` with {slug}/{fit_id} filled in (or a callable of the world);
    ``json``/``data``/``files`` may be callables of the world (so that creations are unique
    per caller). ``out_of_scope`` overrides request parts (path, params, json, files) so that
    the request names branch BR02."""

    access: str
    ok: int
    scoped: Scoped
    path: str | Callable[[World], str] | None = None
    params: dict[str, str] = field(default_factory=dict)
    json: Any = None
    data: Any = None
    files: Any = None
    out_of_scope: dict[str, Any] | None = None
    out_of_scope_status: int = 403
    also_ok: tuple[int, ...] = ()  # e.g. 200 for a fit already done (cache), 202 while queued


def _csv_row(_: Any, branch: str = "BR01") -> dict[str, Any]:
    frame = pd.read_csv(TELECOM_CSV, nrows=1, dtype=str, keep_default_na=False)
    frame.insert(0, "id", str(uuid.uuid4()))
    frame["branch"] = branch
    return {"file": ("r.csv", frame.to_csv(index=False).encode(), "text/csv")}


def _csv_row_br02(world: World) -> dict[str, Any]:
    return _csv_row(world, "BR02")


def _form(world: World) -> dict[str, str]:
    page = world.client.get("/s/telecom", params={"branch": "BR01"}).text
    return {c: "4" for c in ITEMS} | {
        "csrf_token": hidden(page, "csrf_token"),
        "submission_id": hidden(page, "submission_id"),
        "lang": "en",
        "branch": "BR01",
    }


def _spare_key(world: World) -> str:
    """The revoke path of a fresh unscoped key (each caller revokes its own)."""
    r = world.client.post("/api/v1/keys", json={"role": "operator"}, headers=world.headers["admin"])
    return f"/api/v1/keys/{r.json()['id']}/revoke"


def _spare_response(world: World) -> str:
    """The path of a fresh BR01 response (each caller deletes its own)."""
    body = {"branch": "BR01", "answers": {c: 4 for c in ITEMS}}
    r = world.client.post("/api/v1/surveys/telecom/responses", json=body)
    return f"/api/v1/surveys/telecom/responses/{r.json()['id']}"


def _instrument(_: Any) -> dict[str, Any]:
    doc = yaml.safe_load((DATA_DIR / "cafe-visit.yaml").read_text(encoding="utf-8"))
    return {**doc, "id": f"access-{next(_seq)}"}


def _recipients(branch: str) -> dict[str, Any]:
    return {"recipients": [{"email": f"m{next(_seq)}@example.com", "branch": branch}]}


def _batch(world: World) -> str:
    """The path of a fresh invitation batch of the survey "fieldwork" (BR01)."""
    r = world.client.post(
        "/api/v1/surveys/fieldwork/invitations",
        json=_recipients("BR01"),
        headers=world.headers["researcher"],
    )
    assert r.status_code == 202, r.text
    return f"/api/v1/surveys/fieldwork/invitations/{r.json()['batch']}"


BR02 = {"params": {"branch": "BR02"}}
ROUTES: dict[tuple[str, str], Call] = {
    ("GET", "/openapi.json"): Call("public", 200, "same"),
    ("GET", "/docs"): Call("public", 200, "same"),
    ("GET", "/docs/oauth2-redirect"): Call("public", 200, "same"),
    ("GET", "/redoc"): Call("public", 200, "same"),
    # the docs' own Swagger UI / ReDoc assets (fastapi-offline), served without internet
    ("GET", "/static-offline-docs"): Call(
        "public", 200, "same", path="/static-offline-docs/swagger-ui.css"
    ),
    ("GET", "/static"): Call("public", 200, "same", path="/static/form.css"),
    # surveys (H3)
    ("POST", "/api/v1/branches"): Call(
        "admin", 201, "same", json=lambda w: {"code": f"X{next(_seq)}", "name": "x"}
    ),
    ("GET", "/api/v1/branches"): Call("operator", 200, "same"),
    ("PATCH", "/api/v1/branches/{code}"): Call(
        "admin",
        200,
        "same",
        path="/api/v1/branches/BR01",
        json={"names": {"zh": "一号厅"}},
        out_of_scope={"path": "/api/v1/branches/BR02"},
    ),
    ("GET", "/api/v1/instruments"): Call("operator", 200, "same"),
    ("GET", "/api/v1/instruments/{instrument_id}"): Call(
        "operator", 200, "same", path="/api/v1/instruments/telecom-pv"
    ),
    # instruments as data (issue 10): a new id per caller, so each upload is a 201; a new
    # version moves surveys of every branch, so not for a branch-scoped key
    ("POST", "/api/v1/instruments"): Call("researcher", 201, "refused", json=_instrument),
    ("GET", "/api/v1/instruments/schema"): Call("operator", 200, "same"),
    ("GET", "/api/v1/instruments/{instrument_id}/versions"): Call(
        "operator", 200, "same", path="/api/v1/instruments/telecom-pv/versions"
    ),
    ("POST", "/api/v1/surveys"): Call(
        "researcher", 201, "same", json=lambda w: {"slug": f"s{next(_seq)}"}
    ),
    ("GET", "/api/v1/surveys"): Call("operator", 200, "same"),
    ("GET", "/api/v1/surveys/{slug}"): Call("operator", 200, "same"),
    ("PATCH", "/api/v1/surveys/{slug}"): Call(
        "researcher", 200, "refused", json={"min_group_size": 5}
    ),
    # branch QR codes and posters (issue 17)
    **{
        ("GET", f"/api/v1/surveys/{{slug}}/branches/{{code}}/{name}"): Call(
            "operator",
            200,
            "same",
            path=f"/api/v1/surveys/telecom/branches/BR01/{name}",
            out_of_scope={"path": f"/api/v1/surveys/telecom/branches/BR02/{name}"},
        )
        for name in ("qr.svg", "qr.png", "poster.pdf")
    },
    ("POST", "/api/v1/surveys/{slug}/tokens"): Call(
        "admin",
        201,
        "same",
        json={"count": 1, "branch": "BR01"},
        out_of_scope={"json": {"count": 1, "branch": "BR02"}},
    ),
    ("POST", "/api/v1/surveys/{slug}/responses"): Call(
        "public", 201, "same", json=lambda w: {"branch": "BR01", "answers": {c: 4 for c in ITEMS}}
    ),
    ("POST", "/api/v1/surveys/{slug}/responses/import"): Call(
        "researcher",
        201,
        "same",
        files=_csv_row,
        out_of_scope={"files": _csv_row_br02},
        out_of_scope_status=422,
    ),
    ("GET", "/api/v1/surveys/{slug}/responses.csv"): Call(
        "researcher", 200, "same", out_of_scope=BR02
    ),
    # data out (issue 14 item 3): the CSV export's rules
    ("GET", "/api/v1/surveys/{slug}/responses.sav"): Call(
        "researcher", 200, "same", out_of_scope=BR02
    ),
    ("GET", "/api/v1/surveys/{slug}/responses.xlsx"): Call(
        "researcher", 200, "same", out_of_scope=BR02
    ),
    ("GET", "/api/v1/surveys/{slug}/responses.codebook.csv"): Call("researcher", 200, "same"),
    # response quality (issue 17 item 5): a scoped key lists its own branches only
    ("GET", "/api/v1/surveys/{slug}/flags"): Call("researcher", 200, "same", out_of_scope=BR02),
    ("GET", "/s/{slug}"): Call("public", 200, "same", params={"branch": "BR01"}),
    ("POST", "/s/{slug}"): Call("public", 303, "same", data=_form),
    ("GET", "/s/{slug}/thanks"): Call("public", 200, "same"),
    # psychometrics (H1/H2)
    ("GET", "/api/v1/surveys/{slug}/reliability"): Call(
        "researcher", 200, "same", out_of_scope=BR02
    ),
    ("GET", "/api/v1/surveys/{slug}/efa"): Call(
        "researcher",
        200,
        "same",
        params={"items": "TAN1,TAN2,TAN3,REL1,REL2,REL3", "factors": "2"},
        out_of_scope=BR02,
    ),
    # fits (H6)
    # One spec for every caller: the first of a scope queues it (202), the next gets that job
    # (202). A new fit per caller would race the worker's writes of the previous one on SQLite
    # ("database is locked", see the H8 report); that is not what this table is about.
    ("POST", "/api/v1/surveys/{slug}/fits"): Call(
        "researcher",
        202,
        "same",
        json={"model": MODEL},
        out_of_scope={"json": {"model": MODEL, "filters": {"branch": ["BR02"]}}},
        also_ok=(200,),
    ),
    # world.fit_id was fitted on every branch by an unscoped key: hidden from scoped keys
    ("GET", "/api/v1/fits/{fit_id}"): Call("researcher", 200, "hidden"),
    ("GET", "/api/v1/fits/{fit_id}/diagram.svg"): Call("researcher", 200, "hidden"),
    ("GET", "/api/v1/fits/{fit_id}/tables"): Call("researcher", 200, "hidden"),
    ("GET", "/api/v1/fits/{fit_id}/results.xlsx"): Call("researcher", 200, "hidden"),
    ("GET", "/api/v1/fits/{fit_id}/{table}.{fmt}"): Call(
        "researcher", 200, "hidden", path=lambda w: f"/api/v1/fits/{w.fit_id}/estimates.csv"
    ),
    # 409 once other calls of the matrix have added responses after world.fit_id ran
    ("GET", "/api/v1/fits/{fit_id}/scores.{fmt}"): Call(
        "researcher",
        200,
        "hidden",
        path=lambda w: f"/api/v1/fits/{w.fit_id}/scores.csv",
        also_ok=(409,),
    ),
    # a branch-scoped key lists only the fits of its scope (world.fit_id is not among them)
    ("GET", "/api/v1/surveys/{slug}/fits"): Call("researcher", 200, "same"),
    ("POST", "/api/v1/fits/compare"): Call(
        "researcher", 200, "hidden", json=lambda w: {"fits": [w.fit_id, w.new_fit()]}
    ),
    # a fresh copy of world.fit_id per request, owned by the (unscoped) researcher key
    ("DELETE", "/api/v1/fits/{fit_id}"): Call(
        "researcher", 204, "hidden", path=lambda w: f"/api/v1/fits/{w.new_fit()}"
    ),
    # reporting (H5)
    ("GET", "/api/v1/surveys/{slug}/scores"): Call("operator", 200, "same", out_of_scope=BR02),
    ("GET", "/api/v1/surveys/{slug}/drivers"): Call("operator", 200, "same", out_of_scope=BR02),
    # IPMA of the PLS-weighted model, pooled over every response (like /drivers' importances)
    ("GET", "/api/v1/surveys/{slug}/ipma"): Call("operator", 200, "same"),
    ("GET", "/api/v1/surveys/{slug}/trends"): Call("operator", 200, "same", out_of_scope=BR02),
    ("POST", "/dashboard/login"): Call("dashboard", 303, "same"),
    ("POST", "/dashboard/logout"): Call("public", 303, "same"),
    ("GET", "/dashboard"): Call("public", 200, "same"),
    ("GET", "/dashboard/{slug}"): Call("dashboard", 200, "same", out_of_scope=BR02),
    ("GET", "/dashboard/{slug}/scores.csv"): Call("dashboard", 200, "same", out_of_scope=BR02),
    ("GET", "/dashboard/{slug}/scores.svg"): Call("dashboard", 200, "same", out_of_scope=BR02),
    ("GET", "/dashboard/{slug}/ipa.svg"): Call("dashboard", 200, "same", out_of_scope=BR02),
    ("GET", "/dashboard/{slug}/trends.svg"): Call("dashboard", 200, "same", out_of_scope=BR02),
    # keys, audit log, respondent data lifecycle (issue 11 item 6); a scoped admin key lists,
    # creates and revokes only keys within its branches, and deletes only their responses
    ("GET", "/api/v1/keys"): Call("admin", 200, "same"),
    ("POST", "/api/v1/keys"): Call(
        "admin",
        201,
        "same",
        json={"role": "operator", "label": "matrix"},
        out_of_scope={"json": {"role": "operator", "branches": ["BR02"]}},
    ),
    # the spare key is unscoped: outside a BR01 key's reach
    ("POST", "/api/v1/keys/{key_id}/revoke"): Call("admin", 200, "refused", path=_spare_key),
    # the audit log covers every branch
    ("GET", "/api/v1/audit"): Call("admin", 200, "refused"),
    ("DELETE", "/api/v1/surveys/{slug}/responses/{response_id}"): Call(
        "admin", 204, "same", path=_spare_response
    ),
    # invitations (issue 17): on "fieldwork", a survey that takes tokens; reading a batch and
    # reminding confine themselves to the key's branches
    ("POST", "/api/v1/surveys/{slug}/invitations"): Call(
        "researcher",
        202,
        "same",
        path="/api/v1/surveys/fieldwork/invitations",
        json=lambda w: _recipients("BR01"),
        out_of_scope={"json": lambda w: _recipients("BR02")},
        out_of_scope_status=422,
    ),
    ("GET", "/api/v1/surveys/{slug}/invitations/{batch}"): Call(
        "operator", 200, "same", path=_batch
    ),
    ("POST", "/api/v1/surveys/{slug}/invitations/{batch}/remind"): Call(
        "researcher", 200, "same", path=lambda w: _batch(w) + "/remind"
    ),
    ("GET", "/api/v1/surveys/{slug}/rates"): Call("operator", 200, "same"),
    # telecom takes no invitation tokens: past the admin check, no response matches (404)
    ("POST", "/api/v1/surveys/{slug}/responses/erase"): Call(
        "admin", 404, "same", json={"token": "unknown"}
    ),
}
# Names through which a request can point at existing branches: query or path parameters,
# and body fields ("<file>": an uploaded file, whose rows name branches).
BRANCH_PARAMS = {"branch", "branches", "code"}
BRANCH_FIELDS = {"branch", "branches", "filters", "<file>"}


def app_routes(app: Any) -> set[tuple[str, str]]:
    out = set()
    for route in iter_route_contexts(app.routes):
        methods = (route.methods or {"GET"}) - {"HEAD"}  # a mount has no methods: GET
        out |= {(m, route.path) for m in methods}
    return out


@dataclass
class World:
    client: Any
    headers: dict[str, dict[str, str]]
    fit_id: str
    sessionmaker: Any

    def new_fit(self) -> str:
        """A copy of the finished ``fit_id`` owned by the unscoped researcher key."""
        raw = self.headers["researcher"]["Authorization"].split(" ", 1)[1]
        with self.sessionmaker() as db:
            principal = authenticate(db, raw_key=raw)
            assert principal is not None
            job = db.get(FitJob, self.fit_id)
            assert job is not None
            copy = FitJob(
                **{c.name: getattr(job, c.name) for c in FitJob.__table__.columns}
                | {"id": uuid.uuid4().hex, "cache_key": uuid.uuid4().hex}
                | {"owner_key_id": principal.key_id}
            )
            db.add(copy)
            db.commit()
            return copy.id


def role_of(caller: str) -> str:
    return caller.split("_", 1)[0]


def test_every_route_has_an_expectation(app) -> None:
    routes = app_routes(app)
    missing = sorted(routes - set(ROUTES))
    assert not missing, f"routes without an access expectation (add them to ROUTES): {missing}"
    assert not sorted(set(ROUTES) - routes), "ROUTES names routes the app no longer has"


def _names(schema: dict[str, Any], components: dict[str, Any], depth: int = 0) -> set[str]:
    """Property names of a body schema, through $refs and nested objects; "<file>" for an
    uploaded file (its rows carry branches)."""
    if depth > 5:
        return set()
    if "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    out: set[str] = set()
    if schema.get("format") == "binary" or "contentMediaType" in schema:
        out.add("<file>")
    for key in ("anyOf", "allOf", "oneOf"):
        for sub in schema.get(key, []):
            out |= _names(sub, components, depth + 1)
    for name, sub in (schema.get("properties") or {}).items():
        out.add(name)
        out |= _names(sub, components, depth + 1)
    if "items" in schema:
        out |= _names(schema["items"], components, depth + 1)
    return out


def test_branch_routes_declare_an_out_of_scope_case(app) -> None:
    """Every keyed route that can name a branch says how a scoped key naming another fares,
    and every route of a fit hides fits outside the key's scope."""
    spec = app.openapi()
    components = spec.get("components", {}).get("schemas", {})
    problems = []
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            call = ROUTES.get((method.upper(), path))
            if call is None or call.access == "public":
                continue  # the first test reports missing entries
            params = {p["name"] for p in op.get("parameters", [])}
            fields: set[str] = set()
            for content in op.get("requestBody", {}).get("content", {}).values():
                fields |= _names(content.get("schema", {}), components)
            names_branch = params & BRANCH_PARAMS or fields & BRANCH_FIELDS
            if names_branch and call.scoped == "same" and call.out_of_scope is None:
                problems.append(f"{method.upper()} {path}: no out_of_scope request")
            if "fit_id" in params and call.scoped != "hidden":
                problems.append(f"{method.upper()} {path}: a fit route must hide other scopes")
    assert not problems, "\n".join(problems)


@pytest.fixture
def world(factory, telecom_survey, researcher_headers) -> World:
    headers = {"none": {}, "researcher": researcher_headers}
    for caller in CALLERS:
        if caller not in headers:
            role = role_of(caller)
            headers[caller] = factory.key(role, branches=["BR01"] if caller in SCOPED else None)
    r = factory.client.post(
        "/api/v1/surveys/telecom/fits", json={"model": MODEL}, headers=researcher_headers
    )
    assert r.status_code in (200, 202), r.text
    fit_id = r.json()["id"]
    done = factory.client.get(f"/api/v1/fits/{fit_id}?wait=30", headers=researcher_headers)
    assert done.json()["status"] == "done", done.text
    factory.survey("fieldwork", requires_token=True)
    return World(factory.client, headers, fit_id, factory.app.state.sessionmaker)


def _request(
    world: World, method: str, template: str, call: Call, caller: str, extra: dict[str, Any]
) -> Any:
    def value(x: Callable[[World], Any] | Any) -> Any:
        return x(world) if callable(x) else x

    path = value(extra.get("path", call.path)) or template
    path = path.replace("{slug}", "telecom").replace("{fit_id}", world.fit_id)
    headers = world.headers[caller]
    world.client.cookies.clear()  # the dashboard key cookie of a previous caller
    data = value(call.data)
    if template == "/dashboard/login":
        raw = headers.get("Authorization", "Bearer ").split(" ", 1)[1]
        csrf = hidden(world.client.get("/dashboard").text, "csrf_token")
        data = {"key": raw or "none", "next": "/dashboard/telecom", "csrf_token": csrf}
        headers = {}
    return world.client.request(
        method,
        path,
        params={**call.params, **extra.get("params", {})},
        json=value(extra.get("json", call.json)),
        data=data,
        files=value(extra.get("files", call.files)),
        headers=headers,
        follow_redirects=False,
    )


def expected_status(call: Call, caller: str) -> int:
    if caller not in ALLOWED[call.access]:
        return 401 if caller == "none" else 403
    if caller in SCOPED and call.scoped == "refused":
        return 403
    if caller in SCOPED and call.scoped == "hidden":
        return 404
    return call.ok


def test_access_matrix(world: World) -> None:
    problems = []
    for (method, template), call in ROUTES.items():
        for caller in CALLERS:
            expected = expected_status(call, caller)
            success = {call.ok, *call.also_ok}
            r = _request(world, method, template, call, caller, {})
            if r.status_code != expected and not (expected == call.ok and r.status_code in success):
                problems.append(f"{method} {template} as {caller}: {r.status_code} != {expected}")
            if call.out_of_scope is not None and expected == call.ok:
                expected = call.out_of_scope_status if caller in SCOPED else call.ok
                r = _request(world, method, template, call, caller, call.out_of_scope)
                if r.status_code != expected and not (
                    expected == call.ok and r.status_code in success
                ):
                    problems.append(
                        f"{method} {template} naming BR02 as {caller}: "
                        f"{r.status_code} != {expected} {r.text[:200]}"
                    )
    assert not problems, "\n".join(problems)


def test_scoped_operator_sees_only_its_branches(world: World) -> None:
    headers = world.headers["operator_br01"]
    branches = world.client.get("/api/v1/branches", headers=headers).json()
    assert [b["code"] for b in branches] == ["BR01"]
    scores = world.client.get("/api/v1/surveys/telecom/scores", headers=headers).json()
    groups = {g["group"] for g in scores["groups"]}
    assert groups == {"BR01"}, groups
    page = world.client.get("/dashboard/telecom", headers=headers).text
    assert "BR01" in page and "BR02" not in page


def test_api_routes_ignore_the_dashboard_cookie(world: World) -> None:
    """Only the dashboard reads the key cookie: a forged cross-site POST carries no header."""
    raw = world.headers["admin"]["Authorization"].split(" ", 1)[1]
    world.client.cookies.set("pvm_key", raw)
    r = world.client.post("/api/v1/branches", json={"code": "CSRF1", "name": "x"})
    assert r.status_code == 401
    r = world.client.get("/api/v1/surveys/telecom/responses.csv")
    assert r.status_code == 401


def test_secrets_are_stored_hashed(factory, survey, session, monkeypatch) -> None:
    """No key or token plaintext anywhere in the database; comparisons in constant time."""
    raws = [factory.key(role)["Authorization"].split(" ", 1)[1] for role in ROLES]
    tokens = create_tokens(session, survey=survey, branch_code="BR01", count=3)
    dumped = []
    with factory.app.state.engine.connect() as conn:
        for table in ("api_keys", "invitation_tokens"):
            for row in conn.execute(text(f"SELECT * FROM {table}")):
                dumped.extend(str(v) for v in row)
    blob = "\n".join(dumped)
    assert len(session.scalars(select(ApiKey)).all()) == 3
    assert len(session.scalars(select(InvitationToken)).all()) == 3
    for secret in raws + tokens:
        assert secret not in blob
        assert secret.split(".")[-1] not in blob  # not even the secret part of a key
    # every key check, known prefix or not, goes through hmac.compare_digest
    import app.auth.service as auth

    calls = []
    real = auth.hmac.compare_digest
    monkeypatch.setattr(auth.hmac, "compare_digest", lambda a, b: calls.append(1) or real(a, b))
    assert auth.authenticate(session, raw_key=raws[0]) is not None
    assert auth.authenticate(session, raw_key=raws[0][:-1] + "#") is None
    assert auth.authenticate(session, raw_key="pvm_unknown.secret") is None
    assert len(calls) == 3
