"""Branch-scoped keys on fits (issue 11, F5): filters, groups, cache and reads stay in scope.

A researcher key limited to BR01 used to fit BR05's rows through ``filters.branch`` or
``group: "branch"`` and to read every fit by id. Now its fits use only its branches' rows, a
branch outside its scope is a 403, and a fit computed from rows outside its scope is a 404.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth.service import authenticate
from app.fits.models import FitJob
from app.surveys.models import Survey
from tests.conftest import TELECOM_CSV

MODEL = "TAN =~ TAN1 + TAN2 + TAN3\nREL =~ REL1 + REL2 + REL3 + REL4"
ITEMS = ["TAN1", "TAN2", "TAN3", "REL1", "REL2", "REL3", "REL4"]


def complete_rows(branches: list[str] | None = None) -> int:
    """Listwise-complete rows of MODEL's items in the test data, in ``branches``."""
    frame = pd.read_csv(TELECOM_CSV)
    if branches is not None:
        frame = frame[frame["branch"].isin(branches)]
    return int(frame[ITEMS].notna().all(axis=1).sum())


def post(client: TestClient, headers: dict[str, str], **body: Any) -> Any:
    body = {"model": MODEL, "missing": "listwise", **body}
    return client.post("/api/v1/surveys/telecom/fits", json=body, headers=headers)


def done(client: TestClient, headers: dict[str, str], fit_id: str) -> dict[str, Any]:
    for _ in range(10):
        r = client.get(f"/api/v1/fits/{fit_id}", params={"wait": 30}, headers=headers)
        assert r.status_code == 200, r.text
        if r.json()["status"] in ("done", "failed"):
            assert r.json()["status"] == "done", r.json()["error"]
            return dict(r.json())
    raise AssertionError("fit did not finish")


def key_id(session: Session, headers: dict[str, str]) -> int:
    principal = authenticate(session, raw_key=headers["Authorization"].split(" ", 1)[1])
    assert principal is not None and principal.key_id is not None
    return principal.key_id


def test_branch_filter_outside_the_scope_is_403_and_stores_nothing(
    client: TestClient, factory: Any, telecom_survey: Survey, session: Session
) -> None:
    br01 = factory.key("researcher", branches=["BR01"])
    for branches in (["BR05"], ["BR01", "BR05"]):
        r = post(client, br01, filters={"branch": branches})
        assert r.status_code == 403, r.text
        assert "BR05" in r.json()["detail"]
    assert session.scalar(select(func.count()).select_from(FitJob)) == 0


def test_scoped_fit_uses_only_its_branches_and_records_owner_and_scope(
    client: TestClient,
    factory: Any,
    telecom_survey: Survey,
    session: Session,
    researcher_headers: dict[str, str],
) -> None:
    br01 = factory.key("researcher", branches=["BR01"])
    r = post(client, br01)
    assert r.status_code == 202, r.text
    assert r.json()["branches"] == ["BR01"]
    result = done(client, br01, r.json()["id"])["result"]
    assert result["nobs"] == complete_rows(["BR01"]) < complete_rows()
    job = session.get(FitJob, r.json()["id"])
    assert job is not None
    assert job.owner_key_id == key_id(session, br01) and job.scope == ["BR01"]

    # The same request by an unscoped key, even narrowed to BR01, is another job: results are
    # shared only between keys of one scope (the cache key includes it).
    narrowed = post(client, researcher_headers, filters={"branch": ["BR01"]})
    assert narrowed.status_code == 202, narrowed.text
    assert narrowed.json()["id"] != r.json()["id"]
    assert done(client, researcher_headers, narrowed.json()["id"])["result"]["nobs"] == (
        complete_rows(["BR01"])
    )
    other = factory.key("researcher", branches=["BR01"])  # same scope: the stored job
    assert post(client, other).json()["id"] == r.json()["id"]


def test_group_by_branch_forms_groups_of_the_scope_only(
    client: TestClient, factory: Any, telecom_survey: Survey
) -> None:
    two = factory.key("researcher", branches=["BR01", "BR02"])
    r = post(client, two, group="branch")
    assert r.status_code == 202, r.text
    result = done(client, two, r.json()["id"])["result"]
    seen = {g["group"] for g in result["groups"]} | {e["group"] for e in result["excluded_groups"]}
    assert seen == {"BR01", "BR02"}
    assert result["nobs"] == complete_rows(["BR01", "BR02"])
    one = factory.key("researcher", branches=["BR01"])
    r = post(client, one, group="branch")
    assert r.status_code == 422, r.text  # one branch is no multi-group fit


@pytest.mark.parametrize("route", ["", "/diagram.svg"])
def test_fits_outside_the_scope_are_404_like_missing_ones(
    client: TestClient,
    factory: Any,
    telecom_survey: Survey,
    researcher_headers: dict[str, str],
    admin_headers: dict[str, str],
    route: str,
) -> None:
    everyone = post(client, researcher_headers).json()["id"]
    done(client, researcher_headers, everyone)
    br01 = factory.key("researcher", branches=["BR01"])
    scoped = post(client, br01).json()["id"]
    done(client, br01, scoped)
    narrowed = post(client, researcher_headers, filters={"branch": ["BR01"]}).json()["id"]
    done(client, researcher_headers, narrowed)

    def status(headers: dict[str, str], fit_id: str) -> int:
        return int(client.get(f"/api/v1/fits/{fit_id}{route}", headers=headers).status_code)

    missing = client.get(f"/api/v1/fits/{'0' * 32}{route}", headers=br01)
    hidden = client.get(f"/api/v1/fits/{everyone}{route}", headers=br01)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["detail"] == missing.json()["detail"].replace("0" * 32, everyone)
    assert client.delete(f"/api/v1/fits/{everyone}", headers=br01).status_code == 404
    br02 = factory.key("researcher", branches=["BR02"])
    br0102 = factory.key("researcher", branches=["BR01", "BR02"])
    scoped_admin = factory.key("admin", branches=["BR02"])
    expected = {
        # (key, fit): status
        (0, "scoped"): 200,
        (0, "narrowed"): 200,  # fitted on BR01's rows only: inside the scope
        (1, "scoped"): 404,
        (2, "scoped"): 200,  # BR01 lies inside BR01+BR02
        (2, "everyone"): 404,
        (3, "scoped"): 404,
        (4, "scoped"): 200,  # unscoped keys read every fit
        (5, "everyone"): 200,
    }
    keys = [br01, br02, br0102, scoped_admin, researcher_headers, admin_headers]
    fits = {"scoped": scoped, "narrowed": narrowed, "everyone": everyone}
    got = {(k, f): status(keys[k], fits[f]) for k, f in expected}
    assert got == expected
