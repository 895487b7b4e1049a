"""Fit API survey design (issue 15): ``cluster`` (branch or any respondent attribute) and
``sampling_weights`` (a numeric respondent attribute), and their 422s.

The cluster-by-branch fit of the imported telecom_1500.csv is compared with lavaan 0.6.14
(tests/data/survey_design.json, case ``tel_cluster_listwise``; golden.py's tolerances); the
weighted fit with the engine's own fit of the same rows (the engine is checked against lavaan in
tests/stats/sem/test_design.py).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from app.stats.sem import fit_model
from app.surveys.models import Survey
from tests.stats.sem.golden import estimate_mismatches, fit_mismatches, load_json

from .test_fit_api import post_fit, post_rejected, wait_done

REF = load_json("survey_design")
CASE = next(c for c in REF["cases"] if c["name"] == "tel_cluster_listwise")
ROOT = Path(__file__).resolve().parents[2]
TELECOM_CSV = ROOT / "tests" / "data" / "telecom_1500.csv"
ROBUST_KEYS = ("chisq", "df", "chisq.scaled", "chisq.scaling.factor", "cfi.robust", "rmsea.robust")


def _errors(text: str) -> list[str]:
    return [e.get("field") or ".".join(map(str, e["loc"][1:])) for e in json.loads(text)["detail"]]


def test_cluster_by_branch_matches_lavaan(
    client: TestClient, researcher_headers: dict[str, str], telecom_survey: Survey
) -> None:
    r = post_fit(
        client, researcher_headers, model=REF["tel_model"], missing="listwise", cluster="branch"
    )
    assert r.status_code == 202, r.text
    assert r.json()["spec"]["cluster"] == "branch"
    done = wait_done(client, researcher_headers, r.json()["id"])
    assert done["status"] == "done", done["error"]
    res = done["result"]
    assert res["estimator"] == "MLR" and res["nobs"] == CASE["nobs"]
    ref_rows = [{**e, "group": None} for e in CASE["estimates"]]
    assert estimate_mismatches(res["estimates"], ref_rows, [None]) == []
    assert fit_mismatches(res["fit"], {k: CASE["fit"][k] for k in ROBUST_KEYS}) == []


def test_cluster_by_attribute_and_spec_without_design(
    client: TestClient, researcher_headers: dict[str, str], telecom_survey: Survey
) -> None:
    plain = post_fit(client, researcher_headers, model=REF["tel_model"], missing="listwise")
    assert plain.status_code == 202, plain.text
    assert "cluster" not in plain.json()["spec"]  # earlier cache keys stay valid
    assert "sampling_weights" not in plain.json()["spec"]
    r = post_fit(client, researcher_headers, model=REF["tel_model"], cluster="customer_type")
    assert r.status_code == 202, r.text
    assert r.json()["id"] != plain.json()["id"]
    done = wait_done(client, researcher_headers, r.json()["id"])
    assert done["status"] == "done", done["error"]
    res = done["result"]
    assert res["missing"] == "fiml" and res["estimator"] == "MLR"
    assert isinstance(res["fit"]["chisq.scaled"], float)
    assert any(e["op"] == "~1" for e in res["estimates"])  # a cluster adds the mean structure


def test_refused(
    client: TestClient, researcher_headers: dict[str, str], telecom_survey: Survey
) -> None:
    model = REF["tel_model"]
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"cluster": "region"}, "cluster", "must be one of"),
        ({"sampling_weights": "branch", "missing": "listwise"}, "sampling_weights", "attribute"),
        ({"sampling_weights": "tenure", "missing": "listwise"}, "sampling_weights", "numbers"),
        ({"sampling_weights": "tenure"}, "sampling_weights", "numbers"),
        (
            {"sampling_weights": "customer_type", "group": "tenure"},
            "sampling_weights",
            "need missing 'listwise'",
        ),
        ({"cluster": "branch", "estimator": "MLM", "missing": "listwise"}, "cluster", "ML and MLR"),
        ({"cluster": "branch", "missing": "pairwise"}, "cluster", "pairwise"),
    ]
    for body, field, words in cases:
        text = post_rejected(client, researcher_headers, model=model, **body)
        assert field in _errors(text), text
        assert words in text, text
    assert "not available with bootstrap" in post_rejected(
        client, researcher_headers, model=model, cluster="branch", bootstrap=200
    )
    assert "method sem only" in post_rejected(
        client, researcher_headers, model="A =~ TAN1 + TAN2", method="pls", cluster="branch"
    )
    assert "not available with ordered items" in post_rejected(
        client, researcher_headers, model=model, ordered=True, cluster="branch"
    )


def _weights(n: int) -> np.ndarray:
    return np.round(0.5 + (np.arange(n) * 37 % 23) / 10, 1)


@pytest.fixture
def weighted_survey(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, factory: Any
) -> tuple[Survey, pd.DataFrame]:
    """telecom-pv v1 with a ``weight`` code attribute, and the 1500 rows with weights."""
    folder = tmp_path / "instruments"
    shutil.copytree(ROOT / "instruments", folder)
    text = (ROOT / "instruments" / "telecom-pv.v1.yaml").read_text()
    text = text.replace("id: telecom-pv\n", "id: telecom-w\n", 1)
    text = text.replace(
        "attributes:\n",
        "attributes:\n  - code: weight\n    type: code\n    label: {zh: 权重, en: Weight}\n",
        1,
    )
    (folder / "telecom-w.yaml").write_text(text)
    monkeypatch.setenv("PVM_INSTRUMENTS_DIR", str(folder))
    factory.branches()
    survey = factory.survey("telecom", instrument="telecom-w", min_group_size=5)
    data = pd.read_csv(TELECOM_CSV)
    data.insert(3, "weight", _weights(len(data)))
    assert factory.import_direct(
        survey.slug, data.to_csv(index=False, float_format="%g").encode()
    ) == len(data)
    return survey, data


def test_sampling_weights(
    client: TestClient,
    researcher_headers: dict[str, str],
    weighted_survey: tuple[Survey, pd.DataFrame],
) -> None:
    _, data = weighted_survey
    model = "PV =~ PV1 + PV2\nSAT =~ SAT1 + SAT2 + SAT3\nLOY =~ LOY1 + LOY2 + LOY3 + LOY4\n"
    model += "SAT ~ PV\nLOY ~ SAT + PV"
    r = post_fit(
        client, researcher_headers, model=model, missing="listwise", sampling_weights="weight"
    )
    assert r.status_code == 202, r.text
    done = wait_done(client, researcher_headers, r.json()["id"])
    assert done["status"] == "done", done["error"]
    res = done["result"]
    ref = fit_model(data, model, missing="listwise", sampling_weights="weight")
    plain = fit_model(data, model, missing="listwise")
    assert res["estimator"] == "MLR"
    assert res["fit"]["chisq"] == pytest.approx(ref.fit["chisq"], rel=1e-6)
    assert abs(res["fit"]["chisq"] - plain.fit["chisq"]) > 1.0  # the weights count
    assert res["fit"]["chisq.scaled"] == pytest.approx(ref.fit["chisq.scaled"], rel=5e-6)
    mine = {(e["lhs"], e["op"], e["rhs"]): e for e in res["estimates"]}
    for e in ref.estimates:
        m = mine[(e.lhs, e.op, e.rhs)]
        assert m["est"] == pytest.approx(e.est, abs=2e-5)
        assert m["se"] == pytest.approx(e.se, rel=1e-4, abs=1e-8)


def test_pvm_fit_cluster(
    settings: Any,
    telecom_survey: Survey,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``pvm fit --cluster branch`` reaches the fit as the API's field does."""
    from app.cli import main
    from app.fits import cli

    monkeypatch.setattr(cli, "get_settings", lambda: settings)
    path = tmp_path / "model.lav"
    path.write_text(REF["tel_model"])
    argv = ["fit", "telecom", "--model", str(path), "--missing", "listwise"]
    assert main([*argv, "--cluster", "branch", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["estimator"] == "MLR"
    assert result["fit"]["chisq.scaled"] == pytest.approx(CASE["fit"]["chisq.scaled"], rel=5e-6)


def test_grouped_fit_with_cluster(
    client: TestClient, researcher_headers: dict[str, str], telecom_survey: Survey
) -> None:
    """Groups by customer type, branches as clusters within each group (lavaan: the cluster
    sums and nC / (nC - 1) per group)."""
    body = {"model": REF["tel_model"], "missing": "listwise", "group": "customer_type"}
    r = post_fit(client, researcher_headers, **body, cluster="branch")
    assert r.status_code == 202, r.text
    done = wait_done(client, researcher_headers, r.json()["id"])
    assert done["status"] == "done", done["error"]
    data = pd.read_csv(TELECOM_CSV)
    ref = fit_model(
        data, REF["tel_model"], missing="listwise", group="customer_type", cluster="branch"
    )
    res = done["result"]
    assert res["estimator"] == "MLR"
    assert res["fit"]["chisq.scaled"] == pytest.approx(ref.fit["chisq.scaled"], rel=5e-6)
