"""PLS through the fit API (issue 16 item 5, first slice): queued, run, cached like CB-SEM fits,
with the engine's numbers (compared with a direct app.stats.pls fit on the same rows)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.stats.pls import (
    blindfolding,
    bootstrap_pls,
    fit_pls,
    ipma,
    pls_mga,
    predict_pls,
    srmr,
)
from app.surveys import service
from app.surveys.models import Survey
from tests.fits.test_fit_api import post_fit, post_rejected, wait_done

MODEL = "REL =~ REL1 + REL2 + REL3 + REL4\nNQ <~ NQ2 + NQ3 + NQ4\nPV =~ PV1 + PV2\nPV ~ REL + NQ"


def test_pls_fit_through_the_api(
    client: TestClient, researcher_headers: dict[str, str], telecom_survey: Survey, session: Any
) -> None:
    r = post_fit(client, researcher_headers, method="pls", model=MODEL, bootstrap=100, seed=4)
    assert r.status_code == 202, r.text
    done = wait_done(client, researcher_headers, r.json()["id"])
    assert done["status"] == "done", done["error"]
    result = done["result"]
    assert result["method"] == "pls" and result["missing"] == "mean"
    assert result["bootstrap"]["draws"] == 100 and result["bootstrap"]["succeeded"] == 100
    frame = service.load_item_frame(session, survey=telecom_survey)
    direct = fit_pls(frame, MODEL)
    boot = bootstrap_pls(direct, draws=100, seed=4)
    assert result["nobs"] == direct.nobs == 1500
    rows = {(e["lhs"], e["op"], e["rhs"]): e for e in result["estimates"]}
    path = rows[("PV", "~", "REL")]
    assert path["est"] == pytest.approx(direct.path("REL", "PV"), abs=1e-12)
    k = boot.index("PV", "~", "REL")
    assert path["se"] == pytest.approx(boot.se[k], abs=1e-12)
    assert rows[("NQ", "<=", "NQ2")]["est"] == pytest.approx(direct.weight("NQ2", "NQ"), abs=1e-12)
    assert result["r2"]["PV"] == pytest.approx(direct.r2["PV"], abs=1e-12)
    # the same request again is the stored job
    again = post_fit(client, researcher_headers, method="pls", model=MODEL, bootstrap=100, seed=4)
    assert again.status_code == 200 and again.json()["id"] == done["id"]
    diagram = client.get(f"/api/v1/fits/{done['id']}/diagram.svg", headers=researcher_headers)
    assert diagram.status_code == 200 and diagram.headers["content-type"].startswith("image/svg")
    svg = diagram.text
    assert "PLS: loadings (mode A) and weights (mode B" in svg and "SRMR = " in svg
    assert f"{direct.path('REL', 'PV'):.2f}" in svg  # the path coefficient's label
    # NQ is mode B: its weights label the arrows, REL's loadings label its edges
    assert f">{direct.weight('NQ2', 'NQ'):.2f}<" in svg
    rel1 = direct.loadings[direct.items.index("REL1"), direct.constructs.index("REL")]
    assert f">{rel1:.2f}<" in svg


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"method": "pls", "model": MODEL, "group": "branch"}, "group is not available"),
        ({"model": MODEL, "predict": {}}, "predict apply to method pls"),
        ({"method": "pls", "model": MODEL, "predict": {"folds": 1}}, "folds"),
        ({"method": "pls", "model": MODEL, "ipma": {"target": "SAT"}}, "ipma.target"),
        ({"method": "pls", "model": MODEL, "mga": {"group": "nope"}}, "mga.group"),
        ({"method": "pls", "model": MODEL, "mga": {"group": "tenure"}}, "name the two"),
        (
            {"method": "pls", "model": MODEL, "mga": {"group": "tenure", "groups": ["a", "b"]}},
            "group a has 0 rows",
        ),
        ({"method": "pls", "model": MODEL, "missing": "fiml"}, "mean or listwise"),
        ({"method": "pls", "model": MODEL, "estimator": "MLR"}, "method sem only"),
        ({"model": MODEL, "scheme": "factorial"}, "apply to method pls"),
        ({"model": MODEL, "missing": "mean"}, "missing mean is for method pls"),
        ({"method": "pls", "model": "REL =~ REL1 + COMMENT\nPV =~ PV1\nPV ~ REL"}, "COMMENT"),
        ({"method": "pls", "model": "REL =~ REL1 + REL2\nPV =~ PV1\nPV ~ REL\nREL ~~ PV"}, "~~"),
    ],
)
def test_pls_requests_that_cannot_run_are_422(
    client: TestClient,
    researcher_headers: dict[str, str],
    telecom_survey: Survey,
    body: dict[str, Any],
    message: str,
) -> None:
    assert message in post_rejected(client, researcher_headers, **body)


def test_pls_predict_ipma_and_mga_through_the_api(
    client: TestClient, researcher_headers: dict[str, str], telecom_survey: Survey, session: Any
) -> None:
    body = {
        "method": "pls",
        "model": MODEL,
        "consistent": False,
        "seed": 3,
        "predict": {"folds": 5, "repetitions": 2},
        "ipma": {"target": "PV"},
        "mga": {
            "group": "customer_type",
            "groups": ["business", "consumer"],
            "draws": 100,
            "permutations": 100,
        },
    }
    r = post_fit(client, researcher_headers, **body)
    assert r.status_code == 202, r.text
    done = wait_done(client, researcher_headers, r.json()["id"])
    assert done["status"] == "done", done["error"]
    result = done["result"]
    frame = service.load_item_frame(session, survey=telecom_survey)
    direct = fit_pls(frame, MODEL, consistent=False)
    assert result["srmr"] == pytest.approx(srmr(direct), abs=1e-12)
    p = predict_pls(direct, folds=5, repetitions=2, seed=3)
    rows = {row["item"]: row for row in result["predict"]["items"]}
    assert set(rows) == {"PV1", "PV2"}
    assert rows["PV1"]["q2predict"] == pytest.approx(p.q2predict["PV1"], abs=1e-12)
    assert rows["PV2"]["lm.rmse"] == pytest.approx(p.lm_rmse["PV2"], abs=1e-12)
    q2 = blindfolding(direct).q2["PV"]
    blind = result["predict"]["blindfolding"]
    assert blind["distance"] == 7 and blind["constructs"][0]["q2"] == pytest.approx(q2, abs=1e-12)
    assert result["ipma"]["target"] == "PV"
    scale = {i: (1.0, 7.0) for i in direct.items}
    expected = ipma(direct, "PV", scale)
    by_construct = {row["construct"]: row for row in result["ipma"]["constructs"]}
    assert by_construct["REL"]["importance"] == pytest.approx(expected.importance["REL"])
    assert by_construct["NQ"]["performance"] == pytest.approx(expected.performance["NQ"])
    mga = result["mga"]
    assert mga["group"] == "customer_type" and mga["groups"] == ["business", "consumer"]
    two = frame[frame["customer_type"].isin(["business", "consumer"])]
    compared = pls_mga(
        fit_pls(two, MODEL, consistent=False),
        (two["customer_type"] == "business").to_numpy(),
        labels=("business", "consumer"),
        draws=100,
        permutations=100,
        seed=3,
    )
    first = mga["paths"][0]
    assert first["diff"] == pytest.approx(compared.paths[0].diff, abs=1e-12)
    assert first["p.permutation"] == pytest.approx(compared.paths[0].p_permutation)
    assert mga["micom"]["constructs"][0]["c"] == pytest.approx(compared.micom[0].c, abs=1e-12)
