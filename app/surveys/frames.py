"""The item frame: every statistics consumer reads survey data through :func:`load_item_frame`."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Select, String, Text, cast, func, literal, select
from sqlalchemy.orm import Session

from app.instruments.spec import InstrumentSpec
from app.surveys.models import Branch, Response, Survey
from app.surveys.schemas import ResponseFilters
from app.surveys.specs import survey_spec

# Columns of every item frame before the instrument's attributes and items.
META_COLUMNS = ["id", "submitted_at", "branch", "lang"]


ATTRIBUTES = "__attributes__"
TEXTS = "__texts__"
# Rows per frame of a streamed export: ~10 MB of lines, parsed by pandas in one call.
EXPORT_CHUNK = 50_000


def frame_columns(spec: InstrumentSpec) -> list[str]:
    """Meta columns and the instrument's attributes (before ``lang``, as API v1's export had
    them): every column of a frame but the items."""
    return [*META_COLUMNS[:-1], *spec.attribute_codes, META_COLUMNS[-1]]


def load_item_frame(
    session: Session,
    *,
    survey: Survey,
    filters: ResponseFilters | None = None,
    branches: list[str] | None = None,
) -> pd.DataFrame:
    """All responses of ``survey`` as one row each: ``id, submitted_at, branch, lang``, one
    column per respondent attribute of the instrument (None = not given), one float column per
    answer code (``spec.answer_codes``: the number for scale/nps items, the option's position
    for single and the bit mask for multiple choice; NaN = not applicable or not answered),
    then, only if the instrument has open-text items, one object column per text item (None =
    not answered); sorted by submission time. ``branches`` (a key's scope) and
    ``filters.branch`` both restrict the branches; ``submitted_to`` is inclusive;
    ``filters.exclude_flagged`` leaves out responses with a quality flag (the one place every
    analysis's ``exclude_flagged`` is applied). Partial responses are never read.
    """
    spec = survey_spec(survey)
    lines = _lines(session, survey=survey, spec=spec, filters=filters, branches=branches)
    return _parse_lines(lines, spec, stored=False)


def load_stored_frame(
    session: Session,
    *,
    survey: Survey,
    filters: ResponseFilters | None = None,
    branches: list[str] | None = None,
) -> pd.DataFrame:
    """:func:`load_item_frame`'s rows and columns with the answers as stored, as text tokens
    (``"5"``, ``"na"`` = not applicable, ``"null"`` = not answered): the CSV export's input,
    which must tell the two kinds of missing apart."""
    spec = survey_spec(survey)
    lines = _lines(session, survey=survey, spec=spec, filters=filters, branches=branches)
    return _parse_lines(lines, spec, stored=True)


def _quoted(text: Any) -> Any:
    """A JSON text as one quoted CSV field (JSON text never holds a raw newline)."""
    return literal('"') + func.replace(text, '"', '""') + '"'


def _lines_query(
    survey: Survey,
    spec: InstrumentSpec,
    filters: ResponseFilters | None,
    branches: list[str] | None,
) -> Select[Any]:
    # The database renders each response as one CSV line (meta fields are codes without commas:
    # branch codes are validated; the attributes' and texts' JSON are quoted as CSV fields), and
    # pandas' C parser reads them all at once: no per-row Python objects beyond one string.
    answers = cast(Response.answers, Text)
    sep = literal(",")
    line = (
        cast(Response.id, String)
        + sep
        + cast(Response.submitted_at, String)
        + sep
        + Branch.code
        + sep
        + func.coalesce(Response.lang, "")
        + sep
        + _quoted(cast(Response.attributes, Text))
    )
    if spec.text_codes:  # only then: instruments without open text keep the short line
        line = line + sep + _quoted(func.coalesce(cast(Response.texts, Text), "null"))
    line = line + sep + func.substr(answers, 2, func.length(answers) - 2)
    query = (
        select(line)
        .select_from(Response)
        .join(Branch, Branch.id == Response.branch_id)
        .where(Response.survey_id == survey.id)
        .order_by(Response.submitted_at, Response.id)
    )
    if branches is not None:
        query = query.where(Branch.code.in_(branches))
    if filters is not None:
        if filters.branch:
            query = query.where(Branch.code.in_(filters.branch))
        if filters.submitted_from is not None:
            query = query.where(Response.submitted_at >= as_utc(filters.submitted_from))
        if filters.submitted_to is not None:
            query = query.where(Response.submitted_at <= as_utc(filters.submitted_to))
        if filters.exclude_flagged:
            query = query.where(Response.flagged.is_(False))
    return query


def _lines(
    session: Session,
    *,
    survey: Survey,
    spec: InstrumentSpec,
    filters: ResponseFilters | None,
    branches: list[str] | None,
) -> list[str]:
    result = session.connection().execute(_lines_query(survey, spec, filters, branches))
    try:
        # Plain DB-API tuples: the one column is text, so there is nothing for SQLAlchemy to do.
        rows = result.cursor.fetchall() if result.cursor is not None else []
    finally:
        result.close()
    return [r[0] for r in rows]


def count_stored(
    session: Session,
    *,
    survey: Survey,
    filters: ResponseFilters | None = None,
    branches: list[str] | None = None,
) -> int:
    """How many rows :func:`iter_stored_frames` yields for the same arguments (in the same
    transaction: the count and the rows come from one snapshot, see :func:`snapshot`)."""
    query = _lines_query(survey, survey_spec(survey), filters, branches).order_by(None)
    return int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)


def snapshot(session: Session) -> None:
    """Start a read transaction whose reads all see one snapshot: PostgreSQL's REPEATABLE READ
    (its default READ COMMITTED takes a new snapshot per statement); SQLite's read transaction
    already does. Call before the first statement of the session's transaction."""
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def iter_stored_frames(
    session: Session,
    *,
    survey: Survey,
    filters: ResponseFilters | None = None,
    branches: list[str] | None = None,
    chunk: int = EXPORT_CHUNK,
) -> Iterator[pd.DataFrame]:
    """:func:`load_stored_frame`'s rows in frames of at most ``chunk`` rows, in the same order,
    read through a server-side cursor (PostgreSQL) or SQLite's stepping cursor: memory stays at
    one chunk whatever the number of responses. Yields one empty frame when there is no row
    (so a consumer always sees the columns)."""
    spec = survey_spec(survey)
    query = _lines_query(survey, spec, filters, branches)
    connection = session.connection()
    # Per statement: Connection.execution_options() would change the session's connection.
    result = connection.execute(
        query, execution_options={"stream_results": True, "yield_per": chunk}
    )
    try:
        first = True
        # Through the Result (not its raw cursor): the streaming strategy buffers rows ahead.
        for rows in result.partitions(chunk):
            first = False
            yield _parse_lines([r[0] for r in rows], spec, stored=True)
        if first:
            yield _parse_lines([], spec, stored=True)
    finally:
        result.close()


def as_utc(moment: datetime) -> datetime:
    """Aware UTC (naive input is taken as UTC): SQLite stores the wall-clock fields only.

    A moment whose UTC time falls outside datetime's years 1-9999 (``0001-01-01T00:00+05:00``)
    becomes the first or last representable instant, instead of an OverflowError (a 500 on
    any date filter)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        edge = datetime.min if moment.year == 1 else datetime.max
        return edge.replace(tzinfo=UTC)


def _uuid_text(ids: list[str]) -> pd.Series:
    """Canonical dashed UUID text (SQLite stores 32 hex digits, PostgreSQL prints dashes)."""
    if ids and ids[0].count("-") != 4:
        ids = [f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}" for h in ids]
    return pd.Series(ids, dtype=object)


def _parse_lines(lines: list[str], spec: InstrumentSpec, *, stored: bool) -> pd.DataFrame:
    attributes, codes, texts = spec.attribute_codes, spec.answer_codes, spec.text_codes
    answer_type: Any = object if stored else np.float64
    if not lines:
        columns = [*META_COLUMNS[:-1], *attributes, META_COLUMNS[-1]]
        frame = pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
        frame["submitted_at"] = pd.to_datetime(frame["submitted_at"], utc=True)
        for code in codes:
            frame[code] = pd.Series(dtype=answer_type)
        for code in texts:
            frame[code] = pd.Series(dtype=object)
        return frame
    meta = [*META_COLUMNS, ATTRIBUTES, *([TEXTS] if texts else [])]
    frame = pd.read_csv(
        io.StringIO("\n".join(lines)),
        header=None,
        names=[*meta, *codes],
        dtype={**dict.fromkeys(meta, object), **dict.fromkeys(codes, answer_type)},
        # Not applicable ("na", quoted in the JSON) and not answered (null) are both missing.
        na_values={} if stored else {c: ["null", "na"] for c in codes},
        keep_default_na=False,
        skipinitialspace=True,
    )
    frame["lang"] = frame["lang"].where(frame["lang"] != "", None)
    frame["id"] = _uuid_text(frame["id"].tolist())
    frame["submitted_at"] = pd.to_datetime(frame["submitted_at"], utc=True, format="ISO8601")
    # Few distinct attribute combinations: parse each JSON text once.
    raw = frame.pop(ATTRIBUTES)
    parsed = {text: json.loads(text or "{}") or {} for text in pd.unique(raw)}
    position = len(META_COLUMNS) - 1
    for k, code in enumerate(attributes):
        values = raw.map({text: attrs.get(code) for text, attrs in parsed.items()})
        frame.insert(position + k, code, values.astype(object).where(values.notna(), None))
    if texts:
        # One JSON document for all rows: one decoder call instead of one per response.
        column = frame.pop(TEXTS).tolist()
        answered = [t or {} for t in json.loads("[" + ",".join(t or "null" for t in column) + "]")]
        for code in texts:
            frame[code] = pd.Series([a.get(code) for a in answered], dtype=object)
    return frame
