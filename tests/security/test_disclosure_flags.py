"""``exclude_flagged`` on operator aggregates (issue 17 item 5) cannot be used for differencing.

The attack: an operator asks for a branch's scores with and without the flagged responses; the
difference of ``n * mean`` is the sum of the flagged respondents' scores, a group far below
``min_group_size`` (here: one respondent). The rule (app/reporting/api.py
``check_exclude_flagged``): only keys that may read raw responses anyway (researcher, admin) may
exclude flagged responses from an aggregate; an operator key gets 403 naming the field. For
them the exclusion is exact: the table equals the one of a survey that never held the flagged
rows (compared under one rounding key; the cells themselves match exactly).
"""

from __future__ import annotations

import random
from typing import Any

from app.reporting.models import DisclosureKey
from app.surveys import service as surveys
from tests.reporting import reference as ref
from tests.security.test_disclosure import API, CONSTRUCTS, SPEC, get, group, person


def insert(session: Any, slug: str, records: list[dict[str, Any]], flags: list[str] | None) -> None:
    """``records`` through the single write path, with ``flags`` raised on every one."""
    survey = surveys.get_survey(session, slug=slug)
    ids = {code: id_ for id_, code in ref.branch_codes(session).items()}
    rows = [
        {
            "branch_id": ids[r["branch"]],
            "submitted_at": r["submitted_at"],
            "answers": [r["answers"].get(c) for c in SPEC.answer_codes],
            "channel": "api",
            "attributes": {},
            "flags": flags,
            "flagged": bool(flags),
        }
        for r in records
    ]
    surveys.insert_responses(session, survey=survey, rows=rows)
    session.commit()


def world(factory: Any, session: Any) -> None:
    """Survey telecom: 20 + 12 clean respondents in BR01 / BR02 and ONE flagged in BR01 (every
    answer 6); survey clean: the same without the flagged one."""
    rng = random.Random(17)
    people = [person(rng, "BR01", "2026-09") for _ in range(20)]
    people += [person(rng, "BR02", "2026-09") for _ in range(12)]
    odd = [person(rng, "BR01", "2026-09", value=6)]
    factory.survey("clean", min_group_size=5)
    for slug in ("telecom", "clean"):
        insert(session, slug, people, None)
    insert(session, "telecom", odd, ["speeder"])
    # one rounding key for both, so that their protected tables can be compared number by number
    keys = {
        slug: session.get(DisclosureKey, surveys.get_survey(session, slug=slug).id)
        for slug in ("telecom", "clean")
    }
    keys["clean"].key = keys["telecom"].key
    session.commit()


def test_operators_may_not_exclude_flagged_from_aggregates(
    factory, survey, session, operator_headers, operator_br01_headers
) -> None:
    world(factory, session)
    for headers in (operator_headers, operator_br01_headers):
        plain = get(factory.client, f"{API}/scores", headers, branch="BR01")
        assert group(plain, "BR01")["n"] == 21
        for fmt in ("json", "csv"):
            r = factory.client.get(
                f"{API}/scores",
                params={"branch": "BR01", "exclude_flagged": "true", "format": fmt},
                headers=headers,
            )
            assert r.status_code == 403, r.text
            assert r.json()["detail"][0]["field"] == "exclude_flagged"
        # false is the default, and allowed to anyone
        same = get(factory.client, f"{API}/scores", headers, branch="BR01", exclude_flagged="false")
        assert same == plain
    # nothing to subtract: the operator only ever sees the tables with the flagged respondent
    assert group(plain, "BR01")["n"] == 21


def test_researcher_exclusion_is_exact(factory, survey, session, researcher_headers) -> None:
    world(factory, session)
    for by in ("branch", "month"):
        kept = get(
            factory.client, f"{API}/scores", researcher_headers, by=by, exclude_flagged="true"
        )
        clean = get(factory.client, "/api/v1/surveys/clean/scores", researcher_headers, by=by)
        assert [g["group"] for g in kept["groups"]] == [g["group"] for g in clean["groups"]]
        for a, b in zip(kept["groups"], clean["groups"], strict=True):
            assert a["n"] == b["n"]
            for c in CONSTRUCTS:
                assert abs(a["constructs"][c]["mean"] - b["constructs"][c]["mean"]) < 1e-9
    full = get(factory.client, f"{API}/scores", researcher_headers, branch="BR01")
    assert group(full, "BR01")["n"] == 21  # without the option: everyone
    r = factory.client.get(
        f"{API}/scores",
        params={"exclude_flagged": "true", "index": "pls"},
        headers=researcher_headers,
    )
    assert r.status_code == 422 and "exclude_flagged" in r.text


def test_trends_exclude_flagged_like_scores(
    factory, survey, session, operator_headers, researcher_headers
) -> None:
    """``trends`` takes the same rule: 403 for operators, exact for researchers (by month the
    table of the survey that never held the flagged row; by survey one fewer in telecom), 422
    with index=pls."""
    world(factory, session)
    url = f"{API}/trends"
    r = factory.client.get(url, params={"exclude_flagged": "true"}, headers=operator_headers)
    assert r.status_code == 403, r.text
    assert r.json()["detail"][0]["field"] == "exclude_flagged"
    plain = get(factory.client, url, operator_headers, exclude_flagged="false")
    assert [g["n"] for g in plain["groups"]] == [33]
    kept = get(factory.client, url, researcher_headers, exclude_flagged="true")
    clean = get(factory.client, "/api/v1/surveys/clean/trends", researcher_headers)
    assert [g["group"] for g in kept["groups"]] == [g["group"] for g in clean["groups"]]
    for a, b in zip(kept["groups"], clean["groups"], strict=True):
        assert a["n"] == b["n"] == 32
        for c in CONSTRUCTS:
            assert abs(a["constructs"][c]["mean"] - b["constructs"][c]["mean"]) < 1e-9
    by_survey = get(factory.client, url, researcher_headers, by="survey")
    assert {g["group"]: g["n"] for g in by_survey["groups"]} == {"telecom": 33, "clean": 32}
    by_survey = get(factory.client, url, researcher_headers, by="survey", exclude_flagged="true")
    assert {g["group"]: g["n"] for g in by_survey["groups"]} == {"telecom": 32, "clean": 32}
    r = factory.client.get(
        url, params={"exclude_flagged": "true", "index": "pls"}, headers=researcher_headers
    )
    assert r.status_code == 422 and "exclude_flagged" in r.text
