"""Maintained aggregates: equal to a rebuild from responses (1e-9 relative on sums: float sums
in another order), the CLI rebuild, and trends by month from imported submitted_at values
against a direct pandas computation (1e-6 absolute on indices)."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from sqlalchemy import delete, select

from app.cli import main as pvm
from app.reporting.aggregates import rebuild
from app.reporting.models import ScoreAggregate, ScoreRollup
from tests.conftest import TELECOM_CSV


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
    assert april == {"group": "2026-04", "n": 3, "suppressed": True}
    jan = raw.iloc[[i for i in range(297) if i % 3 == 0]]
    pv = jan[["PV1", "PV2"]].mean(axis=1)
    got = body["groups"][0]["constructs"]["PV"]
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
