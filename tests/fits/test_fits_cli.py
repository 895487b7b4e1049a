"""``pvm fits list|show`` on fits stored through the API, and ``--out FILE.xlsx|.csv``."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from app import cli
from app.config import get_settings
from app.surveys.models import Survey

MODEL = "TAN =~ TAN1 + TAN2 + TAN3\nREL =~ REL1 + REL2 + REL3 + REL4"


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("PVM_DATABASE_URL", database_url)
    monkeypatch.setenv("PVM_ENVIRONMENT", "test")
    monkeypatch.setenv("PVM_SECRET_KEY", "cli-test-secret-" + "y" * 32)
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


def stored_fit(client: TestClient, headers: dict[str, str], **body: Any) -> str:
    body = {"model": MODEL, "missing": "listwise", **body}
    r = client.post("/api/v1/surveys/telecom/fits", json=body, headers=headers)
    assert r.status_code == 202, r.text
    fit_id = str(r.json()["id"])
    for _ in range(10):
        r = client.get(f"/api/v1/fits/{fit_id}", params={"wait": 30}, headers=headers)
        if r.json()["status"] == "done":
            return fit_id
    raise AssertionError(r.text)


def test_fits_list_and_show(
    cli_env: str,
    client: TestClient,
    researcher_headers: dict[str, str],
    telecom_survey: Survey,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    first = stored_fit(client, researcher_headers, name="two factors")
    second = stored_fit(client, researcher_headers, estimator="MLR")
    assert cli.main(["fits", "list", "telecom"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["id", "status", "created"]
    assert out[1].startswith(second) and out[2].startswith(first)
    assert out[2].endswith("two factors") and "sem MLR" in out[1]
    assert out[-1].startswith("2 fit(s) of survey telecom")

    assert cli.main(["fits", "list", "telecom", "--estimator", "MLR", "--json"]) == 0
    page = json.loads(capsys.readouterr().out)
    assert page["total"] == 1 and page["items"][0]["id"] == second

    xlsx = tmp_path / "results.xlsx"
    assert cli.main(["fits", "show", first, "--out", str(xlsx)]) == 0
    captured = capsys.readouterr()
    assert "(two factors)" in captured.out and "Latent Variables:" in captured.out
    book = load_workbook(xlsx, read_only=True)
    assert book.sheetnames[:3] == ["estimates", "fit", "r2"]
    assert cli.main(["fits", "show", first, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == "two factors"


def test_pvm_fit_out_writes_the_tables(
    cli_env: str, telecom_survey: Survey, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "m.lav"
    model.write_text(MODEL)
    target = tmp_path / "results.csv"
    code = cli.main(
        ["fit", "telecom", "--model", str(model), "--missing", "listwise", "--json",
         "--out", str(target)]
    )  # fmt: skip
    assert code == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert f"wrote {target}" in captured.err
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert list(rows[0]) == list(result["estimates"][0])
    assert [float(r["est"]) for r in rows] == [e["est"] for e in result["estimates"]]
    fit = list(csv.DictReader(io.StringIO((tmp_path / "results.fit.csv").read_text())))
    assert float(fit[0]["chisq"]) == result["fit"]["chisq"]
    assert (tmp_path / "results.modindices.csv").exists()
