"""Reporting for any instrument (issue 10 items 2 and 5, reporting side): ``by`` any declared
attribute, attribute filters, each construct's own scale, NPS of nps items, gap scores and the
instrument's default outcome, on a questionnaire unlike telecom-pv (tests/reporting/data/
gapshop.yaml). Expected numbers from the independent computation of the protected values in
tests/reporting/reference.py (1e-6 absolute)."""

from __future__ import annotations

import random
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.reporting import reference as ref

HERE = Path(__file__).resolve().parent
REPO_INSTRUMENTS = HERE.parents[1] / "instruments"
SCALES = {"PER": (1.0, 5.0), "EXP": (1.0, 5.0), "SAT": (1.0, 10.0), "REC": (-100.0, 100.0)}
SCORES = {"PER": ["PER1", "PER2"], "EXP": ["EXP1", "EXP2"], "SAT": ["S1", "S2"], "REC": ["REC"]}
API = "/api/v1/surveys/gaps"
TOL = 1e-6


@pytest.fixture
def instruments_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "instruments"
    shutil.copytree(REPO_INSTRUMENTS, folder)
    shutil.copy(HERE / "data" / "gapshop.yaml", folder / "gapshop.yaml")
    monkeypatch.setenv("PVM_INSTRUMENTS_DIR", str(folder))
    return folder


@pytest.fixture
def gaps(instruments_dir: Path, factory: Any, session: Any) -> Any:
    factory.branches(["BR01", "BR02", "BR03"])  # BR03: no responses
    survey = factory.survey("gaps", instrument="gapshop", min_group_size=5)
    rng = random.Random(7)
    plan = [("BR01", "north")] * 15 + [("BR01", "south")] * 12 + [("BR01", "east")] * 3
    plan += [("BR02", "north")] * 10 + [("BR02", "south")] * 8 + [("BR02", None)] * 2
    records = []
    for i, (branch, region) in enumerate(plan):
        per, exp = rng.gauss(0, 1), rng.gauss(0, 1)  # correlated items: the model fits
        sat = 0.7 * per + 0.3 * exp + rng.gauss(0, 0.6)

        def item(t: float, mid: float, lo: int, hi: int) -> int:
            return max(lo, min(hi, round(mid + t + rng.gauss(0, 0.5))))

        answers = {
            "PER1": item(per, 3, 1, 5),
            "PER2": item(per, 3, 1, 5),
            "EXP1": item(exp, 3.5, 1, 5),
            "EXP2": item(exp, 3.5, 1, 5),
            "S1": item(2 * sat, 6, 1, 10),
            "S2": item(2 * sat, 6, 1, 10),
            "REC": item(2 * sat, 7, 0, 10),
        }
        records.append(
            {
                "branch": branch,
                "submitted_at": datetime(2026, 10, 1 + i % 27, tzinfo=UTC),
                "answers": answers,
                "region": region,
                "segment": "gold" if i % 2 else "silver",
            }
        )
    ref.insert_rows(session, slug="gaps", records=records)
    return survey


def expected(session: Any, survey: Any, dim: str) -> dict[str, Any]:
    people = ref.people_frame(session, survey.id, SCORES)
    people["REC"] = people["REC"].map(lambda v: 100.0 if v >= 9 else (0.0 if v >= 7 else -100.0))
    moments, _ = ref.protected(
        people,
        dim=dim,
        k=5,
        key=ref.survey_key(session, survey.id),
        scores=list(SCORES),
        scales=SCALES,
    )
    moments["group"] = moments["group"].replace({"": "unspecified"})
    return ref.table(moments, "group", list(SCORES))


def test_scores_by_any_attribute_with_own_scales_nps_and_gaps(
    client, gaps, operator_headers, session
):
    r = client.get(f"{API}/scores", params={"by": "region"}, headers=operator_headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["constructs"] == ["PER", "EXP", "SAT"] and body["nps_items"] == ["REC"]
    got = {g["group"]: g for g in body["groups"]}
    # BR01: east (3) pooled with south (12); BR02: no region (2) pooled with south (8)
    assert got["north"]["n"] == 25 and got["other"]["n"] == 25
    assert set(got) == {"north", "other"}
    exp = expected(session, gaps, "region")
    for g, per in exp.items():
        shown = got[g]
        for c in ("PER", "EXP", "SAT"):
            assert shown["constructs"][c]["index"] == pytest.approx(per[c]["index"], abs=TOL)
            assert shown["constructs"][c]["ci"] == pytest.approx(per[c]["ci"], abs=TOL)
        # the NPS is the mean -100/0/100 score: -100 + 200 * mean of y
        nps = shown["nps"]["REC"]
        assert nps["n"] == per["REC"]["n"]
        assert nps["nps"] == pytest.approx(-100 + 2 * per["REC"]["index"], abs=TOL)
        assert nps["ci"] == pytest.approx([-100 + 2 * x for x in per["REC"]["ci"]], abs=TOL)
        gap = per["PER"]["index"] - per["EXP"]["index"]
        assert shown["gaps"]["GAP"]["gap"] == pytest.approx(gap, abs=TOL)
    csv = client.get(
        f"{API}/scores", params={"by": "region", "format": "csv"}, headers=operator_headers
    ).text
    north = got["north"]
    assert f"north,25,false,REC,{north['nps']['REC']['n']},{north['nps']['REC']['nps']!r}" in csv
    assert f"north,25,false,GAP,,{north['gaps']['GAP']['gap']!r}" in csv
    # a free-code attribute works the same way
    seg = client.get(f"{API}/scores", params={"by": "segment"}, headers=operator_headers).json()
    assert {g["group"] for g in seg["groups"]} == {"gold", "silver"}


def test_attribute_filters(client, gaps, operator_headers, session):
    r = client.get(f"{API}/scores", params={"attr.region": "north"}, headers=operator_headers)
    assert r.status_code == 200, r.text
    rows = {g["group"]: g for g in r.json()["groups"]}
    assert rows["BR01"]["n"] == 15 and rows["BR02"]["n"] == 10
    by_region = client.get(
        f"{API}/scores", params={"by": "region", "attr.region": "north"}, headers=operator_headers
    ).json()
    assert [g["group"] for g in by_region["groups"]] == ["north"]
    trend = client.get(f"{API}/trends", params={"attr.region": "north"}, headers=operator_headers)
    assert trend.status_code == 200 and trend.json()["groups"][0]["n"] == 25
    drivers = client.get(
        f"{API}/drivers", params={"attr.region": "north"}, headers=operator_headers
    )
    assert drivers.status_code == 200, drivers.text
    # the dashboard's downloads take the same filters
    for url in ("scores.csv", "scores.svg", "trends.svg", "ipa.svg"):
        ok = client.get(f"/dashboard/gaps/{url}?attr.region=north", headers=operator_headers)
        assert ok.status_code == 200, (url, ok.text[:300])
        bad = client.get(f"/dashboard/gaps/{url}?attr.region=west", headers=operator_headers)
        assert bad.status_code == 422, (url, bad.status_code)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"by": "customer_type"}, "by"),
        ({"by": "nope"}, "by"),
        ({"attr.nope": "x"}, "attr.nope"),
        ({"attr.region": "west"}, "attr.region"),
        ({"by": "segment", "attr.region": "north"}, "attr.region"),
        ({"attr.region": "north", "attr.segment": "gold"}, "filter"),
    ],
)
def test_bad_grouping_or_filter_is_a_422_naming_the_field(
    client, gaps, operator_headers, params, field
):
    r = client.get(f"{API}/scores", params=params, headers=operator_headers)
    assert r.status_code == 422, r.text
    assert field in r.text


def test_drivers_default_to_the_instruments_outcome(client, gaps, operator_headers):
    r = client.get(f"{API}/drivers", headers=operator_headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["outcome"] == "SAT"
    assert {d["construct"] for d in body["drivers"]} == {"PER", "EXP"}
    assert "PV" not in body["method"]
    empty = client.get(f"{API}/drivers", params={"branch": "BR03"}, headers=operator_headers)
    assert empty.status_code == 200, empty.text
    assert empty.json()["suppressed"] is True and empty.json()["n"] == 0
    assert all(d["performance"] is None for d in empty.json()["drivers"])
    bad = client.get(f"{API}/drivers", params={"outcome": "PV"}, headers=operator_headers)
    assert bad.status_code == 422 and "outcome" in bad.text
    page = client.get("/dashboard/gaps", params={"by": "region"}, headers=operator_headers)
    assert page.status_code == 200, page.text[:500]
    assert "7-point" not in page.text and 'value="region"' in page.text
