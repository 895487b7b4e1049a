"""CSV import (all or nothing, row-numbered errors) and export; the telecom_1500 round trip."""

from __future__ import annotations

import csv
import io
import uuid

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from tests.conftest import TELECOM_CSV

IMPORT = "/api/v1/surveys/telecom/responses/import"
EXPORT = "/api/v1/surveys/telecom/responses.csv"


def read_csv_bytes(data: bytes) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)


def small_csv(rows: int = 3, **cell_overrides: tuple[int, str]) -> bytes:
    """The first ``rows`` rows of telecom_1500.csv, with {column: (row_index, value)} edits."""
    frame = pd.read_csv(TELECOM_CSV, dtype=str, keep_default_na=False).head(rows)
    for column, (index, value) in cell_overrides.items():
        frame.loc[index, column] = value
    return frame.to_csv(index=False).encode("utf-8")


def test_telecom_1500_round_trip(factory, survey, researcher_headers) -> None:
    r = factory.import_csv("telecom", TELECOM_CSV, researcher_headers)
    assert r.status_code == 201, r.text[:2000]
    assert r.json() == {"imported": 1500}
    exported = factory.client.get(EXPORT, headers=researcher_headers)
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    out = read_csv_bytes(exported.content)
    source = pd.read_csv(TELECOM_CSV, dtype=str, keep_default_na=False)
    assert list(out.columns[:6]) == [
        "id",
        "submitted_at",
        "branch",
        "customer_type",
        "tenure",
        "lang",
    ]
    # then the items, then the quality columns (imported rows: not timed, no flags)
    assert list(out.columns[6:-2]) == list(source.columns[3:])
    assert list(out.columns[-2:]) == ["duration_seconds", "flags"]
    assert (out["duration_seconds"] == "").all() and (out["flags"] == "").all()
    assert len(out) == 1500 and out["id"].is_unique
    # Same rows and values: compare as multisets (export order is by submission time).
    columns = list(source.columns)
    key = lambda f: f[columns].apply(lambda r: ",".join(r), axis=1).sort_values().tolist()  # noqa: E731
    assert key(out) == key(source)
    # The export format is importable and its ids are kept (ids are global, so give new ones).
    factory.survey("copy")
    out["id"] = [str(uuid.uuid4()) for _ in range(len(out))]
    r = factory.import_csv("copy", out.to_csv(index=False).encode(), researcher_headers)
    assert r.status_code == 201, r.text[:2000]
    again = read_csv_bytes(
        factory.client.get("/api/v1/surveys/copy/responses.csv", headers=researcher_headers).content
    )
    assert sorted(again["id"]) == sorted(out["id"])
    pd.testing.assert_frame_equal(
        again.sort_values("id").reset_index(drop=True), out.sort_values("id").reset_index(drop=True)
    )


def test_na_exported_as_NA_and_not_answered_as_empty_cell(
    factory, survey, researcher_headers
) -> None:
    answers = factory.answers(2, NQ3="na", NQ4=None)
    factory.submit("telecom", {"branch": "BR01", "answers": answers})
    text = factory.client.get(EXPORT, headers=researcher_headers).text
    row = next(csv.DictReader(io.StringIO(text)))
    assert (row["NQ3"], row["NQ4"], row["NQ2"], row["TAN1"]) == ("NA", "", "2", "2")


def test_bad_row_among_good_ones_imports_nothing(factory, survey, researcher_headers) -> None:
    data = small_csv(5, REL3=(3, "9"), branch=(1, "BR99"))
    r = factory.import_csv("telecom", data, researcher_headers)
    assert r.status_code == 422
    detail = r.json()["detail"]
    # Spreadsheet numbering: header is row 1, so data index 1 is row 3 and index 3 is row 5.
    assert [d["row"] for d in detail] == [3, 5]
    assert detail[0]["errors"][0]["field"] == "branch"
    assert detail[1]["errors"][0]["field"] == "REL3"
    assert "between 1 and 7" in detail[1]["errors"][0]["msg"]
    assert factory.count() == 0


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda f: f.drop(columns=["REL3"]), "missing columns: REL3"),
        (lambda f: f.drop(columns=["branch"]), "missing columns: branch"),
        (lambda f: f.assign(extra_col="1"), "unknown columns: extra_col"),
    ],
)
def test_missing_or_extra_columns(factory, survey, researcher_headers, edit, message) -> None:
    frame = edit(pd.read_csv(TELECOM_CSV, dtype=str, keep_default_na=False).head(3))
    r = factory.import_csv("telecom", frame.to_csv(index=False).encode(), researcher_headers)
    assert r.status_code == 422
    assert message in r.json()["detail"][0]["msg"]
    assert r.json()["detail"][0]["field"] == "columns"
    assert factory.count() == 0


@pytest.mark.parametrize(
    "encode",
    [
        lambda t: t.encode("utf-16"),
        lambda t: t.replace("consumer", "consumér").encode("latin-1"),
        lambda t: t.encode("gbk") + "客户".encode("gbk"),
    ],
)
def test_wrong_encoding(factory, survey, researcher_headers, encode) -> None:
    text = small_csv(3).decode()
    r = factory.import_csv("telecom", encode(text), researcher_headers)
    assert r.status_code == 422
    assert "UTF" in r.json()["detail"][0]["msg"]
    assert factory.count() == 0


def test_utf8_bom_is_accepted(factory, survey, researcher_headers) -> None:
    r = factory.import_csv("telecom", b"\xef\xbb\xbf" + small_csv(3), researcher_headers)
    assert r.status_code == 201 and r.json() == {"imported": 3}


def test_wrong_field_count_and_bad_id_time(factory, survey, researcher_headers) -> None:
    lines = small_csv(3).decode().splitlines()
    lines[2] = lines[2] + ",7"
    r = factory.import_csv("telecom", "\n".join(lines).encode(), researcher_headers)
    assert r.status_code == 422 and r.json()["detail"][0]["row"] == 3
    frame = pd.read_csv(TELECOM_CSV, dtype=str, keep_default_na=False).head(2)
    frame.insert(0, "id", ["not-a-uuid", "9b2f1b7e-3f0e-4b51-a0a5-0c2b9cf3f0a1"])
    frame.insert(1, "submitted_at", ["2026-01-01T10:00:00Z", "yesterday"])
    r = factory.import_csv("telecom", frame.to_csv(index=False).encode(), researcher_headers)
    assert r.status_code == 422
    assert [(d["row"], d["errors"][0]["field"]) for d in r.json()["detail"]] == [
        (2, "id"),
        (3, "submitted_at"),
    ]
    assert factory.count() == 0


def test_reimporting_the_same_ids_is_refused(factory, survey, researcher_headers) -> None:
    factory.import_csv("telecom", small_csv(3), researcher_headers)
    exported = factory.client.get(EXPORT, headers=researcher_headers).content
    r = factory.import_csv("telecom", exported, researcher_headers)
    assert r.status_code == 422
    assert all(d["errors"][0]["msg"] == "already stored" for d in r.json()["detail"])
    assert factory.count() == 3


def test_empty_file(factory, survey, researcher_headers) -> None:
    r = factory.import_csv("telecom", b"", researcher_headers)
    assert r.status_code == 422 and "empty" in r.json()["detail"][0]["msg"]
    assert factory.count() == 0


def test_csv_over_limit_is_413(factory, survey, researcher_headers, settings) -> None:
    small = create_app(settings.model_copy(update={"max_import_bytes": 20_000}))
    with TestClient(small) as client:
        r = client.post(
            IMPORT,
            files={"file": ("big.csv", small_csv(400), "text/csv")},
            headers=researcher_headers,
        )
        assert r.status_code == 413
        ok = client.post(
            IMPORT, files={"file": ("ok.csv", small_csv(5), "text/csv")}, headers=researcher_headers
        )
        assert ok.status_code == 201
    small.state.engine.dispose()
    assert factory.count() == 5


def test_import_needs_researcher(factory, survey, operator_headers) -> None:
    assert factory.import_csv("telecom", small_csv(2), {}).status_code == 401
    assert factory.import_csv("telecom", small_csv(2), operator_headers).status_code == 403
    assert factory.count() == 0
