"""Maintained aggregates: equal to a rebuild from responses (1e-9 relative on sums: float sums
in another order), after a bulk import and after many single submissions; the per-row and the
vectorised moment paths against the pandas definition in app.stats.scores (1e-12 relative), for
every dimension (all and each attribute) and month; the CLI rebuild, and trends by month from
imported submitted_at values against an independent computation of the protected values
(tests/reporting/reference.py, 1e-6 absolute on indices)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import delete, select

from app.cli import main as pvm
from app.reporting.aggregates import SMALL_BATCH, cell_moments, layout, rebuild
from app.reporting.models import COUNT_CONSTRUCT, ScoreCell
from app.stats.scores import respondent_scores, sufficient_stats
from app.surveys import service
from tests.conftest import BRANCHES, TELECOM_CSV
from tests.reporting import reference as ref

DIMS = ("*", "customer_type", "tenure")  # "*": the whole branch-month


def snapshot(session, survey_id):
    rows = session.execute(select(ScoreCell).where(ScoreCell.survey_id == survey_id)).scalars()
    return {(r.dim, r.branch_id, r.month, r.key, r.construct): (r.n, r.sum, r.sumsq) for r in rows}


def test_maintained_equals_rebuilt(session, telecom_survey):
    before = snapshot(session, telecom_survey.id)
    assert len(before) > 0
    for dim in DIMS:  # every respondent counts once in every dimension
        assert sum(v[0] for k, v in before.items() if k[0] == dim and k[4] == "*") == 1500
    assert {k[0] for k in before} == set(DIMS)
    session.execute(delete(ScoreCell))
    session.commit()
    assert rebuild(session, survey=telecom_survey) == 1500
    session.commit()
    after = snapshot(session, telecom_survey.id)
    assert set(after) == set(before)
    for k, (n, s, ss) in before.items():
        assert after[k][0] == n
        assert after[k][1] == pytest.approx(s, rel=1e-9)
        assert after[k][2] == pytest.approx(ss, rel=1e-9)


def assert_same(got, want):
    assert set(got) == set(want)
    for k, (n, s, ss) in want.items():
        assert got[k][0] == n, k
        assert got[k][1] == pytest.approx(s, rel=1e-9), k
        assert got[k][2] == pytest.approx(ss, rel=1e-9), k


def synthetic_rows(n, ids, *, seed=3):
    """Response rows with N/A items, whole constructs unanswered, missing attributes and
    several months, so every branch of the moment computation is used."""
    rng = np.random.default_rng(seed)
    codes = list(ids)
    rows = []
    for i in range(n):
        answers = [int(v) for v in rng.integers(1, 8, size=37)]
        for j in rng.choice(37, size=int(rng.integers(0, 6)), replace=False):
            answers[j] = None
        if i % 5 == 0:
            answers[20:24] = [None] * 4  # the network items (NQ1-NQ4): no NQ score
        attrs = {
            "customer_type": [None, "business", "consumer", "key_account"][i % 4],
            "tenure": [None, "first_time", "long_term"][i % 3],
        }
        row = {
            "id": uuid.uuid4(),
            "branch_id": ids[codes[int(rng.integers(0, len(codes)))]],
            "submitted_at": datetime(2026, 1 + i % 4, 1 + i % 28, i % 24, tzinfo=UTC),
            "lang": "en",
            "channel": "import",
            "answers": answers,
        }
        row["attributes"] = {k: v for k, v in attrs.items() if v is not None}
        rows.append(row)
    return rows


def attribute(row, code):
    return row["attributes"].get(code) or ""


def test_single_submissions_equal_a_rebuild(client, factory, survey, session, operator_headers):
    # JSON submissions through the API ...
    for i in range(24):
        answers = factory.answers(1 + i % 7, NQ1=None, NQ2=None, NQ3=None, NQ4=None)
        if i % 3:
            answers.update(NQ1=1 + (i * 5) % 7, NQ3=1 + i % 4)
        body = {
            "branch": BRANCHES[i % 4],
            "answers": answers,
            **({"customer_type": "business"} if i % 2 else {}),
            **({"tenure": "long_term"} if i % 3 == 0 else {}),
        }
        r = factory.submit("telecom", body, key=f"k{i}")
        assert r.status_code == 201, r.text
    # ... and one-row batches through the write path, spread over months
    ids = service.branch_ids(session)
    for row in synthetic_rows(120, ids):
        service.insert_responses(session, survey=survey, rows=[row])
        session.commit()
    session.expire_all()
    before = snapshot(session, survey.id)
    assert sum(v[0] for k, v in before.items() if k[0] == "*" and k[4] == COUNT_CONSTRUCT) == 144
    assert len({k[2] for k in before}) >= 5  # four months of rows plus this month's submissions
    scores = client.get("/api/v1/surveys/telecom/scores", headers=operator_headers).json()
    trends = client.get("/api/v1/surveys/telecom/trends", headers=operator_headers).json()
    session.execute(delete(ScoreCell))
    session.commit()
    assert rebuild(session, survey=survey) == 144
    session.commit()
    assert_same(snapshot(session, survey.id), before)
    again = client.get("/api/v1/surveys/telecom/scores", headers=operator_headers).json()
    assert again["overall"]["n"] == scores["overall"]["n"] == 144
    for c, v in scores["overall"]["constructs"].items():
        assert again["overall"]["constructs"][c]["n"] == v["n"]
        assert again["overall"]["constructs"][c]["index"] == pytest.approx(v["index"], rel=1e-9)
    assert [g["group"] for g in again["groups"]] == [g["group"] for g in scores["groups"]]
    trends_again = client.get("/api/v1/surveys/telecom/trends", headers=operator_headers).json()
    assert [(g["group"], g["n"]) for g in trends_again["groups"]] == [
        (g["group"], g["n"]) for g in trends["groups"]
    ]


def test_moment_paths_match_the_pandas_definition(survey, session):
    ids = service.branch_ids(session)
    rows = synthetic_rows(4 * SMALL_BATCH + 7, ids, seed=11)
    shape = layout(survey)
    spec = service.survey_spec(survey)
    # the definition: respondent_scores + sufficient_stats over the item frame, per dimension
    items = pd.DataFrame([r["answers"] for r in rows], columns=spec.item_codes, dtype=float)
    keys = pd.DataFrame(
        {
            "branch_id": [r["branch_id"] for r in rows],
            "month": [f"{r['submitted_at']:%Y-%m}" for r in rows],
            "*": "",
            **{a: [attribute(r, a) for r in rows] for a in ("customer_type", "tenure")},
        }
    )
    scores = respondent_scores(items, spec.construct_items)
    want = {}
    for dim in DIMS:
        by = ["branch_id", "month", dim]
        for c in sufficient_stats(scores, keys, by=by).itertuples(index=False, name=None):
            branch_id, month, value, construct, n, s, ss = c
            want[(dim, int(branch_id), month, value, construct)] = (n, s, ss)
        for key, n in keys.groupby(by).size().items():
            want[(dim, int(key[0]), key[1], key[2], COUNT_CONSTRUCT)] = (n, 0.0, 0.0)
    assert any(k[4] == "NQ" for k in want) and any(k[0] != "*" and k[3] == "" for k in want)

    one_by_one: dict = {}
    for row in rows:  # the per-submission path
        cell_moments([row], layout=shape, out=one_by_one)
    small_batches: dict = {}
    for start in range(0, len(rows), SMALL_BATCH - 1):
        cell_moments(rows[start : start + SMALL_BATCH - 1], layout=shape, out=small_batches)
    bulk = cell_moments(rows, layout=shape)  # the vectorised path (imports, rebuild)
    for got in (one_by_one, small_batches, bulk):
        assert set(got) == set(want)
        for k, (n, s, ss) in want.items():
            assert got[k][0] == n, k
            assert got[k][1] == pytest.approx(s, rel=1e-12), k
            assert got[k][2] == pytest.approx(ss, rel=1e-12), k


def test_cli_rebuild(session, telecom_survey, settings, monkeypatch, capsys):
    monkeypatch.setenv("PVM_DATABASE_URL", settings.database_url)
    from app.config import get_settings

    get_settings.cache_clear()
    try:
        before = snapshot(session, telecom_survey.id)
        session.execute(delete(ScoreCell))
        session.commit()
        session.close()  # SQLite: the CLI's migration check needs the write lock
        assert pvm(["aggregates", "rebuild", "--survey", "telecom"]) == 0
        assert "rebuilt from 1500 responses" in capsys.readouterr().err
        session.expire_all()
        assert snapshot(session, telecom_survey.id).keys() == before.keys()
        assert pvm(["aggregates", "rebuild", "--survey", "nope"]) == 1
    finally:
        get_settings.cache_clear()


def test_trends_by_month(client, factory, survey, operator_headers, session):
    raw = pd.read_csv(TELECOM_CSV).head(300)
    months = ["2026-01-15T10:00:00+00:00", "2026-02-03T10:00:00+00:00", "2026-03-31T23:30:00+00:00"]
    stamps = [months[i % 3] if i < 297 else "2026-04-02T00:00:00+00:00" for i in range(300)]
    items = [c for c in raw.columns if c not in ("branch", "customer_type", "tenure")]
    records = [
        {
            "branch": r["branch"],
            "submitted_at": datetime.fromisoformat(stamps[i]),
            "customer_type": r["customer_type"] if isinstance(r["customer_type"], str) else None,
            "tenure": r["tenure"] if isinstance(r["tenure"], str) else None,
            "answers": {c: (None if pd.isna(r[c]) else int(r[c])) for c in items},
        }
        for i, r in raw.iterrows()
    ]
    ref.insert_rows(session, slug="telecom", records=records)
    r = client.get("/api/v1/surveys/telecom/trends?by=month", headers=operator_headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [g["group"] for g in body["groups"]] == ["2026-01", "2026-02", "2026-03", "2026-04"]
    april = body["groups"][3]
    assert april == {
        "group": "2026-04",
        "n": 3,
        "n_published": 0,
        "suppressed": True,
        "suppressed_reason": "fewer than min_group_size responses",
    }
    # April's branch-months are below 5 and left out of every table, the overall included, so
    # no other month needs hiding: the overall minus three shown months gives nothing
    assert all(not g["suppressed"] for g in body["groups"][:3])
    assert body["overall"]["n_published"] == 297
    people = ref.people_frame(session, survey.id, {"PV": ["PV1", "PV2"]})
    moments, _ = ref.protected(
        people,
        dim="all",
        k=5,
        key=ref.survey_key(session, survey.id),
        scores=["PV"],
        scales={"PV": (1.0, 7.0)},
    )
    feb = moments[moments["month"] == "2026-02"]
    expected = feb["sy"].sum() / feb["n"].sum() * 100
    got = body["groups"][1]["constructs"]["PV"]
    assert got["index"] == pytest.approx(expected, abs=1e-6)
    assert got["ci"][0] < got["index"] < got["ci"][1]
    assert "vs_rest" not in got
    csv = client.get("/api/v1/surveys/telecom/trends?format=csv", headers=operator_headers)
    assert csv.status_code == 200 and "2026-04,3,true" in csv.text
    ranged = client.get(
        "/api/v1/surveys/telecom/scores?month_from=2026-01&month_to=2026-12",
        headers=operator_headers,
    ).json()
    plain = client.get("/api/v1/surveys/telecom/scores", headers=operator_headers).json()
    assert ranged["groups"][0]["constructs"]["REL"]["index"] == pytest.approx(
        plain["groups"][0]["constructs"]["REL"]["index"], abs=1e-9
    )
    feb_table = client.get(
        "/api/v1/surveys/telecom/scores?month_from=2026-02&month_to=2026-02",
        headers=operator_headers,
    ).json()
    assert feb_table["overall"]["n"] == 99
    assert (
        client.get(
            "/api/v1/surveys/telecom/scores?month_from=2026-13", headers=operator_headers
        ).status_code
        == 422
    )
    by_survey = client.get("/api/v1/surveys/telecom/trends?by=survey", headers=operator_headers)
    assert [g["group"] for g in by_survey.json()["groups"]] == ["telecom"]
