"""The item frame: every statistics consumer reads survey data through :func:`load_item_frame`."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from sqlalchemy import String, Text, cast, func, literal, select
from sqlalchemy.orm import Session

from app.instruments.spec import InstrumentSpec
from app.surveys.models import Branch, Response, Survey
from app.surveys.schemas import ResponseFilters
from app.surveys.specs import survey_spec

# Columns of every item frame before the instrument's attributes and items.
META_COLUMNS = ["id", "submitted_at", "branch", "lang"]


ATTRIBUTES = "__attributes__"


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
    column per respondent attribute of the instrument (None = not given) and one float column
    per answer code (NaN = N/A or missing), in instrument order, sorted by submission time.
    ``branches`` (a key's scope) and ``filters.branch`` both restrict the branches;
    ``submitted_to`` is inclusive.
    """
    spec = survey_spec(survey)
    codes = spec.answer_codes
    # The database renders each response as one CSV line (meta fields are codes without commas:
    # branch codes are validated; the attributes' JSON is quoted as a CSV field), and pandas' C
    # parser reads them all at once: no per-row Python objects beyond one string.
    answers = cast(Response.answers, Text)
    attributes = literal('"') + func.replace(cast(Response.attributes, Text), '"', '""') + '"'
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
        + attributes
        + sep
        + func.substr(answers, 2, func.length(answers) - 2)
    )
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
    result = session.connection().execute(query)
    try:
        # Plain DB-API tuples: the one column is text, so there is nothing for SQLAlchemy to do.
        rows = result.cursor.fetchall() if result.cursor is not None else []
    finally:
        result.close()
    return _parse_lines([r[0] for r in rows], spec.attribute_codes, codes)


def as_utc(moment: datetime) -> datetime:
    """Aware UTC (naive input is taken as UTC): SQLite stores the wall-clock fields only."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _uuid_text(ids: list[str]) -> pd.Series:
    """Canonical dashed UUID text (SQLite stores 32 hex digits, PostgreSQL prints dashes)."""
    if ids and ids[0].count("-") != 4:
        ids = [f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}" for h in ids]
    return pd.Series(ids, dtype=object)


def _parse_lines(lines: list[str], attributes: list[str], codes: list[str]) -> pd.DataFrame:
    names = [*META_COLUMNS, ATTRIBUTES, *codes]
    if not lines:
        columns = [*META_COLUMNS[:-1], *attributes, META_COLUMNS[-1]]
        frame = pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
        frame["submitted_at"] = pd.to_datetime(frame["submitted_at"], utc=True)
        for code in codes:
            frame[code] = pd.Series(dtype=np.float64)
        return frame
    frame = pd.read_csv(
        io.StringIO("\n".join(lines)),
        header=None,
        names=names,
        dtype={
            **{c: object for c in [*META_COLUMNS, ATTRIBUTES]},
            **{c: np.float64 for c in codes},
        },
        na_values={c: ["null"] for c in codes},
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
    return frame
