"""The PLS-weighted index: one fit per data fingerprint (scores, ipma and trends share it; a new
response refits), ``trends?index=pls`` against an independent computation from the response
rows (tolerance 1e-6, as tests/reporting/test_pls_index_api.py), and the bootstrap intervals
``ci_boot`` (seeded, reproducible, draws reported, disclosure unchanged)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest

from app.reporting import plsboot, plsindex
from app.stats import pls as stats_pls
from tests.reporting import reference as ref
from tests.reporting.test_pls_index_api import hand_weights, people

API = "/api/v1/surveys/telecom"
TOL = 1e-6


@pytest.fixture
def fits(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the PLS fits made for the index (the cache is emptied first)."""
    plsindex.clear_cache()
    plsboot.clear_cache()
    made: list[int] = []

    def counting(*args: Any, **kw: Any) -> Any:
        made.append(1)
        return stats_pls.fit_pls(*args, **kw)

    monkeypatch.setattr(plsindex, "fit_pls", counting)
    return made


def test_one_fit_per_data_state(client, telecom_survey, operator_headers, session, fits):
    first = client.get(f"{API}/scores?index=pls", headers=operator_headers).json()
    assert len(fits) == 1
    again = client.get(f"{API}/scores?index=pls&by=tenure", headers=operator_headers)
    ipma = client.get(f"{API}/ipma", headers=operator_headers)
    trends = client.get(f"{API}/trends?index=pls", headers=operator_headers)
    assert again.status_code == ipma.status_code == trends.status_code == 200
    assert len(fits) == 1  # same data, same model: no refit
    fp = first["pls"]["data_fingerprint"]
    assert again.json()["pls"]["data_fingerprint"] == fp == ipma.json()["data_fingerprint"]
    record = {
        "branch": "BR01",
        "submitted_at": datetime(2026, 1, 5, tzinfo=UTC),
        "answers": {c: 4 for c in hand_weights()["PV"]},
    }
    ref.insert_rows(session, slug="telecom", records=[record])
    after = client.get(f"{API}/scores?index=pls", headers=operator_headers).json()
    assert len(fits) == 2 and after["pls"]["data_fingerprint"] != fp
    assert after["pls"]["nobs"] == 1501
    client.get(f"{API}/ipma", headers=operator_headers)
    assert len(fits) == 2


def test_pls_trends_match_independent_computation(
    client, telecom_survey, operator_headers, session
):
    r = client.get(f"{API}/trends?index=pls", headers=operator_headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["index"] == "pls" and body["by"] == "month"
    weights = hand_weights()
    frame = people(session, telecom_survey.id, weights)
    constructs = list(weights)
    moments, _ = ref.protected(
        frame,
        dim="all",
        k=5,
        key=ref.survey_key(session, telecom_survey.id),
        scores=constructs,
        scales={c: (0.0, 100.0) for c in constructs},
    )
    per_month = moments.groupby(["month", "construct"], as_index=False)[["n", "sy"]]
    expected = per_month.sum()
    got = {g["group"]: g for g in body["groups"]}
    assert len(expected) == len(constructs) * expected["month"].nunique() > 0
    for row in expected.itertuples(index=False):
        cs = got[row.month]["constructs"][row.construct]
        assert cs["n"] == row.n
        assert cs["index"] == pytest.approx(row.sy / row.n * 100, abs=TOL)
    csv = client.get(f"{API}/trends?index=pls&format=csv", headers=operator_headers)
    assert csv.status_code == 200 and "pls-trends-by-month" in csv.headers["content-disposition"]
    equal = client.get(f"{API}/trends", headers=operator_headers).json()
    assert "index" not in equal


def _person(rng: random.Random, branch: str, month: str) -> dict[str, Any]:
    year, m = (int(x) for x in month.split("-"))
    answers = {c: rng.randint(1, 7) for row in hand_weights().values() for c in row}
    return {
        "branch": branch,
        "submitted_at": datetime(year, m, rng.randint(1, 27), 12, tzinfo=UTC),
        "answers": answers,
    }


def test_pls_trends_hide_small_months(factory, survey, session, operator_headers):
    rng = random.Random(3)
    rows = [_person(rng, "BR01", "2026-08") for _ in range(40)]
    rows += [_person(rng, "BR01", "2026-09") for _ in range(30)]
    rows += [_person(rng, "BR01", "2026-10") for _ in range(2)]  # below min_group_size 5
    ref.insert_rows(session, slug="telecom", records=rows)
    body = factory.client.get(f"{API}/trends?index=pls", headers=operator_headers).json()
    months = {g["group"]: g for g in body["groups"]}
    assert months["2026-10"]["suppressed"] and "constructs" not in months["2026-10"]
    assert not months["2026-09"]["suppressed"]
    by_survey = factory.client.get(f"{API}/trends?index=pls&by=survey", headers=operator_headers)
    assert by_survey.status_code == 200, by_survey.text
    [only] = by_survey.json()["groups"]
    assert only["group"] == "telecom" and only["n"] == 72


def test_bootstrap_intervals(client, telecom_survey, operator_headers, fits):
    url = f"{API}/scores?index=pls&bootstrap=100&seed=7"
    r = client.get(url, headers=operator_headers)
    assert r.status_code == 200, r.text
    body = r.json()
    boot = body["pls"]["bootstrap"]
    assert boot["draws"] == 100 and boot["succeeded"] == 100 and boot["seed"] == 7
    assert boot["interval"] == "perc" and boot["level"] == 0.95
    widths = []
    for g in [body["overall"], *body["groups"]]:
        if g["suppressed"]:
            assert "constructs" not in g
            continue
        for c, cs in g["constructs"].items():
            lo, hi = cs["ci_boot"]
            assert cs["ci_boot_draws"] == 100
            assert lo < hi, (g["group"], c)
            # the index sits inside its bootstrap interval (rounding of the cells: 0.5 points)
            assert lo - 0.5 <= cs["index"] <= hi + 0.5, (g["group"], c, cs)
            widths.append((hi - lo) / (cs["ci"][1] - cs["ci"][0]))
    # the bootstrap interval adds the weights' error to the t-interval's: about as wide
    assert 0.7 < sorted(widths)[len(widths) // 2] < 1.5
    assert len(fits) == 1  # the draws refit the model, not the cached index
    plsboot.clear_cache()
    again = client.get(url, headers=operator_headers).json()
    assert again == body  # seeded: the same draws give the same intervals
    other = client.get(f"{API}/scores?index=pls&bootstrap=100&seed=8", headers=operator_headers)
    assert (
        other.json()["overall"]["constructs"]["PV"]["ci_boot"]
        != (body["overall"]["constructs"]["PV"]["ci_boot"])
    )


def test_bootstrap_defaults_and_bad_values(client, telecom_survey, operator_headers, monkeypatch):
    monkeypatch.setattr(plsboot, "DEFAULT_DRAWS", 100)
    monkeypatch.setattr("app.reporting.api.DEFAULT_DRAWS", 100)
    r = client.get(f"{API}/scores?index=pls&ci=true&by=customer_type", headers=operator_headers)
    assert r.status_code == 200, r.text
    assert r.json()["pls"]["bootstrap"]["draws"] == 100
    for query, name in [
        ("index=pls&bootstrap=5", "bootstrap"),
        ("index=pls&bootstrap=99999", "bootstrap"),
        ("ci=true", "ci"),
        ("bootstrap=200", "bootstrap"),
        ("index=pls&ci=true&seed=-1", "seed"),
    ]:
        bad = client.get(f"{API}/scores?{query}", headers=operator_headers)
        assert bad.status_code == 422, query
        assert name in bad.text, (query, bad.text)


def test_bootstrap_draws_keep_every_cell_size():
    """The stratified resample keeps each stratum's size, so the disclosure control sees the
    very same counts in every draw."""
    import numpy as np

    strata = np.array([0, 0, 1, 2, 2, 2, 1, 0])
    rng = np.random.default_rng(1)
    for _ in range(20):
        rows = stats_pls.stratified_rows(strata, rng)
        assert sorted(strata[rows]) == sorted(strata)
        assert len(rows) == len(strata)


def test_draw_cells_of_the_data_itself_are_its_cells(client, telecom_survey, session):
    """A 'draw' that takes every respondent once gives back the published raw cells."""
    import numpy as np

    weighted = plsindex.pls_index(session, survey=telecom_survey)
    layout = plsboot._layout(weighted)
    scores = stats_pls.respondent_index(weighted.items, weighted.weights, weighted.scale)
    cells = plsboot._draw_cells(layout, scores, np.arange(len(scores)))
    raw = weighted.raw.reset_index(drop=True)
    assert list(cells["n"]) == list(raw["n"])
    assert np.allclose(cells["sum"], raw["sum"], atol=1e-8)
    assert np.allclose(cells["sumsq"], raw["sumsq"], atol=1e-6)
