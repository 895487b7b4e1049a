"""Drivers API: importances equal lavaan's standardized paths of the default model on
telecom_1500.csv (tests/data/telecom_sem_fiml.json; tolerance 2e-3 absolute, the accuracy the
SEM engine is held to against lavaan), performance equals the scores endpoint's index
(1e-9 absolute), quadrants follow the stated rule exactly."""

from __future__ import annotations

import json

import pytest

from tests.conftest import DATA_DIR

DRIVERS = ["TAN", "REL", "RES", "ASS", "EMP", "NQ"]


@pytest.fixture(scope="module")
def lavaan_paths() -> dict[tuple[str, str], float]:
    est = json.loads((DATA_DIR / "telecom_sem_fiml.json").read_text())["estimates"]
    return {(r["lhs"], r["rhs"]): r["std.all"] for r in est if r["op"] == "~"}


def test_drivers_pv_sat_loy(client, telecom_survey, operator_headers, lavaan_paths):
    scores = client.get("/api/v1/surveys/telecom/scores", headers=operator_headers).json()
    br = {g["group"]: g for g in scores["groups"]}
    r = client.get(
        "/api/v1/surveys/telecom/drivers?outcome=PV&branch=BR01", headers=operator_headers
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["outcome"] == "PV" and "FIML" in body["method"] and "BR01" in body["method"]
    got = {d["construct"]: d for d in body["drivers"]}
    assert sorted(got) == sorted(DRIVERS)
    for d in DRIVERS:
        assert got[d]["importance"] == pytest.approx(lavaan_paths[("PV", d)], abs=2e-3)
        assert got[d]["performance"] == pytest.approx(
            br["BR01"]["constructs"][d]["index"], abs=1e-9
        )
    imp_split = sum(g["importance"] for g in got.values()) / 6
    perf_split = sum(g["performance"] for g in got.values()) / 6
    assert body["importance_split"] == pytest.approx(imp_split, abs=1e-12)
    for g in got.values():
        hi_i, hi_p = g["importance"] >= imp_split, g["performance"] >= perf_split
        want = {
            (True, True): "keep_up",
            (True, False): "concentrate",
            (False, False): "low_priority",
            (False, True): "possible_overkill",
        }[(hi_i, hi_p)]
        assert g["quadrant"] == want
    assert body["concentrate_on"] == [
        d["construct"] for d in body["drivers"] if d["quadrant"] == "concentrate"
    ]

    sat = client.get("/api/v1/surveys/telecom/drivers?outcome=SAT", headers=operator_headers).json()
    s = {d["construct"]: d["importance"] for d in sat["drivers"]}
    for d in DRIVERS:
        assert s[d] == pytest.approx(
            lavaan_paths[("PV", d)] * lavaan_paths[("SAT", "PV")], abs=2e-3
        )
    assert "total effect" in sat["method"]
    assert {b["branch"] for b in sat["branches"]} == set(br)
    loy = client.get("/api/v1/surveys/telecom/drivers?outcome=LOY", headers=operator_headers)
    assert loy.status_code == 200
    assert (
        client.get(
            "/api/v1/surveys/telecom/drivers?outcome=XX", headers=operator_headers
        ).status_code
        == 422
    )


def test_drivers_scope_and_suppression(client, telecom_survey, operator_br01_headers, session):
    r = client.get("/api/v1/surveys/telecom/drivers?branch=BR02", headers=operator_br01_headers)
    assert r.status_code == 403
    mine = client.get("/api/v1/surveys/telecom/drivers", headers=operator_br01_headers).json()
    assert [b["branch"] for b in mine["branches"]] == ["BR01"]
    telecom_survey.min_group_size = 1000
    session.merge(telecom_survey)
    session.commit()
    body = client.get(
        "/api/v1/surveys/telecom/drivers?branch=BR01", headers=operator_br01_headers
    ).json()
    assert body["suppressed"] is True and body["n"] == 197
    assert all(d["performance"] is None and d["quadrant"] is None for d in body["drivers"])
    assert "suppressed" in body["method"]
