"""Response quality (issue 17 item 5) and partial responses (item 6): completion time, the
speeder / straight-liner / duplicate flags, where researchers see them, exclude_flagged on the
analyses, and resuming a paged questionnaire from its invitation link."""

from __future__ import annotations

import io
import re
import time
from typing import Any

import pandas as pd
import pyreadstat
import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select

from app.auth.service import create_tokens
from app.instruments.registry import get_instrument
from app.surveys import partials, quality, service
from app.surveys.models import PartialResponse, Response
from tests.surveys.test_form import (  # noqa: F401 (visit: the paged survey fixture)
    PAGE1,
    PAGE2,
    PAGE3,
    VISIT,
    fields_of,
    progress,
    visit,
)

SPEC = get_instrument("telecom-pv", version=1)
SCALE = [c for c in SPEC.answer_codes if SPEC.items_by_code[c].type == "scale"]


def varied(k: int = 0) -> dict[str, Any]:
    """A complete telecom answer set without long runs (values cycle 1..5 from ``k``)."""
    return {c: 1 + (i + k) % 5 for i, c in enumerate(SPEC.item_codes)}


def secret(client: TestClient) -> str:
    return str(client.app.state.settings.secret_key)


def stored(client: TestClient, slug: str) -> list[Response]:
    with client.app.state.sessionmaker() as db:
        survey = service.get_survey(db, slug=slug)
        query = select(Response).where(Response.survey_id == survey.id)
        return list(db.scalars(query.order_by(Response.submitted_at)))


# ---- the rules ----------------------------------------------------------------------------------
def test_longest_run_counts_consecutive_equal_scale_answers() -> None:
    answers: list[Any] = [varied()[c] for c in SPEC.answer_codes]
    assert quality.longest_identical_run(SPEC, answers) == 1
    same = [4 if c in SCALE else answers[i] for i, c in enumerate(SPEC.answer_codes)]
    assert quality.longest_identical_run(SPEC, same) >= 10
    # not applicable / unanswered end a run
    broken = list(same)
    broken[SPEC.answer_codes.index(SCALE[5])] = None
    assert quality.longest_identical_run(SPEC, broken) < quality.longest_identical_run(SPEC, same)


def test_flags_follow_the_thresholds() -> None:
    answers: list[Any] = [varied()[c] for c in SPEC.answer_codes]
    n = quality.answered_count(answers, None)
    args = {"answers": answers, "texts": None, "straightline_items": 10, "duplicate": False}
    assert quality.response_flags(SPEC, duration_seconds=2 * n - 1, seconds_per_item=2, **args) == [
        "speeder"
    ]
    assert quality.response_flags(SPEC, duration_seconds=2 * n, seconds_per_item=2, **args) == []
    assert quality.response_flags(SPEC, duration_seconds=None, seconds_per_item=2, **args) == []
    args["duplicate"] = True
    assert quality.response_flags(SPEC, duration_seconds=None, seconds_per_item=2, **args) == [
        "duplicate"
    ]
    assert quality.stored_duration(179.9, anonymous=True) == 120
    assert quality.stored_duration(179.9, anonymous=False) == 179


def test_start_field_is_signed() -> None:
    field = quality.sign_start("k" * 32, "telecom", 1_700_000_000)
    assert quality.started_at("k" * 32, "telecom", field) == 1_700_000_000
    assert quality.started_at("k" * 32, "other", field) is None  # another survey's
    stamp, mac = field.split(".")
    assert quality.started_at("k" * 32, "telecom", f"{int(stamp) - 600}.{mac}") is None
    assert quality.started_at("k" * 32, "telecom", "") is None
    future = quality.sign_start("k" * 32, "telecom", time.time() + 3600)
    assert quality.started_at("k" * 32, "telecom", future) is None


# ---- the questionnaire measures time and recognises the browser --------------------------------
def one_page_submit(client: TestClient, started: str | None = None, value: str = "") -> Any:
    html = client.get("/s/telecom?branch=BR01&lang=en").text
    data = fields_of(html) | {c: str(v) for c, v in varied().items()}
    if value:
        data |= {c: value for c in SPEC.item_codes}
    if started is not None:
        data["started"] = started
    data["customer_type"] = "consumer"
    return client.post("/s/telecom", data=data, follow_redirects=False)


def test_web_submissions_are_timed_and_flagged(client: TestClient, factory, survey) -> None:
    html = client.get("/s/telecom?branch=BR01&lang=en").text
    assert 'name="started" value="' in html
    assert quality.DEVICE_COOKIE in client.cookies
    # ten minutes ago: a careful respondent
    r = one_page_submit(client, quality.sign_start(secret(client), "telecom", time.time() - 600))
    assert r.status_code == 303, r.text[:3000]
    [first] = stored(client, "telecom")
    assert 599 <= first.duration_seconds <= 605 and first.flags is None and not first.flagged
    # at once, from the same browser, every item the same: speeder, straight-liner, duplicate
    r = one_page_submit(client, value="3")
    assert r.status_code == 303
    second = stored(client, "telecom")[1]
    assert second.duration_seconds is not None and second.duration_seconds < 5
    assert second.flags == ["speeder", "straightline", "duplicate"] and second.flagged
    # a forged start time is not believed: not measured, so no speeder flag
    other = TestClient(client.app)
    r = one_page_submit(other, started="1.0000")
    assert r.status_code == 303
    third = stored(client, "telecom")[2]
    assert third.duration_seconds is None and third.flags is None


def test_anonymous_surveys_keep_whole_minutes(client: TestClient, factory) -> None:
    factory.branches()
    factory.survey("telecom", anonymous=True)
    r = one_page_submit(client, quality.sign_start(secret(client), "telecom", time.time() - 150))
    assert r.status_code == 303
    [row] = stored(client, "telecom")
    assert row.duration_seconds == 120 and row.token_key is None


def test_thresholds_are_survey_settings(client: TestClient, factory, researcher_headers) -> None:
    factory.branches()
    factory.survey("telecom")
    url = "/api/v1/surveys/telecom"
    assert client.get(url, headers=researcher_headers).json()["straightline_items"] is None
    r = client.patch(url, json={"straightline_items": 1}, headers=researcher_headers)
    assert r.status_code == 422 and "straightline_items" in r.text
    r = client.patch(url, json={"speeder_seconds_per_item": -1}, headers=researcher_headers)
    assert r.status_code == 422 and "speeder_seconds_per_item" in r.text
    r = client.patch(
        url,
        json={"straightline_items": 40, "speeder_seconds_per_item": 0.5},
        headers=researcher_headers,
    )
    assert r.status_code == 200 and r.json()["straightline_items"] == 40
    assert (
        factory.submit("telecom", {"branch": "BR01", "answers": factory.answers(4)}).status_code
        == 201
    )
    assert stored(client, "telecom")[0].flags is None  # 4 everywhere, but fewer than 40 items
    flags = client.get(url + "/flags", headers=researcher_headers).json()
    assert flags["thresholds"] == {
        "speeder_seconds_per_item": 0.5,
        "straightline_items": 40,
        "default_speeder_seconds_per_item": 2.0,
        "default_straightline_items": 10,
    }
    r = client.patch(url, json={"straightline_items": None}, headers=researcher_headers)
    assert r.json()["straightline_items"] is None  # null: back to the default


def test_api_duplicates_by_token_and_straight_lining(client: TestClient, factory) -> None:
    factory.branches()
    factory.survey("telecom")
    body = {"branch": "BR01", "answers": varied(), "token": "the-same-token-twice"}
    assert factory.submit("telecom", body).status_code == 201
    assert factory.submit("telecom", body | {"answers": varied(1)}).status_code == 201
    assert (
        factory.submit("telecom", {"branch": "BR01", "answers": factory.answers(5)}).status_code
        == 201
    )
    first, second, third = stored(client, "telecom")
    assert first.flags is None and first.duration_seconds is None
    assert second.flags == ["duplicate"]
    assert third.flags == ["straightline"]


# ---- what researchers see -----------------------------------------------------------------------
@pytest.fixture
def flagged(factory, survey) -> dict[str, int]:
    """12 clean responses in BR01 and BR02 each, and 3 straight-liners in BR01."""
    for k in range(12):
        for branch in ("BR01", "BR02"):
            body = {"branch": branch, "answers": varied(k), "customer_type": "consumer"}
            assert factory.submit("telecom", body).status_code == 201
    for value in (1, 5, 2):
        body = {"branch": "BR01", "answers": factory.answers(value), "customer_type": "consumer"}
        assert factory.submit("telecom", body).status_code == 201
    return {"clean": 24, "flagged": 3}


def test_flags_endpoint(
    client: TestClient, flagged, researcher_headers, operator_headers, factory
) -> None:
    url = "/api/v1/surveys/telecom/flags"
    body = client.get(url, headers=researcher_headers).json()
    assert body["summary"] == {
        "responses": 27,
        "flagged": 3,
        "by_flag": {"speeder": 0, "straightline": 3, "duplicate": 0},
    }
    assert len(body["responses"]) == 27 and body["partial_responses"] == {}
    only = client.get(url, params={"flagged_only": "true"}, headers=researcher_headers).json()
    assert [r["flags"] for r in only["responses"]] == [["straightline"]] * 3
    assert {r["branch"] for r in only["responses"]} == {"BR01"}
    assert client.get(url, headers=operator_headers).status_code == 403
    scoped = client.get(url, headers=factory.key("researcher", branches=["BR02"])).json()
    assert scoped["summary"]["responses"] == 12 and scoped["summary"]["flagged"] == 0


def test_exports_carry_duration_and_flags(
    tmp_path, client: TestClient, flagged, researcher_headers
) -> None:
    base = "/api/v1/surveys/telecom/responses"
    frame = pd.read_csv(
        io.StringIO(client.get(base + ".csv", headers=researcher_headers).text),
        dtype=str,
        keep_default_na=False,
    )
    assert list(frame.columns[-2:]) == ["duration_seconds", "flags"]
    assert (frame["flags"] == "straightline").sum() == 3 and (frame["flags"] == "").sum() == 24
    xlsx = client.get(base + ".xlsx", headers=researcher_headers)
    sheet = load_workbook(io.BytesIO(xlsx.content), read_only=True)["responses"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][-2:] == ("duration_seconds", "flags")
    assert sum(1 for r in rows[1:] if r[-1] == "straightline") == 3
    sav = client.get(base + ".sav", headers=researcher_headers)
    assert sav.status_code == 200
    (tmp_path / "r.sav").write_bytes(sav.content)
    data, meta = pyreadstat.read_sav(str(tmp_path / "r.sav"))
    assert (data["flags"] == "straightline").sum() == 3
    assert meta.column_names_to_labels["duration_seconds"]
    codebook = client.get(base + ".codebook.csv", headers=researcher_headers).text
    assert "\nflags,," in codebook and "\nduration_seconds,," in codebook
    # the export imports again, flags and all
    frame["id"] = [f"00000000-0000-4000-8000-{k:012d}" for k in range(len(frame))]
    client.post(
        "/api/v1/surveys",
        json={"slug": "copy", "instrument_version": 1},
        headers=researcher_headers,
    )
    r = client.post(
        "/api/v1/surveys/copy/responses/import",
        files={"file": ("r.csv", frame.to_csv(index=False).encode(), "text/csv")},
        headers=researcher_headers,
    )
    assert r.status_code == 201, r.text[:1000]
    copy = client.get("/api/v1/surveys/copy/flags", headers=researcher_headers).json()
    assert copy["summary"]["flagged"] == 3
    bad = frame.head(1).assign(flags="lazy", id="00000000-0000-4000-8000-999999999999")
    r = client.post(
        "/api/v1/surveys/copy/responses/import",
        files={"file": ("r.csv", bad.to_csv(index=False).encode(), "text/csv")},
        headers=researcher_headers,
    )
    assert r.status_code == 422 and "flags" in r.text and "lazy" in r.text


@pytest.fixture
def flagged1500(factory, telecom_survey) -> int:
    """tests/data/telecom_1500.csv (imported: unflagged) and 3 straight-liners in BR01."""
    for value in (1, 5, 2):
        body = {"branch": "BR01", "answers": factory.answers(value)}
        assert factory.submit("telecom", body).status_code == 201
    return 3


def test_exclude_flagged_on_reliability_efa_and_fits(
    client: TestClient, flagged1500, researcher_headers
) -> None:
    url = "/api/v1/surveys/telecom/"
    n = lambda r: r.json()["n"]  # noqa: E731
    everything = client.get(url + "reliability", headers=researcher_headers)
    default = client.get(
        url + "reliability", params={"exclude_flagged": "false"}, headers=researcher_headers
    )
    assert n(everything) == n(default) == 1503  # the default is false
    clean = client.get(
        url + "reliability", params={"exclude_flagged": "true"}, headers=researcher_headers
    )
    assert clean.status_code == 200 and n(clean) == 1500
    efa = client.get(
        url + "efa", params={"exclude_flagged": "true", "factors": 1}, headers=researcher_headers
    )
    assert efa.status_code == 200 and efa.json()["n_rows"] == 1500
    bad = client.get(url + "efa", params={"exclude_flagged": "maybe"}, headers=researcher_headers)
    assert bad.status_code == 422 and "exclude_flagged" in bad.text
    fit = client.post(
        url + "fits",
        json={"exclude_flagged": True, "missing": "listwise"},
        headers=researcher_headers,
    )
    assert fit.status_code in (200, 202), fit.text
    assert fit.json()["spec"]["exclude_flagged"] is True
    plain = client.post(url + "fits", json={"missing": "listwise"}, headers=researcher_headers)
    assert "exclude_flagged" not in plain.json()["spec"]  # default false: spec as before
    assert plain.json()["id"] != fit.json()["id"]


# ---- partial responses ----------------------------------------------------------------------------
def tokens(client: TestClient, slug: str, n: int = 1, branch: str = "BR01") -> list[str]:
    with client.app.state.sessionmaker() as db:
        return create_tokens(
            db, survey=service.get_survey(db, slug=slug), branch_code=branch, count=n
        )


def post(client: TestClient, slug: str, html: str, nav: str, **answers: Any) -> Any:
    data = fields_of(html) | answers | {"nav": nav}
    return client.post(f"/s/{slug}", data=data, follow_redirects=False)


@pytest.mark.parametrize("requires_token", [False, True])
def test_resume_from_the_same_link(
    client: TestClient,
    visit,  # noqa: F811
    factory,
    requires_token: bool,
) -> None:
    slug = "visitt" if requires_token else "visit"
    if requires_token:
        factory.survey(slug, instrument="visit", requires_token=True)
    [token] = tokens(client, slug)
    link = f"/s/{slug}?branch=BR01&lang=en&token={token}"
    first = client.get(link).text
    second = post(client, slug, first, "next", token=token, **PAGE1)
    assert second.status_code == 200 and progress(second.text) == "Page 2 of 3"
    with client.app.state.sessionmaker() as db:
        survey = service.get_survey(db, slug=slug)
        assert partials.partial_counts(db, survey) == {"BR01": 1}
        assert service.count_responses(db, survey=survey) == 0
    # another browser (the link forwarded, or the phone restarted) opens the same link
    later = TestClient(client.app)
    resumed = later.get(link).text
    assert progress(resumed) == "Page 2 of 3"
    carried = fields_of(resumed)
    assert {k: carried[k] for k in PAGE1} == PAGE1 and carried["token"] == token
    third = post(later, slug, resumed, "next", **PAGE2)
    assert progress(third.text) == "Page 3 of 3"
    # page 2 saved too: reopening now lands on page 3
    assert progress(TestClient(client.app).get(link).text) == "Page 3 of 3"
    done = post(later, slug, third.text, "submit", **PAGE3)
    assert done.status_code == 303, done.text[:2000]
    [row] = stored(client, slug)
    numbers = dict(zip(VISIT.answer_codes, row.answers, strict=True))
    assert numbers["SQ1"] == 4 and numbers["VAL2"] == 10 and row.attributes == {"region": "north"}
    assert row.duration_seconds is not None  # from the first load, carried across browsers
    with client.app.state.sessionmaker() as db:
        survey = service.get_survey(db, slug=slug)
        assert partials.partial_counts(db, survey) == {}
        assert db.scalars(select(PartialResponse)).all() == []
    # the used link starts afresh (a token survey then refuses it on submit)
    assert progress(client.get(link).text) == "Page 1 of 3"


def test_partial_responses_stay_out_of_everything(
    client: TestClient,
    visit,  # noqa: F811
    factory,
    researcher_headers,
) -> None:
    toks = tokens(client, "visit", 2, "BR02")
    for token in toks:
        first = client.get(f"/s/visit?branch=BR02&lang=en&token={token}").text
        assert post(client, "visit", first, "next", **PAGE1).status_code == 200
    csv = client.get("/api/v1/surveys/visit/responses.csv", headers=researcher_headers).text
    assert csv.count("\n") == 1  # the header only
    flags = client.get("/api/v1/surveys/visit/flags", headers=researcher_headers).json()
    assert flags["partial_responses"] == {"BR02": 2} and flags["summary"]["responses"] == 0
    # without a token nothing is saved (nothing to resume by)
    first = client.get("/s/visit?branch=BR01&lang=en").text
    assert post(client, "visit", first, "next", **PAGE1).status_code == 200
    with client.app.state.sessionmaker() as db:
        assert partials.partial_counts(db, service.get_survey(db, slug="visit")) == {"BR02": 2}
    # a token of another survey or an unknown one saves nothing and resumes nothing
    page = client.get("/s/visit?branch=BR01&lang=en&token=nonsense").text
    assert progress(page) == "Page 1 of 3"
    assert re.search(r'name="token" value="nonsense"', page)


def test_exclude_flagged_on_drivers(
    client: TestClient, flagged1500, researcher_headers, operator_headers
) -> None:
    """Importance (the pooled SEM fit) and performance both leave the flagged responses out;
    an operator key gets 403 naming the field (as on scores)."""
    url = "/api/v1/surveys/telecom/drivers"
    everyone = client.get(url, headers=researcher_headers)
    clean = client.get(url, params={"exclude_flagged": "true"}, headers=researcher_headers)
    assert everyone.status_code == clean.status_code == 200, clean.text[:1000]
    assert (everyone.json()["n"], clean.json()["n"]) == (1503, 1500)
    assert everyone.json()["fit"]["nobs"] - clean.json()["fit"]["nobs"] == 3
    assert everyone.json()["fit"]["data_fingerprint"] != clean.json()["fit"]["data_fingerprint"]
    r = client.get(url, params={"exclude_flagged": "true"}, headers=operator_headers)
    assert r.status_code == 403 and r.json()["detail"][0]["field"] == "exclude_flagged"
