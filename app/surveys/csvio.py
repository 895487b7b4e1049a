"""CSV import (all or nothing, row-numbered errors) and export of a survey's responses.

Export columns: ``id,submitted_at,branch,<attribute codes>,lang,<item codes>,duration_seconds,
flags`` (items in questionnaire order, open text included; the last two are the response's
quality measures, :mod:`app.surveys.quality`: seconds to complete, empty when not measured, and
its flags joined by ``;``). An item's cell:

* scale / nps: the integer; single choice: the option code; multiple choice: the chosen option
  codes joined by ``;`` (empty: none chosen); open text: the text (quoted as CSV needs);
* ``NA``: not applicable; an empty cell: not answered. For a multiple-choice item "not
  answered" and "none chosen" are both empty and cannot be told apart: an empty cell imports
  as "none chosen".

Import reads that format (``NA``, ``na`` and ``n/a`` mean not applicable, any case; an empty
cell means not answered) and so the export of a survey imports into a survey of the same
instrument version as the same stored rows. It also takes the bare ``branch,<attributes>,
<items>`` of reference files: ``id``, ``submitted_at``, ``lang`` and the instrument's attributes
are optional columns (a required attribute still needs a value on every row), ``branch`` and
every item code are required. ``submitted_at`` must lie in the settings' window (not in the
future beyond the clock skew, not before the stated floor).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice
from typing import Any, BinaryIO

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings, get_settings
from app.errors import InvalidInput, field_error
from app.instruments.spec import InstrumentSpec, ItemSpec
from app.reporting.aggregates import MomentSums, layout
from app.surveys import quality
from app.surveys.frames import EXPORT_CHUNK, iter_stored_frames
from app.surveys.models import Response, Survey, utcnow
from app.surveys.schemas import ResponseFilters
from app.surveys.service import (
    as_utc,
    branch_ids,
    day_start,
    frame_columns,
    survey_spec,
)
from app.surveys.staging import Staging
from app.surveys.validation import (
    NA,
    NA_STRINGS,
    check_answer,
    check_answers,
    check_attributes,
    check_lang,
)

OPTIONAL_COLUMNS = ("id", "submitted_at", "lang", *quality.QUALITY_COLUMNS)
CHUNK = 20_000  # rows checked and staged at a time


def _file_error(msg: str) -> InvalidInput:
    return InvalidInput([{"loc": ["file"], "field": "file", "msg": msg, "type": "value_error"}])


def decode_csv(data: bytes) -> str:
    """UTF-8 (a BOM is tolerated); anything else is refused with the offending byte offset."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise _file_error("the file is UTF-16; save it as UTF-8")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _file_error(
            f"the file is not valid UTF-8 (byte {exc.start}); save it as UTF-8"
        ) from None


def _parse_time(raw: str) -> datetime:
    return as_utc(datetime.fromisoformat(raw.strip()))


def _time_error(moment: datetime, window: tuple[datetime, datetime]) -> str | None:
    """Why ``moment`` is outside the sane window of submission times (F9), or None."""
    earliest, latest = window
    if moment > latest:
        return f"{moment.isoformat()} is in the future (latest accepted: {latest.isoformat()})"
    if moment < earliest:
        return f"{moment.isoformat()} is before the earliest accepted {earliest.isoformat()}"
    return None


def import_csv(
    session: Session,
    *,
    survey: Survey,
    data: bytes | BinaryIO,
    scope: Sequence[str] | None = None,
    settings: Settings | None = None,
) -> int:
    """Check every row, then store all of them in one transaction; returns the count.

    ``data``: the file's bytes or a binary file object (read in chunks: memory stays flat at
    any size; the rows are staged in the database, see :mod:`app.surveys.staging`). Rows are
    numbered as a spreadsheet shows them (the header is row 1). ``scope``: the branches the
    importing key may write (None: every branch); a row of another branch is an error of that
    row. ``submitted_at`` must lie between ``settings.earliest_submitted_at`` and now +
    ``settings.clock_skew_s`` (default: :func:`app.config.get_settings`).
    """
    limits = settings or get_settings()
    spec = survey_spec(survey)
    stream = io.BytesIO(data) if isinstance(data, bytes | bytearray) else data
    _check_encoding(stream)
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    try:
        reader = csv.reader(text)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise _file_error("the file is empty") from None
        except csv.Error as exc:
            raise _file_error(f"unreadable CSV: {exc}") from None
        _check_header(spec, header)
        branches = branch_ids(session)
        session.commit()  # ends the read; staging runs on a connection of its own
        now = utcnow()
        window = (limits.earliest_submitted_at, now + timedelta(seconds=limits.clock_skew_s))
        parser = _ChunkParser(
            spec, header, branches, now, window, scope=scope, anonymous=survey.anonymous
        )
        sums = MomentSums(layout(survey))
        row_errors: list[dict[str, Any]] = []
        with Staging(session.get_bind()) as stage:
            parser.sqlite = stage.dialect != "postgresql"
            try:
                while True:
                    records = list(islice(reader, CHUNK))
                    if not records:
                        break
                    staged, checked, errors = parser.parse(records)
                    row_errors += errors
                    stage.write(staged)
                    if not row_errors:  # moments only matter when everything is stored
                        sums.add_cells(*checked)
            except csv.Error as exc:
                raise _file_error(f"unreadable CSV: {exc}") from None
            duplicates, stored = stage.problems()
            for row, first in duplicates:
                msg = f"duplicate id (also on row {first})"
                row_errors.append({"row": row, "errors": [field_error("id", msg=msg)]})
            repeated = {row for row, _ in duplicates}
            for row in stored:
                if row not in repeated:
                    msg = "already stored"
                    row_errors.append({"row": row, "errors": [field_error("id", msg=msg)]})
            if row_errors:
                row_errors.sort(key=lambda e: e["row"])
                raise InvalidInput(row_errors)  # the error handler shows 100, counts the rest
            return stage.publish(survey=survey, moments=sums.moments())
    finally:
        text.detach()  # the caller's file object stays open


def _check_encoding(stream: BinaryIO, block: int = 1 << 20) -> None:
    """UTF-8 (a BOM is tolerated), checked in blocks; anything else is refused with the
    offending byte offset. Leaves ``stream`` at its start."""
    head = stream.read(2)
    if head in (b"\xff\xfe", b"\xfe\xff"):
        raise _file_error("the file is UTF-16; save it as UTF-8")
    stream.seek(0)
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    while True:
        chunk = stream.read(block)
        try:
            decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            start = offset + exc.start - len(decoder.getstate()[0])
            raise _file_error(
                f"the file is not valid UTF-8 (byte {max(start, 0)}); save it as UTF-8"
            ) from None
        if not chunk:
            break
        offset += len(chunk)
    stream.seek(0)


def _check_header(spec: InstrumentSpec, header: list[str]) -> None:
    required = ["branch", *spec.item_codes]
    # Sets and one Counter: linear in the number of columns (F11: 80,000 columns took 48 s).
    present, known = set(header), {*required, *OPTIONAL_COLUMNS, *spec.attribute_codes}
    missing = [c for c in required if c not in present]
    extra = list(dict.fromkeys(c for c in header if c not in known))
    dupes = sorted(c for c, n in Counter(header).items() if n > 1)
    problems = []
    for label, names in (("missing", missing), ("unknown", extra), ("duplicate", dupes)):
        if names:
            problems.append(field_error("columns", msg=f"{label} columns: {_names(names)}"))
    if problems:
        raise InvalidInput(problems)


_MEMO_LIMIT = 10_000  # distinct cells remembered per column (valid answers are few)
_INVALID: Any = object()  # a memo's mark of a cell that fails its check


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class _Checked:
    """A chunk's columns as checked by :meth:`_ChunkParser._check_columns`, one entry per row
    (memo values: ``(id,)`` of a branch, ``(values, json, value tuple)`` of attributes, ``(code,)``
    of a language, ``(value, json, number)`` of an answer)."""

    branch_ids: list[Any]
    attributes: list[Any]
    langs: list[Any]
    answers: list[list[Any]]
    texts: list[dict[str, str]]
    times: list[datetime]
    ids: list[str]
    measures: list[dict[str, Any]]

    def row(self, k: int) -> dict[str, Any]:
        """Row ``k`` as the values of a Response (before staging)."""
        cells = [a[k] for a in self.answers]
        return {
            "id": self.ids[k],
            "branch_id": self.branch_ids[k],
            "submitted_at": self.times[k],
            "attributes_json": self.attributes[k][1],
            "values": self.attributes[k][2],
            "lang": self.langs[k][0],
            "answers_json": "[" + ",".join([c[1] for c in cells]) + "]",
            "numbers": [c[2] for c in cells],
            "texts": self.texts[k] or None,
            **self.measures[k],
        }


class _ChunkParser:
    """Checks CSV records a chunk at a time, column by column, compiled once per import.

    Each column keeps a memo from cell text to its checked form (an answer column: the stored
    value, its JSON token and its number for the aggregates), so a column of a chunk is
    checked by one ``map`` over its cells and a new cell text is checked once, by the rules of
    :mod:`app.surveys.validation`. A row with any cell that fails goes through
    :func:`_parse_row`, which lists every problem by field, as before.
    """

    def __init__(
        self,
        spec: InstrumentSpec,
        header: list[str],
        branches: dict[str, int],
        now: datetime,
        window: tuple[datetime, datetime],
        *,
        scope: Sequence[str] | None,
        anonymous: bool,
    ) -> None:
        self.spec, self.header, self.branches = spec, header, branches
        self.now, self.window, self.anonymous = now, window, anonymous
        self.scope = None if scope is None else frozenset(scope)
        self.sqlite = True  # how ids and times are staged (set from the staging dialect)
        self.number = 2  # the next record's row number (the header is row 1)
        where = {name: k for k, name in enumerate(header)}
        self.width = len(header)
        self.branch_at = where["branch"]
        self.id_at = where.get("id")
        self.time_at = where.get("submitted_at")
        self.lang_at = where.get("lang")
        self.quality_at = {n: where[n] for n in quality.QUALITY_COLUMNS if n in where}
        self.attr_at = [where[a] for a in spec.attribute_codes if a in where]
        self.attr_codes = [a for a in spec.attribute_codes if a in where]
        multiple = set(_multiple_codes(spec))
        self.items: list[tuple[int, str, bool, dict[str, Any]]] = [
            (where[code], code, code in multiple, {}) for code in spec.answer_codes
        ]
        self.texts = [(where[code], code) for code in spec.text_codes]
        self.branch_memo: dict[str, Any] = {}
        self.attr_memo: dict[tuple[str, ...], Any] = {}
        self.lang_memo: dict[str, Any] = {}

    # ---- one column's cells, checked once per distinct text ---------------------------------
    def _answer(self, memo: dict[str, Any], code: str, multiple: bool, cell: str) -> Any:
        found = memo.get(cell)
        if found is None:
            raw = _choices(cell) if multiple else cell
            value, problem = check_answer(self.spec, code, raw)
            if problem is not None:
                found = _INVALID
            else:
                number = float("nan") if value is None or value == NA else float(value)
                found = (value, _json(value), number)
            if len(memo) < _MEMO_LIMIT:
                memo[cell] = found
        return found

    def _branch(self, cell: str) -> Any:
        found = self.branch_memo.get(cell)
        if found is None:
            code = cell.strip()
            found = self.branches.get(code, _INVALID)
            if self.scope is not None and code not in self.scope:
                found = _INVALID
            if len(self.branch_memo) < _MEMO_LIMIT:
                self.branch_memo[cell] = found
        return found

    def _attributes(self, key: tuple[str, ...]) -> Any:
        found = self.attr_memo.get(key)
        if found is None:
            values, errors = check_attributes(
                self.spec, dict(zip(self.attr_codes, key, strict=True))
            )
            if errors:
                found = _INVALID
            else:
                found = (
                    values,
                    _json(values),
                    tuple(values.get(a, "") for a in self.spec.attribute_codes),
                )
            if len(self.attr_memo) < _MEMO_LIMIT:
                self.attr_memo[key] = found
        return found

    def _lang(self, cell: str) -> Any:
        found = self.lang_memo.get(cell)
        if found is None:
            lang, errors = check_lang(self.spec, cell)
            found = _INVALID if errors else (lang,)
            if len(self.lang_memo) < _MEMO_LIMIT:
                self.lang_memo[cell] = found
        return found

    def _column(self, cells: Sequence[Any], memo: dict[Any, Any], check: Any) -> list[Any]:
        found = list(map(memo.get, cells))
        if None in found:  # texts not seen before in this column: check each once
            found = [check(c) for c in cells]
        return found

    # ---- a chunk -----------------------------------------------------------------------------
    def parse(
        self, records: list[list[str]]
    ) -> tuple[list[tuple[Any, ...]], tuple[list[Any], Any], list[dict[str, Any]]]:
        """``(staged rows, (aggregate cells, answers as numbers), row errors)`` of consecutive
        records; see :class:`app.reporting.aggregates.MomentSums` for the middle one."""
        numbers, kept, errors = self._split_records(records)
        if not kept:
            return [], ([], np.zeros((0, len(self.items)))), errors
        columns = list(zip(*kept, strict=True))
        bad: set[int] = set()
        checked = self._check_columns(columns, len(kept), bad)
        slow = self._slow_rows(kept, numbers, bad, errors)
        staged: list[tuple[Any, ...]] = []
        groups: list[Any] = []
        scores: list[list[float]] = []
        for k, number in enumerate(numbers):  # staged even after errors: ids are checked
            row = slow.get(k)
            if row is None and k in bad:
                continue
            if row is None:
                row = checked.row(k)
            if self.anonymous:
                row["submitted_at"] = day_start(row["submitted_at"])
                row["duration_seconds"] = quality.stored_duration(
                    row.get("duration_seconds"), anonymous=True
                )
            moment = row["submitted_at"]
            groups.append(
                (row["branch_id"], f"{moment.year:04d}-{moment.month:02d}", row["values"])
            )
            scores.append(row["numbers"])
            staged.append(self._staged(number, row))
        matrix = np.array(scores, dtype=float).reshape(len(scores), len(self.items))
        return staged, (groups, matrix), errors

    def _split_records(
        self, records: list[list[str]]
    ) -> tuple[list[int], list[list[str]], list[dict[str, Any]]]:
        """``(row numbers, records, errors)``: blank lines skipped, records of the wrong width
        reported; the row counter moves past every record."""
        errors: list[dict[str, Any]] = []
        numbers, kept = [], []
        for record in records:
            number = self.number
            self.number += 1
            if not record or (len(record) == 1 and not record[0].strip()):
                continue  # blank line
            if len(record) != self.width:
                msg = f"expected {self.width} fields, found {len(record)}"
                errors.append({"row": number, "errors": [field_error("row", msg=msg)]})
                continue
            numbers.append(number)
            kept.append(record)
        return numbers, kept, errors

    def _check_columns(self, columns: list[tuple[str, ...]], size: int, bad: set[int]) -> _Checked:
        """Every column checked at once through the memos (each distinct text once); the
        positions of rows with any failing cell are added to ``bad``."""

        def invalid(found: list[Any]) -> None:
            if _INVALID in found:
                bad.update(k for k, f in enumerate(found) if f is _INVALID)

        branch_ids = self._column(columns[self.branch_at], self.branch_memo, self._branch)
        invalid(branch_ids)
        if self.attr_at:
            keys = list(zip(*(columns[k] for k in self.attr_at), strict=True))
        else:
            keys = [()] * size
        attributes = self._column(keys, self.attr_memo, self._attributes)
        invalid(attributes)
        if self.lang_at is not None:
            langs = self._column(columns[self.lang_at], self.lang_memo, self._lang)
            invalid(langs)
        else:
            langs = [(None,)] * size
        answers = []
        for at, code, multiple, memo in self.items:
            found = self._column(
                columns[at], memo, lambda c, m=memo, i=code, x=multiple: self._answer(m, i, x, c)
            )
            invalid(found)
            answers.append(found)
        texts: list[dict[str, str]] = [{} for _ in range(size)]
        for at, code in self.texts:
            for k, cell in enumerate(columns[at]):
                value, problem = check_answer(self.spec, code, cell)
                if problem is not None:
                    bad.add(k)
                elif isinstance(value, str):
                    texts[k][code] = value
        times = self._times(columns, bad)
        ids = self._ids(columns, bad)
        measures = self._measures(columns, bad)
        return _Checked(branch_ids, attributes, langs, answers, texts, times, ids, measures)

    def _slow_rows(
        self,
        kept: list[list[str]],
        numbers: list[int],
        bad: set[int],
        errors: list[dict[str, Any]],
    ) -> dict[int, dict[str, Any]]:
        """The rows that failed a column check, checked again one by one: their problems
        appended to ``errors``; ``{position: row}`` of those that pass after all."""
        slow: dict[int, dict[str, Any]] = {}
        for k in sorted(bad):
            row, problems = self._slow(kept[k])
            if problems:
                errors.append({"row": numbers[k], "errors": problems})
            elif row is not None:
                slow[k] = row
        return slow

    def _measures(self, columns: list[tuple[str, ...]], bad: set[int]) -> list[dict[str, Any]]:
        """Each row's imported quality columns (time to complete, flags) as Response values."""
        if not self.quality_at:
            return [{} for _ in columns[0]]
        out = []
        for k in range(len(columns[0])):
            cells = {name: columns[at][k] for name, at in self.quality_at.items()}
            measured, problems = quality.parse_imported(cells)
            if problems:
                bad.add(k)
            out.append(measured)
        return out

    def _times(self, columns: list[tuple[str, ...]], bad: set[int]) -> list[datetime]:
        if self.time_at is None:
            return [self.now] * len(columns[0])
        out = []
        for k, cell in enumerate(columns[self.time_at]):
            moment = self.now
            if cell.strip():
                try:
                    moment = _parse_time(cell)
                except ValueError:
                    bad.add(k)
                else:
                    if _time_error(moment, self.window) is not None:
                        bad.add(k)
            out.append(moment)
        return out

    def _ids(self, columns: list[tuple[str, ...]], bad: set[int]) -> list[str]:
        """Each row's id as 32 hex digits (what SQLite stores; PostgreSQL reads it too): the
        given one, else a new random (version 4) UUID, made for the whole chunk at once."""
        size = len(columns[0])
        raw = np.frombuffer(os.urandom(16 * size), dtype=np.uint8).reshape(size, 16).copy()
        raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
        raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
        text = raw.tobytes().hex()
        out = [text[32 * k : 32 * k + 32] for k in range(size)]
        if self.id_at is not None:
            for k, cell in enumerate(columns[self.id_at]):
                if cell.strip():
                    try:
                        out[k] = uuid.UUID(cell.strip()).hex
                    except ValueError:
                        bad.add(k)
        return out

    def _slow(self, record: list[str]) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        cells = dict(zip(self.header, record, strict=True))
        row, errors = _parse_row(self.spec, cells, self.branches, self.now, self.window)
        branch = cells["branch"].strip()
        if self.scope is not None and branch in self.branches and branch not in self.scope:
            errors.append(field_error("branch", msg=f"branch {branch} is outside this key's scope"))
            row = None
        if errors or row is None:
            return None, errors
        attrs = row["attributes"]
        row["attributes_json"] = _json(attrs)
        row["values"] = tuple(
            "" if attrs.get(a) is None else str(attrs[a]) for a in self.spec.attribute_codes
        )
        row["answers_json"] = _json(row["answers"])
        row["numbers"] = [
            float("nan") if v is None or v == NA else float(v) for v in row["answers"]
        ]
        return row, []

    def _staged(self, number: int, row: dict[str, Any]) -> tuple[Any, ...]:
        moment: datetime = row["submitted_at"]
        texts = row["texts"]
        ident = row["id"] if isinstance(row["id"], str) else row["id"].hex
        if self.sqlite:  # as SQLAlchemy stores them on SQLite: UTC wall-clock text
            when = moment.replace(tzinfo=None).isoformat(" ", "microseconds")
        else:
            when = moment.isoformat()
        return (
            number,
            ident,
            row["branch_id"],
            when,
            row["attributes_json"],
            row["lang"],
            row["answers_json"],
            _json(texts) if texts else None,
            row.get("duration_seconds"),
            _json(row["flags"]) if row.get("flags") else None,
            bool(row.get("flagged", False)),
        )


def _names(names: list[str], shown: int = 20) -> str:
    """A column list for an error message: the first ``shown`` names and how many more."""
    text = ", ".join(n[:40] for n in names[:shown])
    return text + (f" and {len(names) - shown} more" if len(names) > shown else "")


def _parse_row(
    spec: InstrumentSpec,
    cells: dict[str, str],
    branches: dict[str, int],
    now: datetime,
    window: tuple[datetime, datetime],
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    errors: list[dict[str, Any]] = []
    branch = cells["branch"].strip()
    if branch not in branches:
        errors.append(field_error("branch", msg=f"unknown branch {branch!r}"))
    given: dict[str, Any] = {c: cells[c] for c in spec.item_codes}
    for code in _multiple_codes(spec):
        given[code] = _choices(given[code])
    answers, texts, answer_errors = check_answers(spec, given, prefix=None)
    attributes, attribute_errors = check_attributes(
        spec,
        {a: cells.get(a) for a in spec.attribute_codes},
        at={a: (a,) for a in spec.attribute_codes},
    )
    lang, lang_errors = check_lang(spec, cells.get("lang"))
    errors += answer_errors + attribute_errors + lang_errors
    response_id = uuid.uuid4()
    if cells.get("id", "").strip():
        try:
            response_id = uuid.UUID(cells["id"].strip())
        except ValueError:
            errors.append(field_error("id", msg="not a UUID"))
    submitted_at = now
    if cells.get("submitted_at", "").strip():
        try:
            submitted_at = _parse_time(cells["submitted_at"])
        except ValueError:
            errors.append(field_error("submitted_at", msg="not an ISO 8601 date-time"))
        else:
            if (problem := _time_error(submitted_at, window)) is not None:
                errors.append(field_error("submitted_at", msg=problem))
    measured, quality_errors = quality.parse_imported(cells)
    errors += quality_errors
    if errors:
        return None, errors
    return measured | {
        "id": response_id,
        "branch_id": branches[branch],
        "submitted_at": submitted_at,
        "attributes": attributes,
        "lang": lang,
        "channel": "import",
        "answers": answers,
        "texts": texts or None,
    }, []


def _multiple_codes(spec: InstrumentSpec) -> list[str]:
    return [i.code for i in spec.items if i.type == "multiple"]


def _choices(cell: str) -> str | list[str]:
    """A multiple-choice cell as the API takes it: ``a;c`` -> ["a", "c"], empty -> []."""
    text = cell.strip()
    if text.lower() in NA_STRINGS:
        return NA
    return text.split(";") if text else []


def _existing_ids(session: Session, ids: dict[uuid.UUID, int]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    keys = list(ids)
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        for existing in session.scalars(select(Response.id).where(Response.id.in_(chunk))):
            found.append(
                {"row": ids[existing], "errors": [field_error("id", msg="already stored")]}
            )
    return found


def export_csv(
    session: Session,
    *,
    survey: Survey,
    filters: ResponseFilters | None = None,
    branches: list[str] | None = None,
) -> str:
    """The responses as CSV in the format of the module docstring (in memory: small exports and
    tests; the API streams :func:`iter_export_csv`)."""
    return "".join(iter_export_csv(session, survey=survey, filters=filters, branches=branches))


def iter_export_csv(
    session: Session,
    *,
    survey: Survey,
    filters: ResponseFilters | None = None,
    branches: list[str] | None = None,
    chunk: int = EXPORT_CHUNK,
) -> Iterator[str]:
    """:func:`export_csv`'s text in pieces of at most ``chunk`` rows (the header with the first):
    memory stays at one chunk whatever the number of responses."""
    spec = survey_spec(survey)
    header = True
    for frame in iter_stored_frames(
        session, survey=survey, filters=filters, branches=branches, chunk=chunk
    ):
        measures = quality.export_columns(session, survey=survey, ids=frame["id"])
        table = export_table(spec, frame, measures)
        yield table.to_csv(index=False, header=header, lineterminator="\n")
        header = False


def export_columns(spec: InstrumentSpec) -> list[str]:
    """The CSV export's columns, in order (the one list the CSV and XLSX exports use)."""
    return [*frame_columns(spec), *spec.item_codes, *quality.QUALITY_COLUMNS]


def export_table(
    spec: InstrumentSpec, frame: pd.DataFrame, measures: dict[str, pd.Series]
) -> pd.DataFrame:
    """Stored-frame rows (:func:`app.surveys.frames.load_stored_frame`) as the export's cells;
    ``measures`` are their quality columns (:func:`app.surveys.quality.export_columns`)."""
    out = frame[frame_columns(spec)].copy()
    out["submitted_at"] = frame["submitted_at"].map(lambda t: t.isoformat())
    items: dict[str, pd.Series] = {}
    for item in spec.items:
        column = frame[item.code]
        if item.type == "text":
            items[item.code] = column.where(column.notna(), "")
        else:  # few distinct stored values: convert each once
            cells = {token: _cell(item, token) for token in pd.unique(column)}
            items[item.code] = column.map(cells)
    table = pd.concat(
        [out, pd.DataFrame(items, index=out.index), pd.DataFrame(measures, index=out.index)],
        axis=1,
    )
    return table[export_columns(spec)]


def _cell(item: ItemSpec, token: str) -> str:
    """One stored answer (a JSON token: ``5``, ``"na"`` unquoted, ``null``) as a CSV cell."""
    if token == "null":
        return ""
    if token == NA:
        return "NA"
    value = int(token)
    if item.type == "single":
        return item.options[value - 1].code
    if item.type == "multiple":
        return ";".join(o.code for k, o in enumerate(item.options) if value >> k & 1)
    return str(value)
