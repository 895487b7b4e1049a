"""PLS bootstrap against seminr's on the same resamples (tests/data/pls_seminr_bootstrap.json:
seminr was handed pvm's index matrix), and the interval rules.

Tolerance 1e-10 absolute on bootstrap means and standard deviations of weights, loadings,
paths, total effects and HTMT: the same resamples give the same estimates to rounding.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from app.stats.pls import bootstrap_pls, fit_pls
from app.stats.sem import ModelError
from tests.conftest import DATA_DIR

TOL = 1e-10
REF = json.loads((DATA_DIR / "pls_seminr_bootstrap.json").read_text())
MOBI = pd.read_csv(DATA_DIR / "mobi.csv")
TABLES = {"<=": "weights", "=~": "loadings", "~": "paths", "total": "total_paths", "htmt": "htmt"}


@pytest.fixture(scope="module", params=[c["name"] for c in REF["cases"]])
def booted(request: pytest.FixtureRequest):
    ref = next(c for c in REF["cases"] if c["name"] == request.param)
    res = fit_pls(MOBI, ref["model"], consistent=ref["consistent"])
    return ref, bootstrap_pls(res, draws=ref["draws"], seed=ref["seed"])


def reference(ref: dict, op: str, lhs: str, rhs: str, what: str) -> float | None:
    table = ref[TABLES[op]]
    if op in ("<=", "=~"):
        return table[rhs][f"{lhs} {what}"]
    if op in ("~", "total"):
        return table[rhs][f"{lhs} {what}"]
    return table[lhs][f"{rhs} {what}"]


def test_same_resamples_give_seminrs_bootstrap(booted) -> None:
    ref, boot = booted
    assert boot.succeeded == ref["draws"] - ref["fails"] and boot.draws == ref["draws"]
    checked = 0
    for k, (lhs, op, rhs) in enumerate(boot.keys):
        est = reference(ref, op, lhs, rhs, "PLS Est.")
        mean = reference(ref, op, lhs, rhs, "Boot Mean")
        sd = reference(ref, op, lhs, rhs, "Boot SD")
        assert est is not None and mean is not None and sd is not None, (lhs, op, rhs)
        assert abs(boot.estimate[k] - est) <= TOL, (lhs, op, rhs)
        assert abs(boot.mean[k] - mean) <= TOL, (lhs, op, rhs, boot.mean[k], mean)
        assert abs(boot.se[k] - sd) <= TOL, (lhs, op, rhs, boot.se[k], sd)
        checked += 1
    assert checked == len(boot.keys) > 50


def test_percentile_and_bca_intervals() -> None:
    model = REF["cases"][0]["model"]
    res = fit_pls(MOBI, model, consistent=False)
    perc = bootstrap_pls(res, draws=300, seed=3)
    k = perc.index("Satisfaction", "~", "Image")
    lo, hi = np.quantile(perc.samples[:, k], [0.025, 0.975], method="linear")
    assert perc.lower[k] == pytest.approx(lo, abs=1e-14) and perc.interval == "perc"
    assert perc.upper[k] == pytest.approx(hi, abs=1e-14)
    bca = bootstrap_pls(res, draws=300, seed=3, interval="bca")
    assert np.array_equal(bca.samples, perc.samples)  # same seed, same draws
    assert np.all(bca.lower <= bca.upper)
    # BCa moves the interval towards the side the bootstrap distribution is biased from
    assert not np.allclose(bca.lower, perc.lower)
    again = bootstrap_pls(res, draws=300, seed=3)
    assert np.array_equal(again.samples, perc.samples)  # reproducible


def test_failed_draws_are_dropped_and_counted() -> None:
    rng = np.random.default_rng(4)
    frame = pd.DataFrame(rng.normal(size=(12, 3)), columns=["a1", "a2", "b1"])
    frame.loc[0, "b1"] = 5.0  # a rare value: resamples without row 0 are still fine ...
    frame["a2"] = 0.0
    frame.loc[0, "a2"] = 1.0  # ... but a2 is constant in every resample that misses row 0
    res = fit_pls(frame, "A =~ a1 + a2\nB =~ b1\nB ~ A")
    boot = bootstrap_pls(res, draws=200, seed=1)
    assert 0 < boot.succeeded < 200
    with pytest.raises(ModelError, match="draws must be"):
        bootstrap_pls(res, draws=1)
