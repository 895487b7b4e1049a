"""Disclosure control across requests (issue 11 item 1): the reproductions F1-F4 replayed, and a
randomized differencing attacker over many HTTP queries.

The attacker: every published (n, mean) of a construct is the sum over a set of respondents;
the test knows each set (it replays the documented rules of app/security/README.md on its own
copy of the data, and checks that the set's size equals the published ``n``). It forms every
difference ``A - B`` and ``A - B - C`` of published figures whose sets nest, and asserts that
no such combination covering 1..k-1 respondents gives their exact mean (within 1e-6). The same
attacker on the exact numbers that per-table suppression published before finds respondents,
so the check can fail.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from app.instruments.registry import get_instrument
from tests.reporting import reference as ref

SPEC = get_instrument("telecom-pv", version=1)
CONSTRUCTS = SPEC.construct_items
K = 5
LATTICE = 60
API = "/api/v1/surveys/telecom"


def at(month: str, day: int = 10) -> datetime:
    year, m = (int(x) for x in month.split("-"))
    return datetime(year, m, day, 12, tzinfo=UTC)


def person(
    rng: random.Random, branch: str, month: str, *, value: int | None = None, **attrs: Any
) -> dict[str, Any]:
    answers = {c: (value if value is not None else rng.randint(1, 6)) for c in SPEC.item_codes}
    return {"branch": branch, "submitted_at": at(month, rng.randint(1, 27)), "answers": answers,
            **attrs}  # fmt: skip


def get(client: Any, url: str, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    r = client.get(url, params=params, headers=headers)
    assert r.status_code == 200, (url, params, r.text[:300])
    return r.json()


def group(table: dict[str, Any], name: str) -> dict[str, Any]:
    return next(g for g in table["groups"] if g["group"] == name)


# ---- F1-F4 ---------------------------------------------------------------------------------
def test_f1_month_ranges_do_not_isolate_a_one_response_month(
    factory, survey, session, operator_headers
):
    rng = random.Random(1)
    people = [person(rng, "BR01", "2026-09") for _ in range(12)]
    people += [person(rng, "BR01", "2026-10") for _ in range(10)]
    people.append(person(rng, "BR01", "2026-11", value=7))  # the one November respondent
    ref.insert_rows(session, slug="telecom", records=people)
    everything = get(factory.client, f"{API}/scores", operator_headers, branch="BR01")
    to_oct = get(
        factory.client, f"{API}/scores", operator_headers, branch="BR01", month_to="2026-10"
    )
    a, b = group(everything, "BR01"), group(to_oct, "BR01")
    assert a["n"] == 23 and b["n"] == 22  # counts are exact (existence is not protected)
    for c in CONSTRUCTS:
        # the November cell (1 respondent) is in neither table: nothing to subtract
        assert a["constructs"][c] == b["constructs"][c]
        derived = a["n"] * a["constructs"][c]["mean"] - b["n"] * b["constructs"][c]["mean"]
        assert abs(derived - 7.0) > 1e-6


def test_f2_branch_filters_do_not_recover_a_small_attribute_cell(
    factory, survey, session, operator_headers
):
    rng = random.Random(2)
    people = [person(rng, "BR02", "2026-10", customer_type="key_account") for _ in range(2)]
    people += [person(rng, "BR02", "2026-10", customer_type="consumer") for _ in range(20)]
    people += [person(rng, "BR02", "2026-10", customer_type="business") for _ in range(6)]
    people += [
        person(rng, "BR04", "2026-10", customer_type=t)
        for t in ["key_account"] * 7 + ["consumer"] * 15 + ["business"] * 8
    ]
    ref.insert_rows(session, slug="telecom", records=people)
    tables = {
        b: get(factory.client, f"{API}/scores", operator_headers, by="customer_type", branch=b)
        for b in ("BR04", "BR02,BR04", "BR02")
    }
    both, br04 = tables["BR02,BR04"], tables["BR04"]
    # BR02's two key accounts are pooled into BR02's "other" (with its business customers)
    assert group(tables["BR02"], "other")["n"] == 8
    assert "key_account" not in {g["group"] for g in tables["BR02"]["groups"]}
    for g in both["groups"]:
        other = next((x for x in br04["groups"] if x["group"] == g["group"]), None)
        for c, v in g.get("constructs", {}).items():
            d = v["n"] - (other["constructs"][c]["n"] if other and "constructs" in other else 0)
            assert d == 0 or d >= K, (g["group"], c, d)
    for c in CONSTRUCTS:
        x, y = (
            group(both, "key_account")["constructs"][c],
            group(br04, "key_account")["constructs"][c],
        )
        assert (x["n"], x["mean"]) == (y["n"], y["mean"])


def test_f3_all_months_and_one_month_tables_hide_a_small_branch_the_same_way(
    factory, survey, session, operator_headers
):
    rng = random.Random(3)
    people = [person(rng, b, m) for b in ("BR01", "BR02", "BR03") for m in ("2026-09", "2026-10")
              for _ in range(8)]  # fmt: skip
    people += [person(rng, "BR05", "2026-09", value=7) for _ in range(3)]  # hidden branch
    ref.insert_rows(session, slug="telecom", records=people)
    for params in ({}, {"month_from": "2026-09", "month_to": "2026-09"},
                   {"month_from": "2026-10", "month_to": "2026-10"}):  # fmt: skip
        table = get(factory.client, f"{API}/scores", operator_headers, **params)
        shown = [g for g in table["groups"] if not g["suppressed"]]
        for c in CONSTRUCTS:
            total = table["overall"]["constructs"][c]
            # overall minus the shown branches: no respondent left over
            assert total["n"] == sum(g["constructs"][c]["n"] for g in shown)
            rest = total["n"] * total["mean"] - sum(
                g["constructs"][c]["n"] * g["constructs"][c]["mean"] for g in shown
            )
            assert abs(rest) < 1e-6
        hidden = [g for g in table["groups"] if g["group"] == "BR05"]
        assert all(g["suppressed"] and g["n_published"] == 0 for g in hidden)


def test_f4_a_construct_answered_by_one_person_is_not_shown(
    factory, survey, session, operator_headers
):
    rng = random.Random(4)
    nq = [c for c in SPEC.item_codes if c.startswith("NQ")]
    people = []
    for i in range(12):
        p = person(rng, "BR01", "2026-10")
        if i:  # only the first respondent answers the network items
            p["answers"].update(dict.fromkeys(nq))
        people.append(p)
    people += [person(rng, "BR02", "2026-10") for _ in range(9)]
    ref.insert_rows(session, slug="telecom", records=people)
    for by in ("branch", "month", "customer_type", "tenure"):
        table = get(factory.client, f"{API}/scores", operator_headers, by=by)
        for g in (table["overall"], *table["groups"]):
            for c, v in g.get("constructs", {}).items():
                assert v["n"] >= K, (by, g["group"], c, v["n"])
        br01 = [g for g in table["groups"] if g["group"] == "BR01"]
        assert all("NQ" not in g["constructs"] for g in br01)
        # overall NQ stands on BR02's 9 only: overall minus BR02 gives nobody
        assert table["overall"]["constructs"]["NQ"]["n"] == 9


# ---- the randomized attacker -------------------------------------------------------------
BRANCH_SIZES = {"BR01": 70, "BR02": 45, "BR03": 26, "BR04": 13, "BR05": 7, "BR06": 11}
MONTHS = ["2026-07", "2026-08", "2026-09", "2026-10"]
TYPES = ["consumer"] * 14 + ["business"] * 4 + ["key_account"] * 2 + [None]
TENURES = ["long_term"] * 6 + ["short_term"] * 4 + ["first_time"] * 2 + ["lapsed"] + [None]


def population(seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    nq = [c for c in SPEC.item_codes if c.startswith("NQ")]
    people = []
    for b, size in BRANCH_SIZES.items():
        for _ in range(size if b != "BR06" else 0):
            month = rng.choices(MONTHS, weights=[5, 3, 2, 1])[0]
            p = person(rng, b, month, customer_type=rng.choice(TYPES), tenure=rng.choice(TENURES))
            p["answers"] = {c: rng.randint(1, 7) for c in SPEC.item_codes}
            for c in nq:
                if rng.random() < 0.6:
                    p["answers"][c] = None
            people.append(p)
    # BR06: eleven respondents whose customer-type and tenure cells (all >= K) nest: consumer
    # (6) minus long_term (5) is the sixth respondent alone; only the rounding protects them
    for i in range(11):
        p = person(rng, "BR06", "2026-10", customer_type="consumer" if i < 6 else "business",
                   tenure="long_term" if i < 5 else "short_term")  # fmt: skip
        p["answers"] = {c: rng.randint(1, 7) for c in SPEC.item_codes}
        people.append(p)
    return people


def queries(seed: int, n: int) -> list[tuple[str, dict[str, str]]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        params: dict[str, str] = {}
        if rng.random() < 0.7:
            params["branch"] = ",".join(sorted(rng.sample(list(BRANCH_SIZES), rng.randint(1, 4))))
        kind = rng.random()
        if kind < 0.15:
            out.append(("trends", params))
            continue
        by = rng.choice(["branch", "month", "customer_type", "tenure"])
        params["by"] = by
        if rng.random() < 0.6:
            i, j = sorted(rng.sample(range(len(MONTHS)), 2)) if rng.random() < 0.7 else (0, 0)
            params["month_from"], params["month_to"] = MONTHS[i], MONTHS[j]
        if by in ("branch", "month", "customer_type") and rng.random() < 0.3:
            params["attr.customer_type"] = ",".join(
                rng.sample(["consumer", "business", "key_account"], rng.randint(1, 2))
            )
        out.append(("scores", params))
    return out


Cell = tuple[str, str, str]  # (branch, month, group)


def values_of(people: list[dict[str, Any]]) -> dict[str, list[float | None]]:
    """Each respondent's exact construct score (None: no answered item)."""
    out: dict[str, list[float | None]] = {}
    for c, items in CONSTRUCTS.items():
        out[c] = []
        for p in people:
            vals = [v for i in items if (v := p["answers"][i]) is not None]
            out[c].append(float(np.mean(vals)) if vals else None)
    return out


def protected_members(
    people: list[dict[str, Any]], dim: str, values: dict[str, list[float | None]]
) -> dict[Cell, dict[str, int]]:
    """Per published cell of ``dim``: construct -> bitmask of the respondents it stands on
    (the README's rules: (branch, month) below K left out, pooling, construct below K removed)."""
    by_bm: dict[tuple[str, str], list[int]] = {}
    for i, p in enumerate(people):
        by_bm.setdefault((p["branch"], f"{p['submitted_at']:%Y-%m}"), []).append(i)
    out: dict[Cell, dict[str, int]] = {}
    for (b, m), members in by_bm.items():
        if len(members) < K:
            continue
        raw = {i: ("" if dim == "all" else (people[i].get(dim) or "")) for i in members}
        counts: dict[str, int] = {}
        for v in raw.values():
            counts[v] = counts.get(v, 0) + 1
        groups = ref.pool(counts, K) if dim != "all" else {"": ""}
        for i, v in raw.items():
            label = groups[v] or "unspecified"
            cell = out.setdefault((b, m, "" if dim == "all" else label), {})
            for c in CONSTRUCTS:
                if values[c][i] is not None:
                    cell[c] = cell.get(c, 0) | (1 << i)
    for cell in out.values():
        for c in [c for c, mask in cell.items() if mask.bit_count() < K]:
            del cell[c]
    return out


def figure_sets(
    kind: str, params: dict[str, str], cells: dict[str, dict[Cell, dict[str, int]]]
) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """The respondent sets (per group and construct, and of the overall row) of one query."""
    by = "month" if kind == "trends" else params["by"]
    flt = params.get("attr.customer_type")
    dim = by if by in ("customer_type", "tenure") else ("customer_type" if flt else "all")
    chosen = params.get("branch", "").split(",") if params.get("branch") else list(BRANCH_SIZES)
    lo, hi = params.get("month_from", "0000-00"), params.get("month_to", "9999-99")

    def pick(branches: list[str]) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for (b, m, g), per in cells[dim].items():
            if b not in branches or not lo <= m <= hi:
                continue
            if flt is not None and g not in flt.split(","):
                continue
            key = {"branch": b, "month": m}.get(by, g)
            for c, mask in per.items():
                row = out.setdefault(key, {})
                row[c] = row.get(c, 0) | mask
        return out

    everything = pick(list(BRANCH_SIZES))
    overall: dict[str, int] = {}
    # scores: the overall row is the whole survey's (same dimension and filters); trends: the
    # chosen branches'
    base = pick(chosen) if kind == "trends" else everything
    for per in base.values():
        for c, mask in per.items():
            overall[c] = overall.get(c, 0) | mask
    groups = everything if by == "branch" and kind == "scores" else pick(chosen)
    return groups, overall


def figures(
    tables: list[dict[str, Any]], sets: list[tuple[dict[str, dict[str, int]], dict[str, int]]]
) -> dict[str, set[tuple[int, float]]]:
    """Per construct: every published (respondent set, n * mean); the set's size must be the
    published n."""
    out: dict[str, set[tuple[int, float]]] = {c: set() for c in CONSTRUCTS}
    for t, (groups, overall) in zip(tables, sets, strict=True):
        rows = [(t["overall"], overall)] + [(g, groups.get(g["group"], {})) for g in t["groups"]]
        for g, members in rows:
            for c, v in (g.get("constructs") or {}).items():
                if c not in out or v["mean"] is None:
                    continue
                mask = members[c]
                assert mask.bit_count() == v["n"], (g["group"], c)  # the test's model is right
                out[c].add((mask, v["n"] * v["mean"]))
    return out


def exact_means(
    found: set[tuple[int, float]], values: list[float | None]
) -> list[tuple[int, float, float]]:
    """Differences A - B and A - B - C of nested published sets that cover 1..K-1 respondents
    and give their exact mean: (size, derived mean, true mean)."""
    figs = sorted(found, key=lambda f: f[0].bit_count())
    leaks = []

    def check(mask: int, total: float) -> None:
        d = mask.bit_count()
        if 1 <= d < K:
            true = sum(v for i, v in enumerate(values) if mask >> i & 1 and v is not None) / d
            if abs(total / d - true) < 1e-6:
                leaks.append((d, total / d, true))

    for a, sa in figs:
        inside = [(b, sb) for b, sb in figs if b != a and b & ~a == 0]
        for b, sb in inside:
            rest = a & ~b
            check(rest, sa - sb)
            if rest.bit_count() < K:
                continue
            for c, sc in inside:  # C inside what B leaves of A
                if c & ~rest == 0 and c != rest:
                    check(rest & ~c, sa - sb - sc)
    return leaks


def naive_figures(
    people: list[dict[str, Any]],
    qs: list[tuple[str, dict[str, str]]],
    values: dict[str, list[float | None]],
) -> dict[str, set[tuple[int, float]]]:
    """What per-table suppression published: exact means of every group with n >= K, and of
    the table's total (an overall row), over the query's respondents."""
    out: dict[str, set[tuple[int, float]]] = {c: set() for c in CONSTRUCTS}

    def month(p: dict[str, Any]) -> str:
        return f"{p['submitted_at']:%Y-%m}"

    for kind, params in qs:
        chosen = params["branch"].split(",") if params.get("branch") else list(BRANCH_SIZES)
        lo, hi = params.get("month_from", "0000-00"), params.get("month_to", "9999-99")
        flt = params.get("attr.customer_type")
        rows = [
            i
            for i, p in enumerate(people)
            if p["branch"] in chosen
            and lo <= month(p) <= hi
            and (flt is None or (p.get("customer_type") or "") in flt.split(","))
        ]
        by = "month" if kind == "trends" else params["by"]
        groups: dict[str, list[int]] = {"*": rows}
        for i in rows:
            p = people[i]
            key = {"branch": p["branch"], "month": month(p)}.get(by, p.get(by) or "")
            groups.setdefault(key, []).append(i)
        for members in groups.values():
            if len(members) < K:
                continue
            for c in CONSTRUCTS:
                answered = [i for i in members if values[c][i] is not None]
                if answered:
                    mask = sum(1 << i for i in answered)
                    out[c].add((mask, float(sum(values[c][i] for i in answered))))  # type: ignore[misc]
    return out


def isolated(found: set[tuple[int, float]], values: list[float | None]) -> tuple[int, int]:
    """Any linear combination: respondents whose indicator lies in the span of the published
    sets (solved by least squares), and how many of them the combination gives exactly."""
    figs = sorted(found, key=lambda f: (f[0].bit_count(), f[0]))
    m = np.array([[f[0] >> i & 1 for i in range(len(values))] for f in figs], dtype=float)
    sums = np.array([f[1] for f in figs])
    who = [i for i, v in enumerate(values) if v is not None]
    x, *_ = np.linalg.lstsq(m.T, np.eye(len(values))[:, who], rcond=None)
    residual = np.abs(m.T @ x - np.eye(len(values))[:, who]).max(axis=0)
    inside = residual < 1e-9
    derived = x.T @ sums
    exact = [
        i
        for i, ok, d in zip(who, inside, derived, strict=True)
        if ok and abs(d - values[i]) < 1e-6  # type: ignore[operator]
    ]
    return int(inside.sum()), len(exact)


@pytest.mark.parametrize("seed", [11, 12])
def test_randomized_differencing_attacker(factory, survey, session, operator_headers, seed):
    people = population(seed)
    ref.insert_rows(session, slug="telecom", records=people)
    values = values_of(people)
    cells = {d: protected_members(people, d, values) for d in ("all", "customer_type", "tenure")}
    qs = queries(seed, 70) + [
        ("scores", {"by": by, "branch": "BR06"}) for by in ("customer_type", "tenure")
    ]
    tables = [
        get(factory.client, f"{API}/{kind}", operator_headers, **params) for kind, params in qs
    ]
    published = figures(tables, [figure_sets(kind, params, cells) for kind, params in qs])
    assert sum(len(v) for v in published.values()) > 200  # the attacker had material
    leaks = {c: exact_means(found, values[c]) for c, found in published.items()}
    assert not any(leaks.values()), {c: v[:3] for c, v in leaks.items() if v}
    # any linear combination: respondents that the published sets isolate (across dimensions)
    # get no exact value, the rounding sees to that
    spans = {c: isolated(found, values[c]) for c, found in published.items()}
    assert all(exact == 0 for _, exact in spans.values()), spans
    assert all(inside > 0 for inside, _ in spans.values()), spans  # BR06's sixth respondent
    # the same attacker against what per-table suppression published finds respondents
    baseline = naive_figures(people, qs, values)
    assert any(exact_means(found, values[c]) for c, found in baseline.items())
    assert any(isolated(found, values[c])[1] for c, found in baseline.items())


# ---- the PLS-weighted index (scores?index=pls, its bootstrap intervals, trends?index=pls) -----
def test_f1_pls_index_and_its_bootstrap_do_not_isolate_a_one_response_month(
    factory, survey, session, operator_headers
):
    """F1 again on the PLS-weighted index: the weights (and each bootstrap draw's) come from
    every response, the tables only from published cells, so the two month ranges publish the
    same index, interval and bootstrap interval, and their difference is not the respondent."""
    rng = random.Random(5)
    people = [person(rng, "BR01", "2026-09") for _ in range(12)]
    people += [person(rng, "BR01", "2026-10") for _ in range(10)]
    people += [person(rng, "BR02", "2026-10") for _ in range(8)]
    people.append(person(rng, "BR01", "2026-11", value=7))
    ref.insert_rows(session, slug="telecom", records=people)
    q = {"index": "pls", "bootstrap": 100, "branch": "BR01"}
    everything = get(factory.client, f"{API}/scores", operator_headers, **q)
    to_oct = get(factory.client, f"{API}/scores", operator_headers, month_to="2026-10", **q)
    a, b = group(everything, "BR01"), group(to_oct, "BR01")
    assert a["n"] == 23 and b["n"] == 22
    for c in a["constructs"]:
        assert a["constructs"][c] == b["constructs"][c]
        assert a["constructs"][c]["ci_boot"] is not None
    trend = get(factory.client, f"{API}/trends", operator_headers, index="pls", branch="BR01")
    months = {g["group"]: g for g in trend["groups"]}
    assert months["2026-11"]["suppressed"] and "constructs" not in months["2026-11"]
    assert months["2026-11"]["n"] == 1  # counts are exact (existence is not protected)


def test_pls_bootstrap_shows_nothing_for_a_small_branch(factory, survey, session, operator_headers):
    rng = random.Random(6)
    people = [person(rng, "BR01", "2026-10") for _ in range(30)]
    people += [person(rng, "BR02", "2026-10") for _ in range(3)]
    ref.insert_rows(session, slug="telecom", records=people)
    table = get(factory.client, f"{API}/scores", operator_headers, index="pls", bootstrap=100)
    small = group(table, "BR02")
    assert small["suppressed"] and "constructs" not in small and small["n"] == 3
    assert all(cs["ci_boot"] for cs in group(table, "BR01")["constructs"].values())
