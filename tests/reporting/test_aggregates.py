"""Maintained aggregates: equal to a rebuild from responses (1e-9 relative on sums: float sums
in another order), after a bulk import and after many single submissions; the per-row and the
vectorised moment paths against the pandas definition in app.stats.scores (1e-12 relative); the
CLI rebuild, and trends by month from imported submitted_at values against a direct pandas
computation (1e-6 absolute on indices)."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import delete, select

from app.cli import main as pvm
from app.reporting.aggregates import (
    KEYS,
    SMALL_BATCH,
    cell_moments,
    construct_positions,
    rebuild,
    rollups,
)
from app.reporting.models import COUNT_CONSTRUCT, ScoreAggregate, ScoreRollup
from app.stats.scores import respondent_scores, sufficient_stats
from app.surveys import service
from tests.conftest import BRANCHES, TELECOM_CSV


def snapshot(session, survey_id):
    rows = session.execute(
        select(ScoreAggregate).where(ScoreAggregate.survey_id == survey_id)
    ).scalars()
    return {
        (r.branch_id, r.customer_type, r.tenure, r.month, r.construct): (r.n, r.sum, r.sumsq)
        for r in rows
    }


def rollup_snapshot(session, survey_id):
    rows = session.execute(select(ScoreRollup).where(ScoreRollup.survey_id == survey_id)).scalars()
    return {(r.dim, r.branch_id, r.key, r.construct): (r.n, r.sum, r.sumsq) for r in rows}


def test_maintained_equals_rebuilt(session, telecom_survey):
    before = snapshot(session, telecom_survey.id)
    before_rollups = rollup_snapshot(session, telecom_survey.id)
    assert sum(v[0] for k, v in before_rollups.items() if k[0] == "all" and k[3] == "*") == 1500
    assert len(before) > 0
    assert sum(v[0] for k, v in before.items() if k[4] == "*") == 1500
    session.execute(delete(ScoreAggregate))
    session.execute(delete(ScoreRollup))
    session.commit()
    assert rebuild(session, survey=telecom_survey) == 1500
    session.commit()
    after_rollups = rollup_snapshot(session, telecom_survey.id)
    assert set(after_rollups) == set(before_rollups)
    for k, (n, s, _) in before_rollups.items():
        assert after_rollups[k][0] == n and after_rollups[k][1] == pytest.approx(s, rel=1e-9)
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
        rows.append(
            {
                "id": uuid.uuid4(),
                "branch_id": ids[codes[int(rng.integers(0, len(codes)))]],
                "submitted_at": datetime(2026, 1 + i % 4, 1 + i % 28, i % 24, tzinfo=UTC),
                "attributes": {
                    k: v
                    for k, v in (
                        ("customer_type", [None, "business", "consumer", "key_account"][i % 4]),
                        ("tenure", [None, "first_time", "long_term"][i % 3]),
                    )
                    if v
                },
                "lang": "en",
                "channel": "import",
                "answers": answers,
            }
        )
    return rows


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
    before, before_rollups = snapshot(session, survey.id), rollup_snapshot(session, survey.id)
    assert sum(v[0] for k, v in before.items() if k[4] == COUNT_CONSTRUCT) == 144
    assert len({k[3] for k in before}) >= 5  # four months of rows plus this month's submissions
    scores = client.get("/api/v1/surveys/telecom/scores", headers=operator_headers).json()
    trends = client.get("/api/v1/surveys/telecom/trends", headers=operator_headers).json()
    session.execute(delete(ScoreAggregate))
    session.execute(delete(ScoreRollup))
    session.commit()
    assert rebuild(session, survey=survey) == 144
    session.commit()
    assert_same(snapshot(session, survey.id), before)
    assert_same(rollup_snapshot(session, survey.id), before_rollups)
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
    positions = construct_positions(survey)
    spec = service.survey_spec(survey)
    # the definition: respondent_scores + sufficient_stats over the item frame
    items = pd.DataFrame([r["answers"] for r in rows], columns=spec.item_codes, dtype=float)
    keys = pd.DataFrame(
        {
            "branch_id": [r["branch_id"] for r in rows],
            "customer_type": [r["attributes"].get("customer_type", "") for r in rows],
            "tenure": [r["attributes"].get("tenure", "") for r in rows],
            "month": [f"{r['submitted_at']:%Y-%m}" for r in rows],
        }
    )
    cells = sufficient_stats(respondent_scores(items, spec.construct_items), keys, by=KEYS)
    want = {
        (int(c.branch_id), c.customer_type, c.tenure, c.month, c.construct): (c.n, c.sum, c.sumsq)
        for c in cells.itertuples(index=False)
    }
    for key, n in keys.groupby(KEYS).size().items():
        want[(int(key[0]), *key[1:], COUNT_CONSTRUCT)] = (n, 0.0, 0.0)
    assert any(k[4] == "NQ" for k in want) and any(k[1] == "" for k in want)

    one_by_one: dict = {}
    for row in rows:  # the per-submission path
        cell_moments([row], positions=positions, out=one_by_one)
    small_batches: dict = {}
    for start in range(0, len(rows), SMALL_BATCH - 1):
        cell_moments(rows[start : start + SMALL_BATCH - 1], positions=positions, out=small_batches)
    bulk = cell_moments(rows, positions=positions)  # the vectorised path (imports, rebuild)
    for got in (one_by_one, small_batches, bulk):
        assert set(got) == set(want)
        for k, (n, s, ss) in want.items():
            assert got[k][0] == n, k
            assert got[k][1] == pytest.approx(s, rel=1e-12), k
            assert got[k][2] == pytest.approx(ss, rel=1e-12), k

    # roll-ups: per branch, one dimension at a time (plus "all")
    rolled = rollups(bulk)
    frame = pd.DataFrame(
        [(*k, n, s, ss) for k, (n, s, ss) in want.items()],
        columns=[*KEYS, "construct", "n", "sum", "sumsq"],
    )
    for dim in ("all", "customer_type", "tenure", "month"):
        by = ["branch_id", "construct"] if dim == "all" else ["branch_id", dim, "construct"]
        for key, (n, s, ss) in frame.groupby(by)[["n", "sum", "sumsq"]].sum().iterrows():
            branch, construct = key[0], key[-1]
            got = rolled[(dim, int(branch), "" if dim == "all" else key[1], construct)]
            assert got[0] == n and got[1] == pytest.approx(s, rel=1e-12)
            assert got[2] == pytest.approx(ss, rel=1e-12)
    assert len(rolled) == sum(
        len(frame.groupby(b))
        for b in (
            ["branch_id", "construct"],
            ["branch_id", "customer_type", "construct"],
            ["branch_id", "tenure", "construct"],
            ["branch_id", "month", "construct"],
        )
    )


def test_cli_rebuild(session, telecom_survey, settings, monkeypatch, capsys):
    monkeypatch.setenv("PVM_DATABASE_URL", settings.database_url)
    from app.config import get_settings

    get_settings.cache_clear()
    try:
        before = snapshot(session, telecom_survey.id)
        session.execute(delete(ScoreAggregate))
        session.commit()
        session.close()  # SQLite: the CLI's migration check needs the write lock
        assert pvm(["aggregates", "rebuild", "--survey", "telecom"]) == 0
        assert "rebuilt from 1500 responses" in capsys.readouterr().err
        session.expire_all()
        assert snapshot(session, telecom_survey.id).keys() == before.keys()
        assert pvm(["aggregates", "rebuild", "--survey", "nope"]) == 1
    finally:
        get_settings.cache_clear()


def test_trends_by_month(client, factory, survey, operator_headers):
    raw = pd.read_csv(TELECOM_CSV).head(300)
    months = ["2026-01-15T10:00:00+00:00", "2026-02-03T10:00:00+00:00", "2026-03-31T23:30:00+00:00"]
    raw.insert(
        0,
        "submitted_at",
        [months[i % 3] if i < 297 else "2026-04-02T00:00:00+00:00" for i in range(300)],
    )
    buf = io.StringIO()
    raw.to_csv(buf, index=False, float_format="%.0f")  # N/A stays an empty cell
    assert factory.import_direct("telecom", buf.getvalue().encode()) == 300
    r = client.get("/api/v1/surveys/telecom/trends?by=month", headers=operator_headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [g["group"] for g in body["groups"]] == ["2026-01", "2026-02", "2026-03", "2026-04"]
    april = body["groups"][3]
    assert april == {
        "group": "2026-04",
        "n": 3,
        "suppressed": True,
        "suppressed_reason": "fewer than min_group_size responses",
    }
    # the overall minus three shown months would give April away: the first of the smallest
    # other months (January, 99 like the others) is hidden to protect it
    jan = body["groups"][0]
    assert jan["suppressed"] and jan["suppressed_reason"] == "protects a small group"
    assert "constructs" not in jan
    feb_rows = raw.iloc[[i for i in range(297) if i % 3 == 1]]
    pv = feb_rows[["PV1", "PV2"]].mean(axis=1)
    got = body["groups"][1]["constructs"]["PV"]
    assert got["index"] == pytest.approx((pv.mean() - 1) / 6 * 100, abs=1e-6)
    assert got["ci"][0] < got["index"] < got["ci"][1]
    assert "vs_rest" not in got
    csv = client.get("/api/v1/surveys/telecom/trends?format=csv", headers=operator_headers)
    assert csv.status_code == 200 and "2026-04,3,true" in csv.text
    # a month range reads the full cube instead of the roll-ups
    ranged = client.get(
        "/api/v1/surveys/telecom/scores?month_from=2026-01&month_to=2026-12",
        headers=operator_headers,
    ).json()
    plain = client.get("/api/v1/surveys/telecom/scores", headers=operator_headers).json()
    assert ranged["groups"][0]["constructs"]["REL"]["index"] == pytest.approx(
        plain["groups"][0]["constructs"]["REL"]["index"], abs=1e-9
    )
    feb = client.get(
        "/api/v1/surveys/telecom/scores?month_from=2026-02&month_to=2026-02",
        headers=operator_headers,
    ).json()
    assert feb["overall"]["n"] == 99
    assert (
        client.get(
            "/api/v1/surveys/telecom/scores?month_from=2026-13", headers=operator_headers
        ).status_code
        == 422
    )
    by_survey = client.get("/api/v1/surveys/telecom/trends?by=survey", headers=operator_headers)
    assert [g["group"] for g in by_survey.json()["groups"]] == ["telecom"]
