"""Responses as SPSS .sav and Excel .xlsx with labels, and the codebook (issue 14 item 3): the
.sav is read back with pyreadstat (as R's haven would read it) with its variable labels, value
labels and the two user-missing codes intact; branch scopes and the audit log as the CSV export.
The instrument is tests/data/mixed_instrument.yaml (every item type, English and Spanish)."""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pyreadstat
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.surveys.labelled import NA_CODE, NOT_ANSWERED_CODE
from tests.conftest import DATA_DIR

REPO_INSTRUMENTS = Path(__file__).resolve().parents[2] / "instruments"
SLUG = "mixed"
BASE = f"/api/v1/surveys/{SLUG}/responses"


@pytest.fixture
def mixed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, factory: Any) -> Iterator[str]:
    folder = tmp_path / "instruments"
    shutil.copytree(REPO_INSTRUMENTS, folder)
    shutil.copy(DATA_DIR / "mixed_instrument.yaml", folder / "mixed.yaml")
    monkeypatch.setenv("PVM_INSTRUMENTS_DIR", str(folder))
    factory.branches(["BR01", "BR02"])
    factory.survey(SLUG, instrument="mixed", min_group_size=2)
    yield SLUG


def answers(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "SRV1": 4,
        "SRV2": 5,
        "SRV3": 3,
        "COMMENT": "Friendly staff",
        "QUA1": 8,
        "QUA2": 10,
        "QUA3": 1,
        "NPS": 0,
        "CHANNEL": "web",
        "FEATURES": ["mobile", "tv"],
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


@pytest.fixture
def stored(mixed: str, factory: Any) -> None:
    bodies = [
        ("BR01", answers(), {"attributes": {"region": "south"}, "lang": "es"}),
        ("BR01", answers(SRV3="na", CHANNEL="na", FEATURES=[], COMMENT=None), {}),
        ("BR02", answers(SRV3=None, CHANNEL=None, FEATURES=None, NPS=10), {}),
    ]
    for branch, values, extra in bodies:
        r = factory.client.post(BASE, json={"branch": branch, "answers": values, **extra})
        assert r.status_code == 201, r.text


def read_sav(content: bytes, tmp_path: Path, **options: Any) -> tuple[Any, Any]:
    path = tmp_path / "back.sav"
    path.write_bytes(content)
    return pyreadstat.read_sav(str(path), **options)


def test_sav_keeps_variable_and_value_labels_and_two_missing_codes(
    stored: None, client: TestClient, researcher_headers: dict[str, str], tmp_path: Path
) -> None:
    r = client.get(f"{BASE}.sav", headers=researcher_headers)
    assert r.status_code == 200, r.text
    assert 'filename="mixed-responses.sav"' in r.headers["content-disposition"]
    frame, meta = read_sav(r.content, tmp_path, user_missing=True)
    assert list(frame.columns) == [
        *["id", "submitted_at", "branch", "region", "lang", "SRV1", "SRV2", "SRV3"],
        *["COMMENT", "QUA1", "QUA2", "QUA3", "NPS", "CHANNEL"],
        *["FEATURES_1", "FEATURES_2", "FEATURES_3", "FEATURES_4"],
        *["duration_seconds", "flags"],  # response quality (app.surveys.quality)
    ]
    labels = dict(zip(meta.column_names, meta.column_labels, strict=True))
    assert labels["SRV3"] == "The advisor explained the contract."  # first language: en
    assert labels["FEATURES_2"] == "Which services do you use? Broadband"
    value_labels = meta.variable_value_labels
    assert value_labels["SRV1"] == {
        1.0: "Strongly disagree",
        2.0: "Disagree",
        3.0: "Neutral",
        4.0: "Agree",
        5.0: "Strongly agree",
        -99.0: "Not answered",
    }
    assert value_labels["SRV3"][NA_CODE] == "Does not apply"
    assert value_labels["QUA1"] == {1.0: "Very poor", 10.0: "Excellent", -99.0: "Not answered"}
    assert value_labels["CHANNEL"] == {
        1.0: "Phone",
        2.0: "Website",
        3.0: "In a branch",
        -98.0: "Does not apply",
        -99.0: "Not answered",
    }
    assert value_labels["region"] == {1.0: "North", 2.0: "South"}
    assert meta.missing_ranges["SRV3"] == [
        {"lo": NA_CODE, "hi": NA_CODE},
        {"lo": NOT_ANSWERED_CODE, "hi": NOT_ANSWERED_CODE},
    ]
    assert meta.missing_ranges["SRV1"] == [{"lo": NOT_ANSWERED_CODE, "hi": NOT_ANSWERED_CODE}]
    by_branch = frame.sort_values(["branch", "SRV3"]).reset_index(drop=True)
    # the two answers of BR01: a full one (SRV3 = 3) and one with N/A; BR02 left them out
    assert by_branch["SRV3"].tolist() == [NA_CODE, 3.0, NOT_ANSWERED_CODE]
    assert by_branch["CHANNEL"].tolist() == [NA_CODE, 2.0, NOT_ANSWERED_CODE]
    assert by_branch["region"].isna().tolist() == [True, False, True]
    assert by_branch[[f"FEATURES_{k}" for k in range(1, 5)]].values.tolist() == [
        [0, 0, 0, 0],
        [1, 0, 1, 0],
        [NOT_ANSWERED_CODE] * 4,
    ]
    assert by_branch["COMMENT"].tolist() == ["", "Friendly staff", "Friendly staff"]
    assert by_branch["NPS"].tolist() == [0.0, 0.0, 10.0]
    # read as a researcher would by default: both codes are missing values
    plain, _ = read_sav(r.content, tmp_path)
    assert plain["SRV3"].isna().sum() == 2 and plain["SRV1"].notna().all()


def test_sav_labels_in_the_requested_language_and_unknown_language_is_422(
    stored: None, client: TestClient, researcher_headers: dict[str, str], tmp_path: Path
) -> None:
    r = client.get(f"{BASE}.sav", params={"lang": "es"}, headers=researcher_headers)
    assert r.status_code == 200
    _, meta = read_sav(r.content, tmp_path)
    labels = dict(zip(meta.column_names, meta.column_labels, strict=True))
    assert labels["SRV1"] == "El personal fue amable."
    assert meta.variable_value_labels["SRV3"][NA_CODE] == "No aplica"
    assert meta.variable_value_labels["CHANNEL"][1.0] == "Teléfono"
    bad = client.get(f"{BASE}.sav", params={"lang": "fr"}, headers=researcher_headers)
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"][-1] == "lang"


def test_xlsx_has_the_csv_cells_and_a_codebook_sheet(
    stored: None, client: TestClient, researcher_headers: dict[str, str], tmp_path: Path
) -> None:
    r = client.get(f"{BASE}.xlsx", headers=researcher_headers)
    assert r.status_code == 200, r.text
    path = tmp_path / "back.xlsx"
    path.write_bytes(r.content)
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["responses", "codebook"]
    rows = list(book["responses"].iter_rows(values_only=True))
    header = list(rows[0])
    assert header[:5] == ["id", "submitted_at", "branch", "region", "lang"]
    table = sorted((dict(zip(header, row, strict=True)) for row in rows[1:]), key=str)
    csv_rows = list(
        csv.DictReader(io.StringIO(client.get(f"{BASE}.csv", headers=researcher_headers).text))
    )
    assert len(table) == len(csv_rows) == 3
    by_id = {row["id"]: row for row in table}
    for expected in csv_rows:  # the same cells, numbers as numbers, empty = None
        got = by_id[expected["id"]]
        for column, cell in expected.items():
            value = got[column]
            assert ("" if value is None else str(value)) == cell, column
    assert isinstance(by_id[csv_rows[0]["id"]]["SRV1"], int)
    codebook = list(book["codebook"].iter_rows(values_only=True))
    assert codebook[0] == (
        *["variable", "item", "type", "construct", "value", "csv_value"],
        *["label_en", "label_es"],
    )


def test_codebook_lists_texts_per_language_scale_labels_and_missing_codes(
    mixed: str, client: TestClient, researcher_headers: dict[str, str]
) -> None:
    r = client.get(f"{BASE}.codebook.csv", headers=researcher_headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    srv3 = [row for row in rows if row["variable"] == "SRV3"]
    assert srv3[0]["value"] == "" and srv3[0]["label_es"] == "El asesor explicó el contrato."
    assert (srv3[0]["type"], srv3[0]["construct"]) == ("scale", "SRV")
    assert [(r["value"], r["csv_value"], r["label_en"]) for r in srv3[1:]] == [
        ("1", "1", "Strongly disagree"),
        ("2", "2", "Disagree"),
        ("3", "3", "Neutral"),
        ("4", "4", "Agree"),
        ("5", "5", "Strongly agree"),
        ("-98", "NA", "Does not apply"),
        ("-99", "", "Not answered"),
    ]
    channel = [
        (r["value"], r["csv_value"], r["label_es"]) for r in rows if r["variable"] == "CHANNEL"
    ]
    assert channel[1:4] == [
        ("1", "phone", "Teléfono"),
        ("2", "web", "Sitio web"),
        ("3", "branch", "En una sucursal"),
    ]
    features = [r for r in rows if r["variable"] == "FEATURES_4"]
    assert [(r["value"], r["csv_value"]) for r in features[1:]] == [
        ("0", ""),
        ("1", "cloud"),
        ("-99", ""),
    ]
    assert [r["variable"] for r in rows if r["value"] == ""][:5] == [
        "id",
        "submitted_at",
        "branch",
        "region",
        "lang",
    ]


def test_scopes_and_audit_as_the_csv_export(
    stored: None, factory: Any, client: TestClient, session: Any, tmp_path: Path
) -> None:
    scoped = factory.key("researcher", branches=["BR02"])
    r = client.get(f"{BASE}.sav", headers=scoped)
    assert r.status_code == 200
    frame, _ = read_sav(r.content, tmp_path)
    assert frame["branch"].tolist() == ["BR02"]
    assert client.get(f"{BASE}.xlsx?branch=BR01", headers=scoped).status_code == 403
    assert client.get(f"{BASE}.sav", headers=factory.key("operator")).status_code == 403
    assert client.get(f"{BASE}.xlsx").status_code == 401
    session.rollback()
    events = list(
        session.scalars(
            select(AuditEvent).where(AuditEvent.action == "export").order_by(AuditEvent.id)
        )
    )
    assert [(e.detail["format"], e.detail["rows"], e.detail["branches"]) for e in events] == [
        ("sav", 1, ["BR02"])
    ]
