"""The dashboard's own scalar-invariance check across branches: queued once per data state
through the fit-job machinery, "running" until done (the page then refreshes itself), then a
plain verdict (holds) or a warning (fails), the statistics behind a disclosure."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.fits import service as fits
from app.fits.models import FitJob
from app.reporting.invariance import RECHECK_AFTER, check_spec
from app.surveys.models import Survey
from app.surveys.service import get_survey
from tests.fits.test_fit_api import wait_done


def check_jobs(session: Session) -> list[FitJob]:
    session.rollback()  # a fresh snapshot (SQLite)
    jobs = session.scalars(select(FitJob).order_by(FitJob.created_at)).all()
    return [j for j in jobs if j.spec.get("group") == "branch" and j.spec.get("invariance")]


def test_dashboard_runs_the_check_once_per_data_state(
    client: TestClient,
    factory: Any,
    telecom_survey: Survey,
    operator_headers: dict[str, str],
    researcher_headers: dict[str, str],
    session: Session,
    run_invariance_jobs: None,
) -> None:
    telecom_survey.min_group_size = 196  # four branches of 196..204 responses: a quicker fit
    session.merge(telecom_survey)
    session.commit()
    client.headers["Accept-Language"] = "en"
    first = client.get("/dashboard/telecom", headers=operator_headers)
    assert first.status_code == 200
    (job,) = check_jobs(session)
    assert 'id="invariance-running"' in first.text or 'id="invariance-holds"' in first.text
    assert f'data-fit-id="{job.id}"' in first.text
    if 'id="invariance-running"' in first.text:  # refreshes itself while the check runs
        assert '<meta http-equiv="refresh"' in first.text
    again = client.get("/dashboard/telecom", headers=operator_headers)
    assert again.status_code == 200 and len(check_jobs(session)) == 1  # no second job

    done = wait_done(client, researcher_headers, job.id)
    assert done["status"] == "done", done["error"]
    spec, result = done["spec"], done["result"]
    assert spec["missing"] == "fiml" and spec["min_group_size"] == 196
    assert "NQ" not in spec["model"] and "~ " not in spec["model"].replace("=~", "")
    assert spec["model"].count("=~") == 9  # every construct of the instrument but NQ
    assert [lv["level"] for lv in result["invariance"]] == ["configural", "metric", "scalar"]
    assert sorted(g["group"] for g in result["groups"]) == ["BR01", "BR03", "BR04", "BR08"]
    assert {e["group"] for e in result["excluded_groups"]} == {
        "BR02",
        "BR05",
        "BR06",
        "BR07",
    }
    page = client.get("/dashboard/telecom", headers=operator_headers).text
    assert 'id="invariance-holds"' in page and 'id="invariance-warning"' not in page
    assert "Scores can be compared across branches." in page
    assert '<meta http-equiv="refresh"' not in page  # done: no more refreshing
    assert "Constructs not covered" in page and "Network quality" in page
    assert "Branches left out" in page and "Branch BR02" in page
    assert "ΔCFI = " in page  # the statistics, behind the disclosure
    assert len(check_jobs(session)) == 1

    # New data within the hour: the recent check is shown, nothing queued.
    answers = factory.answers(5, NQ1=None, NQ2=None, NQ3=None, NQ4=None)
    assert factory.submit("telecom", {"branch": "BR01", "answers": answers}).status_code == 201
    page = client.get("/dashboard/telecom", headers=operator_headers).text
    assert 'id="invariance-holds"' in page and len(check_jobs(session)) == 1
    # An hour later: a new check is queued, the last verdict shown beside "running".
    aged = session.get(FitJob, job.id)
    assert aged is not None
    aged.created_at = aged.created_at - RECHECK_AFTER - timedelta(minutes=1)
    session.commit()
    page = client.get("/dashboard/telecom", headers=operator_headers).text
    jobs = check_jobs(session)
    assert len(jobs) == 2 and jobs[1].data_fingerprint != jobs[0].data_fingerprint
    if 'id="invariance-running"' in page:
        assert "The last check, on earlier data, said: Scores can be compared" in page
    assert wait_done(client, researcher_headers, jobs[1].id)["status"] == "done"


def test_failed_scalar_level_shows_the_warning(
    client: TestClient, telecom_survey: Survey, operator_headers: dict[str, str], session: Session
) -> None:
    survey = get_survey(session, slug="telecom")
    spec = check_spec(survey).canonical(
        model=check_spec(survey).model or "", min_group_size=survey.min_group_size
    )
    data_fp = fits.data_fingerprint(session, survey=survey, filters=fits.filters_of({}))
    levels = [
        {"level": "configural", "delta.cfi": None, "delta.pvalue": None},
        {"level": "metric", "delta.cfi": -0.002, "delta.pvalue": 0.3},
        {"level": "scalar", "delta.cfi": -0.031, "delta.pvalue": 1e-9},
    ]
    session.add(
        FitJob(
            id="f" * 32,
            survey_id=survey.id,
            cache_key=fits.cache_key(data_fp=data_fp, spec=spec),
            data_fingerprint=data_fp,
            spec=spec,
            status="done",
            progress=1.0,
            attempts=1,
            result={"nobs": 1500, "groups": [], "excluded_groups": [], "invariance": levels},
        )
    )
    session.commit()
    page = client.get("/dashboard/telecom?lang=en", headers=operator_headers).text
    assert 'id="invariance-warning"' in page and 'role="alert"' in page
    assert "Compare with care" in page and "ΔCFI = -0.031" in page
    # plain words first: the verdict comes before its statistics
    assert page.index("Compare with care") < page.index("<details") < page.index("ΔCFI")
    zh = client.get("/dashboard/telecom?lang=zh", headers=operator_headers).text
    assert "比较时请谨慎" in zh and "Compare with care" not in zh
    assert len(check_jobs(session)) == 1  # the stored check is used, nothing queued


def test_a_scoped_operator_sees_no_other_branch_named_in_the_note(
    client: TestClient, telecom_survey: Survey, factory: Any, session: Session
) -> None:
    """F18: the note names left-out branches only to keys that may see them."""
    survey = get_survey(session, slug="telecom")
    spec = check_spec(survey).canonical(
        model=check_spec(survey).model or "", min_group_size=survey.min_group_size
    )
    data_fp = fits.data_fingerprint(session, survey=survey, filters=fits.filters_of({}))
    levels = [{"level": "scalar", "delta.cfi": -0.001, "delta.pvalue": 0.5}]
    skipped = [
        {"group": "BR05", "reason": "n=3 < min_group_size 5"},
        {"group": "BR09", "reason": "n=2 < min_group_size 5"},
        {"group": "BR01", "reason": "n=4 < min_group_size 5"},
    ]
    session.add(
        FitJob(
            id="e" * 32,
            survey_id=survey.id,
            cache_key=fits.cache_key(data_fp=data_fp, spec=spec),
            data_fingerprint=data_fp,
            spec=spec,
            status="done",
            progress=1.0,
            attempts=1,
            result={"nobs": 1500, "groups": [], "excluded_groups": skipped, "invariance": levels},
        )
    )
    session.commit()
    client.headers["Accept-Language"] = "en"
    everyone = client.get("/dashboard/telecom", headers=factory.key("operator")).text
    assert "Branch BR05" in everyone and "Branch BR09" in everyone
    mine = client.get("/dashboard/telecom", headers=factory.key("operator", branches=["BR01"]))
    assert mine.status_code == 200
    assert "Branch BR01" in mine.text and "2 other branches" in mine.text
    assert "BR05" not in mine.text and "BR09" not in mine.text
