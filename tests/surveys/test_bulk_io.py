"""Issue 18: the staged bulk import (chunks, all or nothing, aggregates as row by row) and the
streamed CSV export (the bytes of the in-memory export it replaced, one chunk at a time)."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import select

from app.errors import InvalidInput
from app.reporting.models import ScoreCell
from app.surveys import csvio, frames, quality, staging
from app.surveys import service as surveys
from app.surveys.models import Response
from app.surveys.schemas import ResponseFilters
from tests.conftest import TELECOM_CSV

EXPORT = "/api/v1/surveys/telecom/responses.csv"


def varied_csv(rows: int = 600) -> bytes:
    """telecom_1500's first ``rows`` rows with ids, times over 15 months, NA and blank cells."""
    frame = pd.read_csv(TELECOM_CSV, dtype=str, keep_default_na=False).head(rows)
    start = datetime(2025, 1, 3, 8, 30, tzinfo=UTC)
    frame.insert(0, "id", [str(uuid.UUID(int=k + 1, version=4)) for k in range(rows)])
    frame.insert(
        1, "submitted_at", [(start + timedelta(hours=17 * k)).isoformat() for k in range(rows)]
    )
    frame.loc[frame.index % 7 == 0, "NQ1"] = "NA"
    frame.loc[frame.index % 11 == 0, "NQ2"] = ""
    frame["lang"] = ["en" if k % 13 == 0 else "" for k in range(rows)]
    return frame.to_csv(index=False).encode()


def old_export_csv(session: Any, *, survey: Any, filters: Any = None, branches: Any = None) -> str:
    """The in-memory export as it was before streaming (the reference for the bytes), with the
    quality columns read for the whole survey at once."""
    frame = frames.load_stored_frame(session, survey=survey, filters=filters, branches=branches)
    spec = surveys.survey_spec(survey)
    out = frame[frames.frame_columns(spec)].copy()
    out["submitted_at"] = frame["submitted_at"].map(lambda t: t.isoformat())
    items: dict[str, pd.Series] = {}
    for item in spec.items:
        column = frame[item.code]
        if item.type == "text":
            items[item.code] = column.where(column.notna(), "")
        else:
            cells = {token: csvio._cell(item, token) for token in pd.unique(column)}  # noqa: SLF001
            items[item.code] = column.map(cells)
    extra = quality.export_columns(session, survey=survey, ids=frame["id"])
    table = pd.concat(
        [out, pd.DataFrame(items, index=out.index), pd.DataFrame(extra, index=out.index)], axis=1
    )
    return str(table.to_csv(index=False, lineterminator="\n"))


def cells(db: Any, survey_id: int) -> dict[tuple[Any, ...], tuple[int, float, float]]:
    query = select(ScoreCell).where(ScoreCell.survey_id == survey_id)
    return {
        (c.dim, c.branch_id, c.month, c.key, c.construct): (c.n, c.sum, c.sumsq)
        for c in db.scalars(query)
    }


def test_streamed_export_has_the_bytes_of_the_in_memory_export(
    factory, survey, researcher_headers
) -> None:
    assert factory.import_direct("telecom", varied_csv(600)) == 600
    r = factory.client.get(EXPORT, headers=researcher_headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    with factory._session() as db:  # noqa: SLF001
        s = surveys.get_survey(db, slug="telecom")
        reference = old_export_csv(db, survey=s)
        assert r.content.decode("utf-8") == reference
        assert reference.count("\n") == 601
        # Chunk boundaries change nothing; each piece holds at most `chunk` rows.
        pieces = list(csvio.iter_export_csv(db, survey=s, chunk=64))
        assert len(pieces) == 10 and max(p.count("\n") for p in pieces[1:]) <= 64
        assert "".join(pieces) == reference
        some = ResponseFilters(submitted_from=datetime(2025, 3, 1, tzinfo=UTC))
        filtered = "".join(
            csvio.iter_export_csv(db, survey=s, filters=some, branches=["BR01", "BR02"], chunk=5)
        )
        assert filtered == old_export_csv(db, survey=s, filters=some, branches=["BR01", "BR02"])
        assert 1 < filtered.count("\n") < 600
    # With filters through the API; the audit records the rows streamed.
    r = factory.client.get(
        EXPORT + "?branch=BR03&submitted_to=2025-06-01T00:00:00Z", headers=researcher_headers
    )
    assert r.status_code == 200
    assert r.text.count("\n") - 1 == sum(
        1 for line in r.text.splitlines()[1:] if line.split(",")[2] == "BR03"
    )


def test_streamed_export_of_an_empty_survey_is_its_header(factory, survey, researcher_headers):
    r = factory.client.get(EXPORT, headers=researcher_headers)
    assert r.status_code == 200
    with factory._session() as db:  # noqa: SLF001
        reference = old_export_csv(db, survey=surveys.get_survey(db, slug="telecom"))
    assert r.text == reference and reference.startswith("id,submitted_at,branch,")


def test_bulk_import_aggregates_equal_row_by_row_inserts(factory, survey, monkeypatch) -> None:
    monkeypatch.setattr(csvio, "CHUNK", 97)  # many chunks: moments summed across them
    written: list[int] = []
    write = staging.Staging.write
    monkeypatch.setattr(
        staging.Staging, "write", lambda self, rows: (written.append(len(rows)), write(self, rows))
    )
    assert factory.import_direct("telecom", varied_csv(600)) == 600
    assert len(written) == 7 and max(written) <= 97  # staged one chunk at a time
    factory.survey("rows", min_group_size=5)
    with factory._session() as db:  # noqa: SLF001
        bulk = surveys.get_survey(db, slug="telecom")
        single = surveys.get_survey(db, slug="rows")
        stored = db.scalars(
            select(Response).where(Response.survey_id == bulk.id).order_by(Response.submitted_at)
        ).all()
        rows = [
            {
                "id": uuid.uuid4(),
                "branch_id": r.branch_id,
                "submitted_at": r.submitted_at,
                "attributes": r.attributes,
                "lang": r.lang,
                "channel": "api",
                "answers": r.answers,
                "texts": r.texts,
            }
            for r in stored
        ]
        db.commit()
        for row in rows:  # the single-submission path: one insert (and upsert) per response
            surveys.insert_responses(db, survey=single, rows=[row])
        db.commit()
        got, want = cells(db, bulk.id), cells(db, single.id)
    assert got.keys() == want.keys() and len(got) > 100
    months = {k[2] for k in got}
    assert len(months) == 15
    for key, (n, s, ss) in want.items():
        assert got[key][0] == n
        assert got[key][1] == pytest.approx(s, rel=1e-12, abs=1e-9)  # summation order only
        assert got[key][2] == pytest.approx(ss, rel=1e-12, abs=1e-9)


def test_bulk_import_stores_what_the_row_path_stores(factory, survey) -> None:
    """Stored values through the staging table equal the ORM's: ids, times, JSON texts."""
    data = varied_csv(40)
    assert factory.import_direct("telecom", data) == 40
    with factory._session() as db:  # noqa: SLF001
        s = surveys.get_survey(db, slug="telecom")
        first = db.scalars(select(Response).where(Response.survey_id == s.id)).all()
        assert {str(r.id) for r in first} == {
            str(uuid.UUID(int=k + 1, version=4)) for k in range(40)
        }
        by_id = {r.id: r for r in first}
        row = by_id[uuid.UUID(int=1, version=4)]
        assert row.submitted_at.replace(tzinfo=UTC) == datetime(2025, 1, 3, 8, 30, tzinfo=UTC)
        nq1 = surveys.survey_spec(s).answer_codes.index("NQ1")
        assert row.channel == "import" and row.answers[nq1] == "na"  # NQ1 of row 0: NA
        assert row.attributes and set(row.attributes) <= {"customer_type", "tenure"}


@pytest.mark.parametrize("where", ["first", "last"])
def test_an_error_in_any_chunk_imports_nothing(factory, survey, monkeypatch, where) -> None:
    monkeypatch.setattr(csvio, "CHUNK", 50)
    frame = pd.read_csv(io.BytesIO(varied_csv(300)), dtype=str, keep_default_na=False)
    bad = 3 if where == "first" else 297
    frame.loc[bad, "TAN1"] = "9"
    frame.loc[bad + 1, "id"] = frame.loc[150, "id"]  # a duplicate id in another chunk
    first, later = sorted((bad + 1, 150))
    with factory._session() as db:  # noqa: SLF001
        s = surveys.get_survey(db, slug="telecom")
        with pytest.raises(InvalidInput) as caught:
            csvio.import_csv(db, survey=s, data=frame.to_csv(index=False).encode())
    errors = caught.value.errors
    # Spreadsheet rows: the header is row 1, frame row k is row k + 2.
    assert sorted(e["row"] for e in errors) == sorted([bad + 2, later + 2])
    by_row = {e["row"]: e["errors"][0] for e in errors}
    assert by_row[bad + 2]["field"] == "TAN1"
    assert by_row[later + 2]["msg"] == f"duplicate id (also on row {first + 2})"
    assert factory.count("telecom") == 0
    with factory._session() as db:  # noqa: SLF001
        assert cells(db, surveys.get_survey(db, slug="telecom").id) == {}


def test_reimport_after_a_refusal_and_stored_ids(factory, survey, monkeypatch) -> None:
    monkeypatch.setattr(csvio, "CHUNK", 16)
    data = varied_csv(50)
    assert factory.import_direct("telecom", data) == 50
    with factory._session() as db:  # noqa: SLF001
        s = surveys.get_survey(db, slug="telecom")
        with pytest.raises(InvalidInput) as caught:
            csvio.import_csv(db, survey=s, data=io.BytesIO(data))  # a file object works too
    assert len(caught.value.errors) == 50
    assert {e["errors"][0]["msg"] for e in caught.value.errors} == {"already stored"}
    assert factory.count("telecom") == 50
