"""SRMR, PLSpredict, IPMA and multi-group analysis against seminr and hand computations on
seminr's estimates (tests/data/pls_extra_seminr.json, made by pls_extra_seminr.py beside it).

Tolerances: 1e-10 for SRMR, IPMA and the MGA estimates and differences (agreement measured at
3e-13 or better); 1e-9 for PLSpredict's metrics (1e-13 measured; each fold is a separate fit
stopped by the same rule as seminr's). Henseler's p and the permutation p-values are counts
over the same draws and permutations, so they are equal exactly.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from app.stats.pls import fit_pls
from app.stats.pls.evaluate import srmr
from app.stats.pls.ipma import ipma
from app.stats.pls.mga import pls_mga
from app.stats.pls.predict import blindfolding, cut_folds, predict_pls
from app.stats.sem import ModelError
from tests.conftest import DATA_DIR

REF = json.loads((DATA_DIR / "pls_extra_seminr.json").read_text())
FILES = {"mobi": "mobi.csv", "corp": "corp_rep.csv", "telecom": "telecom_1500.csv"}


def data_of(name: str) -> pd.DataFrame:
    frame = pd.read_csv(DATA_DIR / FILES[name.split("_")[0]])
    return frame.replace(-99, np.nan) if name.startswith("corp") else frame


@pytest.mark.parametrize("ref", REF["srmr"], ids=lambda r: r["name"])
def test_srmr_is_the_saturated_model_srmr(ref: dict) -> None:
    res = fit_pls(data_of(ref["name"]), ref["model"], consistent=ref["consistent"])
    assert srmr(res) == pytest.approx(ref["srmr"], abs=1e-10)


def test_folds_are_r_cut_blocks() -> None:
    # R: as.integer(cut(1:10, breaks = 3)) is 1 1 1 1 2 2 2 3 3 3
    assert cut_folds(10, 3).tolist() == [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert np.bincount(cut_folds(250, 10)).tolist() == [25] * 10


@pytest.mark.parametrize("ref", REF["predict"], ids=lambda r: r["name"])
def test_plspredict_agrees_with_seminr(ref: dict) -> None:
    res = fit_pls(data_of(ref["name"]), ref["model"], consistent=ref["consistent"])
    out = predict_pls(res, folds=ref["folds"], repetitions=ref["repetitions"], seed=ref["seed"])
    assert sorted(out.items) == sorted(ref["items"])
    for key in ("pls_rmse", "pls_mae", "lm_rmse", "lm_mae", "q2predict"):
        mine = getattr(out, key)
        for item, value in ref[key].items():
            assert mine[item] == pytest.approx(value, abs=1e-9), (key, item)
    order = [out.items.index(i) for i in ref["items"]]
    np.testing.assert_allclose(out.predictions[:3, order], ref["first_rows_rep1"], atol=1e-9)


@pytest.mark.parametrize("ref", REF["blindfolding"], ids=lambda r: r["name"])
def test_blindfolding_q2_agrees_with_rounds_estimated_by_seminr(ref: dict) -> None:
    res = fit_pls(data_of(ref["name"]), ref["model"], consistent=False)
    out = blindfolding(res, distance=ref["distance"])
    assert set(out.q2) == set(ref["constructs"])
    for c, e in ref["constructs"].items():
        assert out.sse[c] == pytest.approx(e["sse"], abs=1e-8)
        assert out.sso[c] == pytest.approx(e["sso"], abs=1e-8)
        assert out.q2[c] == pytest.approx(e["q2"], abs=1e-10)
    with pytest.raises(ModelError, match="omission distance"):
        blindfolding(res, distance=1)


def test_plspredict_refuses_bad_folds() -> None:
    res = fit_pls(data_of("mobi"), REF["predict"][0]["model"], consistent=False)
    with pytest.raises(ModelError, match="folds"):
        predict_pls(res, folds=1)
    with pytest.raises(ModelError, match="repetitions"):
        predict_pls(res, folds=5, repetitions=0)


@pytest.mark.parametrize("ref", REF["ipma"], ids=lambda r: r["name"])
def test_ipma_agrees_with_the_hand_computation(ref: dict) -> None:
    res = fit_pls(data_of(ref["name"]), ref["model"], consistent=ref["consistent"])
    out = ipma(res, ref["target"], {i: tuple(ref["scale"]) for i in res.items})
    for key in ("performance", "importance", "item_performance", "item_importance"):
        mine = getattr(out, key)
        assert set(mine) == set(ref[key]), key
        for name, value in ref[key].items():
            assert mine[name] == pytest.approx(value, abs=1e-10), (key, name)
    for c, row in ref["weights"].items():
        for i, w in row.items():
            assert out.weights[c][i] == pytest.approx(w, abs=1e-10)
        assert sum(out.weights[c].values()) == pytest.approx(1.0, abs=1e-12)
    table = out.to_dict()
    assert table["target"] == ref["target"]
    assert {r["construct"] for r in table["constructs"]} == set(ref["performance"])
    with pytest.raises(ModelError, match="not a construct"):
        ipma(res, "Nope")


def test_mga_and_micom_agree_with_seminr() -> None:
    ref = REF["mga"][0]
    data = data_of(ref["name"])
    res = fit_pls(data, ref["model"], consistent=False)
    mask = (data[ref["column"]] == ref["group1"]).to_numpy()
    out = pls_mga(res, mask, draws=ref["draws"], permutations=ref["permutations"], seed=ref["seed"])
    assert out.n == (ref["n1"], ref["n2"]) and out.permutations_succeeded == ref["permutations"]
    perms = ref["permutations"]
    for p in out.paths:
        key = f"{p.target}|{p.source}"
        h = ref["henseler"][key]
        assert p.group1 == pytest.approx(h["group1"], abs=1e-10)
        assert p.group2 == pytest.approx(h["group2"], abs=1e-10)
        assert p.diff == pytest.approx(h["diff"], abs=1e-10)
        assert p.p_henseler == pytest.approx(h["p"], abs=1e-12)
        perm = np.array([d[key] for d in ref["permutation_diff"]])
        expected = (1 + np.sum(np.abs(perm) >= abs(ref["observed_diff"][key]))) / (1 + perms)
        assert p.p_permutation == pytest.approx(expected, abs=1e-12)
    for m in out.micom:
        c = m.construct
        assert m.c == pytest.approx(ref["observed_c"][c], abs=1e-10)
        cs = np.array([d[c] for d in ref["permutation_c"]])
        assert m.p_c == pytest.approx(
            (1 + np.sum(cs <= ref["observed_c"][c] + 1e-12)) / (1 + perms)
        )
        assert m.c_quantile_5 == pytest.approx(np.quantile(cs, 0.05), abs=1e-10)
        for kind, mine, p in (
            ("mean_diff", m.mean_diff, m.p_mean),
            ("logvar_diff", m.logvar_diff, m.p_logvar),
        ):
            obs = ref[f"observed_{kind}"][c]
            dist = np.array([d[c] for d in ref[f"permutation_{kind}"]])
            assert mine == pytest.approx(obs, abs=1e-10)
            assert p == pytest.approx((1 + np.sum(np.abs(dist) >= abs(obs) - 1e-12)) / (1 + perms))
        lo, hi = m.mean_ci
        dist = np.array([d[c] for d in ref["permutation_mean_diff"]])
        assert (lo, hi) == pytest.approx((np.quantile(dist, 0.025), np.quantile(dist, 0.975)))
    assert out.to_dict()["micom"]["configural"] is True


def test_mga_refuses_tiny_groups() -> None:
    data = data_of("corp_rep")
    res = fit_pls(data, REF["mga"][0]["model"], consistent=False)
    mask = np.zeros(res.nobs, dtype=bool)
    mask[:2] = True
    with pytest.raises(ModelError, match="at least 3 rows"):
        pls_mga(res, mask, draws=10, permutations=5)
