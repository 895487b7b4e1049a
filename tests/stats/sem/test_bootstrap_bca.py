"""Bootstrap that says what it did (issue 14 item 6): BCa intervals as lavaan 0.6.14 computes
them (``parameterEstimates(boot.ci.type = "bca")``, and ``"bca.simple"``), the draws requested,
kept and dropped by reason, and the same numbers whatever order the rows are stored in.

Reference: tests/data/bootstrap_bca.json, made by tests/data/bootstrap_bca.R on
Holzinger-Swineford with two defined parameters:
- ``exact``: lavaan's own 400 draws (replicate estimates and the count of each row in each
  replicate). pvm's interval arithmetic (acceleration by regression, bias correction,
  ``norm.inter``) on those draws gives lavaan's bounds: tolerance 1e-9 (measured 2.4e-13; the
  acceleration solves normal equations where lavaan uses a QR decomposition);
- ``mc``: lavaan's BCa with 2,000 draws of its own against pvm's 1,000 draws: Monte-Carlo
  tolerance as tests/stats/sem/test_bootstrap.py (max(0.03, 0.35 x lavaan's bootstrap se):
  about 3 combined Monte-Carlo sds of a 2.5 % / 97.5 % bound).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app.stats.sem import ModelError, fit_model, intervals, prepare
from app.stats.sem import bootstrap as bs
from app.stats.sem.summary import defined_values
from tests.stats.sem.golden import load_csv, load_json

REF = load_json("bootstrap_bca")
EXACT = 1e-9
BOUND_ABS, BOUND_SE = 0.03, 0.35


@pytest.fixture(scope="module")
def hs() -> pd.DataFrame:
    return load_csv("holzinger_swineford_1939.csv")


def _rows(table: list[dict]) -> dict[tuple[str, str, str], dict]:
    return {(r["lhs"], r["op"], r["rhs"]): r for r in table}


def test_bca_bounds_on_lavaans_draws_are_lavaans(hs: pd.DataFrame) -> None:
    ex = REF["exact"]
    boot, freq = np.array(ex["boot"]), np.array(ex["freq"])
    assert boot.shape == (ex["n_ok"], 21) and freq.shape == (ex["B"], 301)
    assert ex["n_ok"] == ex["B"]  # no replicate dropped: freq rows match boot rows
    prob = prepare(hs, REF["model"], missing="listwise")
    free = prob.partable.free_rows()
    est = np.array(ex["est"])
    defined = np.array([defined_values(prob, th) for th in boot])
    def0 = defined_values(prob, est)
    accel = intervals.regression_acceleration([(freq, boot)], [0])
    accel_def = intervals.regression_acceleration([(freq, defined)], [0])
    for kind, a_free, a_def in (
        ("bca", accel, accel_def),
        ("bca.simple", np.zeros(21), np.zeros(2)),
    ):
        ref = _rows(ex[kind])
        bad = []
        for j, r in enumerate(free):
            lo, hi = intervals.bca_interval(boot[:, j], float(est[j]), float(a_free[j]))
            want = ref[(r.lhs, r.op, r.rhs)]
            if max(abs(lo - want["ci.lower"]), abs(hi - want["ci.upper"])) > EXACT:
                bad.append((kind, r.lhs, r.op, r.rhs, lo, want["ci.lower"], hi, want["ci.upper"]))
        for k, name in enumerate(("ab", "ratio")):
            lo, hi = intervals.bca_interval(defined[:, k], float(def0[k]), float(a_def[k]))
            want = ref[(name, ":=", "a*b" if name == "ab" else "a/b")]
            if max(abs(lo - want["ci.lower"]), abs(hi - want["ci.upper"])) > EXACT:
                bad.append((kind, name, lo, want["ci.lower"], hi, want["ci.upper"]))
        assert bad == []
    perc = _rows(ex["perc"])
    for j, r in enumerate(free):
        lo, hi = intervals.percentile_interval(boot[:, j])
        want = perc[(r.lhs, r.op, r.rhs)]
        assert abs(lo - want["ci.lower"]) <= EXACT and abs(hi - want["ci.upper"]) <= EXACT


@pytest.fixture(scope="module")
def hs_bca(hs: pd.DataFrame):
    return fit_model(
        hs, REF["model"], missing="listwise", bootstrap=1000, seed=11, bootstrap_ci="bca"
    )


def test_bca_bounds_agree_with_lavaan_within_monte_carlo_error(hs_bca) -> None:
    mc = REF["mc"]
    ref = _rows(mc["bca"])
    se = dict(zip(((r["lhs"], r["op"], r["rhs"]) for r in mc["bca"]), mc["se"], strict=True))
    bad = []
    for e in hs_bca.estimates:
        key = (e.lhs, e.op, e.rhs)
        tol = max(BOUND_ABS, BOUND_SE * se[key])
        for mine, theirs in (
            (e.ci_lower, ref[key]["ci.lower"]),
            (e.ci_upper, ref[key]["ci.upper"]),
        ):
            if abs(mine - theirs) > tol:
                bad.append(f"{key}: {mine:.4f} vs {theirs:.4f} (tol {tol:.3f})")
    assert bad == []


def test_result_says_what_the_bootstrap_did(hs_bca) -> None:
    info = hs_bca.bootstrap.to_dict()
    assert {k: info[k] for k in ("draws", "succeeded", "dropped", "interval", "seed")} == {
        "draws": 1000,
        "succeeded": 1000,
        "dropped": {},
        "interval": "bca",
        "seed": 11,
    }
    assert info["ci.type"] == "bca" and info["level"] == 0.95
    assert isinstance(info["inadmissible"], int) and 0 <= info["inadmissible"] < 1000
    assert len(info["se"]) == len(hs_bca.estimates)
    perc = fit_model(
        load_csv("holzinger_swineford_1939.csv"),
        REF["model"],
        missing="listwise",
        bootstrap=1000,
        seed=11,
    )
    # the same draws: the same bootstrap se, other bounds
    assert perc.bootstrap.se == hs_bca.bootstrap.se
    assert [e.ci_lower for e in perc.estimates] != [e.ci_lower for e in hs_bca.estimates]


def test_dropped_replicates_are_counted_by_reason(hs: pd.DataFrame, monkeypatch) -> None:
    prob = prepare(hs, REF["model"], missing="listwise")
    from app.stats.sem import summarize

    res = summarize(prob, prob.refit(prob.data))
    real = bs.refit_replicate
    calls = {"n": 0}

    def flaky(prob, data, start, hinv0, **kw):
        calls["n"] += 1
        if calls["n"] % 10 == 0:
            raise np.linalg.LinAlgError("singular")
        if calls["n"] % 10 == 5:
            return start, False
        return real(prob, data, start, hinv0, **kw)

    monkeypatch.setattr(bs, "refit_replicate", flaky)
    out = bs.apply_bootstrap(prob, res, B=100, seed=1, n_jobs=1)
    info = out.bootstrap.to_dict()
    assert (info["draws"], info["succeeded"]) == (100, 80)
    assert info["dropped"] == {"not converged": 10, "numerical failure": 10}


def test_bca_needs_more_draws_than_rows(hs: pd.DataFrame) -> None:
    with pytest.raises(ModelError, match="more bootstrap draws than rows"):
        fit_model(hs, REF["model"], missing="listwise", bootstrap=300, bootstrap_ci="bca")
    with pytest.raises(ModelError, match="perc, bca"):
        fit_model(hs, REF["model"], missing="listwise", bootstrap=300, bootstrap_ci="norm")


def test_same_seed_same_numbers_whatever_the_row_order() -> None:
    df = load_csv("telecom_1500.csv")
    model = "NQ =~ NQ1 + NQ2 + NQ3 + NQ4\nPV =~ PV1 + PV2\nPV ~ NQ"
    shuffled = df.sample(frac=1.0, random_state=5).reset_index(drop=True)
    # the groups' first appearance is lavaan's group order: keep it, shuffle within groups
    order = {g: k for k, g in enumerate(pd.unique(df["customer_type"]))}
    shuffled = shuffled.sort_values(
        "customer_type", key=lambda s: s.map(order), kind="mergesort"
    ).reset_index(drop=True)
    assert not shuffled[["NQ1", "PV1"]].equals(df[["NQ1", "PV1"]])
    runs = [
        fit_model(frame, model, missing="fiml", group="customer_type", bootstrap=100, seed=3)
        for frame in (df, shuffled)
    ]
    one, two = (r.to_dict() for r in runs)
    assert one["estimates"] == two["estimates"]  # bit for bit, bounds included
    assert one["fit"] == two["fit"]
    assert runs[0].bootstrap.se == runs[1].bootstrap.se
