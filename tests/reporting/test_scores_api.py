"""Scores API on both backends: every index, CI, p and suppression against an independent
computation from telecom_1500.csv (pandas + scipy.stats.ttest_ind(equal_var=False) + Holm written
out). Tolerance 1e-6 absolute on indices/CIs, 1e-6 relative on p-values (aggregates are summed
in another order than the direct computation)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from app.instruments.registry import get_instrument
from tests.conftest import TELECOM_CSV

CONSTRUCTS = get_instrument("telecom-pv").construct_items
TOL = 1e-6


def holm(p: list[float]) -> list[float]:
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    out, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    df = pd.read_csv(TELECOM_CSV)
    for c, items in CONSTRUCTS.items():
        df["_" + c] = df[items].mean(axis=1, skipna=True)  # NaN when all items are N/A
    return df


def expected(raw: pd.DataFrame, by: str, min_size: int) -> dict:
    counts = raw[by].value_counts()
    hidden = [g for g in counts.index if counts[g] < min_size]
    # complementary suppression: the smallest others join while the hidden pool is exposed
    others = sorted(
        (g for g in counts.index if counts[g] >= min_size), key=lambda g: (counts[g], g)
    )
    while hidden and others and (len(hidden) < 2 or counts[hidden].sum() < min_size):
        hidden.append(others.pop(0))
    shown = sorted(others)
    out: dict = {g: {} for g in shown}
    for c in CONSTRUCTS:
        ps = []
        for g in shown:
            x = raw.loc[raw[by] == g, "_" + c].dropna()
            y = raw.loc[raw[by] != g, "_" + c].dropna()
            lo, hi = sps.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=sps.sem(x))
            t = sps.ttest_ind(x, y, equal_var=False)
            out[g][c] = {
                "index": (x.mean() - 1) / 6 * 100,
                "ci": [(lo - 1) / 6 * 100, (hi - 1) / 6 * 100],
                "diff": (x.mean() - y.mean()) / 6 * 100,
                "p_unadjusted": t.pvalue,
            }
            ps.append(t.pvalue)
        for g, p in zip(shown, holm(ps), strict=True):
            out[g][c]["p"] = p
    return out


@pytest.mark.parametrize("by", ["branch", "customer_type", "tenure"])
def test_scores_match_independent_computation(client, telecom_survey, operator_headers, raw, by):
    r = client.get(f"/api/v1/surveys/telecom/scores?by={by}", headers=operator_headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["scale"] == "0-100"
    exp = expected(raw, by, 5)
    got = {g["group"]: g for g in body["groups"]}
    assert sorted(got) == sorted(exp)
    for g, per in exp.items():
        assert got[g]["suppressed"] is False
        assert got[g]["n"] == int((raw[by] == g).sum())
        for c, e in per.items():
            cs = got[g]["constructs"][c]
            assert cs["index"] == pytest.approx(e["index"], abs=TOL)
            assert cs["ci"] == pytest.approx(e["ci"], abs=TOL)
            assert cs["vs_rest"]["diff"] == pytest.approx(e["diff"], abs=TOL)
            assert cs["vs_rest"]["p"] == pytest.approx(e["p"], rel=TOL, abs=1e-12)
            assert cs["vs_rest"]["p_unadjusted"] == pytest.approx(
                e["p_unadjusted"], rel=TOL, abs=1e-12
            )
    overall = body["overall"]["constructs"]["NQ"]
    assert overall["index"] == pytest.approx((raw["_NQ"].mean() - 1) / 6 * 100, abs=TOL)
    assert overall["n"] == int(raw["_NQ"].notna().sum())


def test_suppression_below_min_group_size(
    client, factory, telecom_survey, operator_headers, raw, session
):
    smallest = raw["branch"].value_counts()
    threshold = int(smallest.min()) + 1
    telecom_survey.min_group_size = threshold
    session.merge(telecom_survey)
    session.commit()
    r = client.get("/api/v1/surveys/telecom/scores?by=branch", headers=operator_headers)
    body = r.json()
    small = [g for g in body["groups"] if g["suppressed"]]
    by_size = smallest.sort_values(kind="mergesort")
    assert small == sorted(
        [
            {
                "group": by_size.index[0],
                "n": int(by_size.iloc[0]),
                "suppressed": True,
                "suppressed_reason": "fewer than min_group_size responses",
            },
            {
                "group": by_size.index[1],
                "n": int(by_size.iloc[1]),
                "suppressed": True,
                "suppressed_reason": "protects a small group",
            },
        ],
        key=lambda g: g["group"],
    )
    exp = expected(raw, "branch", threshold)
    shown = {g["group"]: g for g in body["groups"] if not g["suppressed"]}
    assert sorted(shown) == sorted(exp)
    for g in shown:
        assert shown[g]["constructs"]["REL"]["vs_rest"]["p"] == pytest.approx(
            exp[g]["REL"]["p"], rel=TOL
        )
    csv = client.get(
        "/api/v1/surveys/telecom/scores?by=branch&format=csv", headers=operator_headers
    )
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    table = pd.read_csv(io.StringIO(csv.text), keep_default_na=False, dtype=str)
    for g in by_size.index[:2]:
        rows = table[table["group"] == g]
        assert len(rows) == 1 and rows.iloc[0]["suppressed"] == "true"
        assert rows.iloc[0]["index"] == ""
    reasons = table.set_index("group")["suppressed_reason"]
    assert reasons[by_size.index[0]] == "fewer than min_group_size responses"
    assert reasons[by_size.index[1]] == "protects a small group"


def test_branch_scoped_key_sees_its_branch_and_the_benchmark(
    client, telecom_survey, operator_headers, operator_br01_headers
):
    full = client.get("/api/v1/surveys/telecom/scores", headers=operator_headers).json()
    mine = client.get("/api/v1/surveys/telecom/scores", headers=operator_br01_headers).json()
    assert [g["group"] for g in mine["groups"]] == ["BR01"]
    assert mine["groups"][0] == next(g for g in full["groups"] if g["group"] == "BR01")
    assert mine["overall"] == full["overall"]
    r = client.get("/api/v1/surveys/telecom/scores?branch=BR02", headers=operator_br01_headers)
    assert r.status_code == 403
    by_type = client.get(
        "/api/v1/surveys/telecom/scores?by=customer_type", headers=operator_br01_headers
    ).json()
    assert sum(g["n"] for g in by_type["groups"]) == 197  # BR01's responses only
    assert client.get("/api/v1/surveys/telecom/scores").status_code == 401


def test_submissions_update_the_aggregates_in_the_same_transaction(
    client, factory, survey, operator_headers
):
    for i, v in enumerate([2, 4, 6, 7, 7]):
        answers = factory.answers(v, NQ1=None, NQ2=None, NQ3=None, NQ4=None)
        r = factory.submit("telecom", {"branch": "BR03", "answers": answers}, key=f"k{i}")
        assert r.status_code == 201, r.text
    body = client.get("/api/v1/surveys/telecom/scores", headers=operator_headers).json()
    br03 = body["groups"][0]
    assert br03["group"] == "BR03" and br03["n"] == 5
    x = np.array([2, 4, 6, 7, 7], dtype=float)
    assert br03["constructs"]["REL"]["index"] == pytest.approx((x.mean() - 1) / 6 * 100, abs=TOL)
    assert "NQ" not in br03["constructs"]  # nobody answered a network item
    # replaying an idempotent submission does not count twice
    factory.submit(
        "telecom",
        {"branch": "BR03", "answers": factory.answers(2, NQ1=None, NQ2=None, NQ3=None, NQ4=None)},
        key="k0",
    )
    again = client.get("/api/v1/surveys/telecom/scores", headers=operator_headers).json()
    assert again["groups"][0]["n"] == 5
