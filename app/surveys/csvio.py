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

import csv
import io
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.config import Settings, get_settings
from app.db import begin_write
from app.errors import Conflict, InvalidInput, field_error
from app.instruments.spec import InstrumentSpec, ItemSpec
from app.surveys import quality
from app.surveys.models import Response, Survey, utcnow
from app.surveys.schemas import ResponseFilters
from app.surveys.service import (
    as_utc,
    branch_ids,
    day_start,
    frame_columns,
    insert_responses,
    load_stored_frame,
    survey_spec,
)
from app.surveys.validation import NA, NA_STRINGS, check_answers, check_attributes, check_lang

OPTIONAL_COLUMNS = ("id", "submitted_at", "lang", *quality.QUALITY_COLUMNS)
CHUNK = 5_000


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
    data: bytes,
    scope: Sequence[str] | None = None,
    settings: Settings | None = None,
) -> int:
    """Validate every row, then insert all of them in one transaction; returns the count.

    Rows are numbered as a spreadsheet shows them (the header is row 1). ``scope``: the
    branches the importing key may write (None: every branch); a row of another branch is an
    error of that row. ``submitted_at`` must
    lie between ``settings.earliest_submitted_at`` and now + ``settings.clock_skew_s``
    (default: :func:`app.config.get_settings`).
    """
    limits = settings or get_settings()
    spec = survey_spec(survey)
    reader = csv.reader(io.StringIO(decode_csv(data), newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise _file_error("the file is empty") from None
    except csv.Error as exc:
        raise _file_error(f"unreadable CSV: {exc}") from None
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

    branches = branch_ids(session)
    now = utcnow()
    window = (limits.earliest_submitted_at, now + timedelta(seconds=limits.clock_skew_s))
    rows: list[dict[str, Any]] = []
    row_errors: list[dict[str, Any]] = []
    seen_ids: dict[uuid.UUID, int] = {}
    try:
        for number, record in enumerate(reader, start=2):
            if not record or (len(record) == 1 and not record[0].strip()):
                continue  # blank line
            if len(record) != len(header):
                msg = f"expected {len(header)} fields, found {len(record)}"
                row_errors.append({"row": number, "errors": [field_error("row", msg=msg)]})
                continue
            cells = dict(zip(header, record, strict=True))
            row, errors = _parse_row(spec, cells, branches, now, window)
            branch = cells["branch"].strip()
            if scope is not None and branch in branches and branch not in scope:
                errors.append(
                    field_error("branch", msg=f"branch {branch} is outside this key's scope")
                )
                row = None
            if row is not None and row["id"] in seen_ids:
                errors.append(
                    field_error("id", msg=f"duplicate id (also on row {seen_ids[row['id']]})")
                )
            if errors:
                row_errors.append({"row": number, "errors": errors})
            elif row is not None:
                seen_ids[row["id"]] = number
                rows.append(row)
    except csv.Error as exc:
        raise _file_error(f"unreadable CSV: {exc}") from None
    row_errors += _existing_ids(session, seen_ids)
    if row_errors:
        row_errors.sort(key=lambda e: e["row"])
        raise InvalidInput(row_errors)  # the error handler shows 100 and counts the rest
    if survey.anonymous:
        for row in rows:
            row["submitted_at"] = day_start(row["submitted_at"])
            row["duration_seconds"] = quality.stored_duration(
                row.get("duration_seconds"), anonymous=True
            )
    begin_write(session)  # validation above only read; the write lock is held for the inserts
    try:
        for start in range(0, len(rows), CHUNK):
            insert_responses(session, survey=survey, rows=rows[start : start + CHUNK])
        session.commit()
    except IntegrityError:  # an id stored concurrently since the check above
        session.rollback()
        raise Conflict("some ids in the file were stored meanwhile; nothing imported") from None
    return len(rows)


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
    """The responses as CSV in the format of the module docstring."""
    frame = load_stored_frame(session, survey=survey, filters=filters, branches=branches)
    spec = survey_spec(survey)
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
    extra = quality.export_columns(session, survey=survey, ids=frame["id"])
    table = pd.concat(
        [out, pd.DataFrame(items, index=out.index), pd.DataFrame(extra, index=out.index)], axis=1
    )
    return table.to_csv(index=False, lineterminator="\n")


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
