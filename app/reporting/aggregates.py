"""Maintained score aggregates: added to in the response insert's transaction, rebuildable.

``apply_responses`` is called by ``app.surveys.service.insert_responses`` (the single write path
for responses) with the rows it inserts, ``remove_responses`` by
``app.surveys.lifecycle.delete_responses`` (the single delete path) with the rows it deletes;
``rebuild`` recomputes everything from ``responses``
(``pvm aggregates rebuild``). ``read_cells`` reads the raw atomic cells the operators' pages
protect (``app.reporting.disclosure``). Months are calendar months of ``submitted_at`` in UTC.

A response adds to one cell per dimension: ``("*", "")`` (the whole branch-month) and
``(code, value)`` for every attribute the instrument declares (``""`` when the respondent has
none). Scored "constructs" are the instrument's constructs (mean of the answered items) and its
nps items (keyed by item code: 100 for 9-10, 0 for 7-8, -100 for 0-6).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, cast

import numpy as np
import pandas as pd
from sqlalchemy import Dialect, Table, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from app.reporting.models import COUNT_CONSTRUCT, DisclosureKey, ScoreCell
from app.stats.disclosure import ALL
from app.surveys.models import Response, Survey
from app.surveys.specs import survey_spec

logger = logging.getLogger(__name__)

REBUILD_CHUNK = 50_000
# Below this many rows plain Python beats numpy's per-call overhead (a submission is one row).
SMALL_BATCH = 32

# (dim, branch_id, month, key, construct) -> [n, sum, sumsq] of the respondents' scores.
Moments = dict[tuple[Any, ...], list[Any]]
# (branch_id, month, attribute values) -> index of the row group
Group = tuple[int, str, tuple[str, ...]]


@dataclass(frozen=True)
class Layout:
    """What a survey's responses add to: scored keys with their item positions in ``answers``
    (``nps`` keys score one 0-10 item as -100/0/100) and the attribute codes."""

    means: tuple[tuple[str, tuple[int, ...]], ...]
    nps: tuple[tuple[str, int], ...]
    attributes: tuple[str, ...]


_LAYOUTS: dict[tuple[str, int, str], Layout] = {}


def layout(survey: Survey) -> Layout:
    """The survey's :class:`Layout`, cached per pinned instrument version (whose content never
    changes), so the instrument is parsed once per process instead of once per submission."""
    inst = survey.instrument
    key = (inst.id, inst.version, inst.content_hash)
    found = _LAYOUTS.get(key)
    if found is None:
        spec = survey_spec(survey)
        where = {code: i for i, code in enumerate(spec.answer_codes)}
        found = Layout(
            means=tuple(
                (c, tuple(where[i] for i in items if i in where))
                for c, items in spec.construct_items.items()
            ),
            nps=tuple((i.code, where[i.code]) for i in spec.items if i.type == "nps"),
            attributes=tuple(spec.attribute_codes),
        )
        if len(_LAYOUTS) >= 256:  # many test databases in one process
            _LAYOUTS.clear()
        _LAYOUTS[key] = found
    return found


def _month(values: Iterable[Any]) -> list[str]:
    out = []
    for v in values:
        if v is None:
            v = datetime.now(UTC)
        elif isinstance(v, str):
            v = pd.Timestamp(v).to_pydatetime()
        if v.tzinfo is not None:
            v = v.astimezone(UTC)
        out.append(f"{v.year:04d}-{v.month:02d}")
    return out


def _attribute_values(row: dict[str, Any], codes: Sequence[str]) -> tuple[str, ...]:
    """The row's value of each attribute (``""`` when missing) from its ``attributes`` dict."""
    attrs = row.get("attributes") or {}
    return tuple("" if (v := attrs.get(c)) is None else str(v) for c in codes)


def cell_groups(rows: Sequence[dict[str, Any]], codes: Sequence[str]) -> list[Group]:
    """Each response row's atomic cell: ``(branch_id, month, attribute values)``."""
    months = _month(r.get("submitted_at") for r in rows)
    return [
        (int(r["branch_id"]), m, _attribute_values(r, codes))
        for r, m in zip(rows, months, strict=True)
    ]


def _add(out: dict[Any, list[Any]], key: Any, n: int, s: float, ss: float) -> None:
    cell = out.get(key)
    if cell is None:
        out[key] = [n, s, ss]
    else:
        cell[0] += n
        cell[1] += s
        cell[2] += ss


def _nps(v: float) -> float:
    return 100.0 if v >= 9 else (0.0 if v >= 7 else -100.0)


def cell_moments(
    rows: Sequence[dict[str, Any]], *, layout: Layout, out: Moments | None = None
) -> Moments:
    """Aggregate-table deltas of response rows, added to ``out`` (a new dict by default).

    A respondent's construct score is the mean of the construct's answered items (as in
    :func:`app.stats.scores.respondent_scores`); constructs with no answered item add nothing.
    ``COUNT_CONSTRUCT`` counts the rows, with ``sum``/``sumsq`` 0.
    """
    out = {} if out is None else out
    if not rows:
        return out
    per_group: dict[tuple[Group, str], list[Any]] = {}
    if len(rows) < SMALL_BATCH:
        _moments_small(rows, layout, per_group)
    else:
        _moments_bulk(rows, layout, per_group)
    for ((branch, month, values), construct), (n, s, ss) in per_group.items():
        _add(out, (ALL, branch, month, "", construct), n, s, ss)
        for code, value in zip(layout.attributes, values, strict=True):
            _add(out, (code, branch, month, value, construct), n, s, ss)
    return out


class MomentSums:
    """Moments of many rows summed chunk by chunk (a bulk import), per atomic cell in numpy
    arrays: adding a chunk costs a few vector operations however many cells it touches, and
    :meth:`moments` expands the sums to every dimension once at the end. The result equals
    :func:`cell_moments` over all the rows (up to floating-point summation order)."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.keys = [
            COUNT_CONSTRUCT,
            *(c for c, w in layout.means if w),
            *(i for i, _ in layout.nps),
        ]
        self.lookup: dict[Group, int] = {}
        self.sums = np.zeros((3, 0, len(self.keys)))  # n, sum, sumsq x group x key

    def add(self, rows: Sequence[dict[str, Any]]) -> None:
        """Add response rows (as :func:`cell_moments` takes them)."""
        if rows:
            self.add_cells(cell_groups(rows, self.layout.attributes), _answer_matrix(rows))

    def add_cells(self, groups: Sequence[Group], answers: np.ndarray) -> None:
        """Add responses given as their atomic cells and their answers as numbers (rows x
        answer codes; NaN = not applicable or not answered)."""
        if not len(groups):
            return
        lookup = self.lookup
        codes = np.fromiter(
            (lookup.setdefault(k, len(lookup)) for k in groups), dtype=np.intp, count=len(groups)
        )
        size = len(lookup)
        if size > self.sums.shape[1]:
            grown = np.zeros((3, max(size, 2 * self.sums.shape[1]), len(self.keys)))
            grown[:, : self.sums.shape[1]] = self.sums
            self.sums = grown
        width = self.sums.shape[1]
        self.sums[0, :, 0] += np.bincount(codes, minlength=width)
        for k, (ok, score) in enumerate(_matrix_scores(answers, self.layout), start=1):
            at = codes[ok]
            self.sums[0, :, k] += np.bincount(at, minlength=width)
            self.sums[1, :, k] += np.bincount(at, weights=score, minlength=width)
            self.sums[2, :, k] += np.bincount(at, weights=score * score, minlength=width)

    def moments(self) -> Moments:
        """The sums as :func:`cell_moments` keys them: every dimension of every cell."""
        out: Moments = {}
        groups = list(self.lookup)  # in index order
        sums = self.sums[:, : len(groups)]
        dims: list[tuple[str, list[tuple[int, str, str]]]] = [
            (ALL, [(b, m, "") for b, m, _ in groups])
        ]
        for a, code in enumerate(self.layout.attributes):
            dims.append((code, [(b, m, values[a]) for b, m, values in groups]))
        for dim, keys in dims:  # vector sums of the atomic cells into this dimension's cells
            index: dict[tuple[int, str, str], int] = {}
            codes = np.fromiter(
                (index.setdefault(k, len(index)) for k in keys), dtype=np.intp, count=len(keys)
            )
            total = np.zeros((3, len(index), len(self.keys)))
            for j in range(3):
                np.add.at(total[j], codes, sums[j])
            cells, scored = np.nonzero(total[0])
            cell_keys = list(index)
            for c, k, n, s, ss in zip(
                cells.tolist(),
                scored.tolist(),
                total[0][cells, scored].tolist(),
                total[1][cells, scored].tolist(),
                total[2][cells, scored].tolist(),
                strict=True,
            ):
                branch, month, value = cell_keys[c]
                out[(dim, branch, month, value, self.keys[k])] = [int(n), s, ss]
        return out


def _answer_matrix(rows: Sequence[dict[str, Any]]) -> np.ndarray:
    try:
        return np.array([r["answers"] for r in rows], dtype=float)  # None -> NaN
    except ValueError:  # "na" (not applicable) in some row: missing, like None
        return np.array(
            [[None if v == "na" else v for v in r["answers"]] for r in rows], dtype=float
        )


def _scores(rows: Sequence[dict[str, Any]], layout: Layout) -> list[tuple[np.ndarray, np.ndarray]]:
    return _matrix_scores(_answer_matrix(rows), layout)


def _matrix_scores(answers: np.ndarray, layout: Layout) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per scored key (means with items, then nps; :class:`MomentSums`' order): which rows
    have a score and their scores."""
    out = []
    for _, where in layout.means:
        if not where:
            continue
        block = answers[:, list(where)]
        answered = np.sum(~np.isnan(block), axis=1)
        ok = answered > 0
        out.append((ok, np.nansum(block[ok], axis=1) / answered[ok]))
    for _, i in layout.nps:
        col = answers[:, i]
        ok = ~np.isnan(col)
        out.append((ok, np.where(col[ok] >= 9, 100.0, np.where(col[ok] >= 7, 0.0, -100.0))))
    return out


def _moments_small(
    rows: Sequence[dict[str, Any]], layout: Layout, out: dict[tuple[Group, str], list[Any]]
) -> None:
    for g, row in zip(cell_groups(rows, layout.attributes), rows, strict=True):
        _add(out, (g, COUNT_CONSTRUCT), 1, 0.0, 0.0)
        answers = row["answers"]
        for construct, where in layout.means:
            total, answered = 0.0, 0
            for i in where:
                v = answers[i]
                if v is not None and v != "na" and v == v:  # null, "na" (N/A), NaN: missing
                    total += v
                    answered += 1
            if answered:
                score = total / answered
                _add(out, (g, construct), 1, score, score * score)
        for item, i in layout.nps:
            v = answers[i]
            if v is not None and v != "na" and v == v:
                score = _nps(v)
                _add(out, (g, item), 1, score, score * score)


def _moments_bulk(
    rows: Sequence[dict[str, Any]], layout: Layout, out: dict[tuple[Group, str], list[Any]]
) -> None:
    lookup: dict[Group, int] = {}
    codes = np.fromiter(
        (lookup.setdefault(k, len(lookup)) for k in cell_groups(rows, layout.attributes)),
        dtype=np.intp,
        count=len(rows),
    )
    groups = list(lookup)
    size = len(groups)
    for g, n in zip(groups, np.bincount(codes, minlength=size).tolist(), strict=True):
        _add(out, (g, COUNT_CONSTRUCT), n, 0.0, 0.0)
    keys = [*(c for c, w in layout.means if w), *(i for i, _ in layout.nps)]
    blocks = [
        (key, ok, score) for key, (ok, score) in zip(keys, _scores(rows, layout), strict=True)
    ]
    for construct, ok, score in blocks:
        at = codes[ok]
        n = np.bincount(at, minlength=size).tolist()
        s = np.bincount(at, weights=score, minlength=size).tolist()
        ss = np.bincount(at, weights=score * score, minlength=size).tolist()
        for i, g in enumerate(groups):
            if n[i]:
                _add(out, (g, construct), n[i], s[i], ss[i])


_KEYED: set[tuple[str, int]] = set()  # (database, survey id) known to have a rounding key


def ensure_key(session: Session, *, survey: Survey) -> None:
    """Give the survey its random rounding key (``disclosure_keys``) if it has none yet.

    ``INSERT ... ON CONFLICT DO NOTHING``: two first submissions at once must not collide.
    """
    where = (session.get_bind().engine.url.render_as_string(hide_password=True), survey.id)
    if where in _KEYED:
        return
    table = cast(Table, DisclosureKey.__table__)
    dialect = session.get_bind().dialect
    values = {"survey_id": survey.id, "key": os.urandom(32).hex()}
    if dialect.name in ("sqlite", "postgresql"):
        ins = (sqlite.insert if dialect.name == "sqlite" else postgresql.insert)(table)
        session.execute(ins.values(**values).on_conflict_do_nothing())
    elif session.get(DisclosureKey, survey.id) is None:
        session.execute(table.insert().values(**values))
    _KEYED.add(where)


def apply_responses(session: Session, *, survey: Survey, rows: Sequence[dict[str, Any]]) -> None:
    """Add the moments of freshly inserted responses, in the caller's transaction."""
    if not rows:
        return
    ensure_key(session, survey=survey)
    _upsert(session, survey_id=survey.id, cells=cell_moments(rows, layout=layout(survey)))


MOMENTS_STAGING = "pvm_moments_staging"


def stage_moments(connection: Connection, *, survey_id: int, cells: Moments) -> None:
    """Write moments to a temporary table on ``connection`` (PostgreSQL: ``COPY``; SQLite:
    ``executemany`` into its private ``temp`` schema, outside the write lock), for
    :func:`apply_staged_moments` to add in one statement. A bulk import touches up to every
    cell of a survey (200 branches x 12 months x attributes x constructs: ~200,000 rows), which
    row-by-row upserts would add to the time the import holds the cells locked."""
    table = cast(Table, ScoreCell.__table__)
    names = [c.name for c in table.columns]
    rows = _rows(survey_id, cells)
    raw: Any = connection.connection.driver_connection
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(
            f"CREATE TEMP TABLE IF NOT EXISTS {MOMENTS_STAGING} "
            f"(LIKE {table.name} INCLUDING DEFAULTS) ON COMMIT DROP"
        )
        with (
            raw.cursor() as cursor,
            cursor.copy(f"COPY {MOMENTS_STAGING} ({', '.join(names)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
    else:
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{MOMENTS_STAGING}")
        connection.exec_driver_sql(f"CREATE TEMP TABLE {MOMENTS_STAGING} ({', '.join(names)})")
        marks = ", ".join("?" * len(names))
        raw.executemany(f"INSERT INTO temp.{MOMENTS_STAGING} VALUES ({marks})", rows)


def apply_staged_moments(session: Session, *, survey: Survey) -> None:
    """Add the moments :func:`stage_moments` wrote on the session's connection: one
    ``INSERT ... SELECT ... ON CONFLICT DO UPDATE`` in key order (one lock order for
    concurrent writers), in the caller's transaction."""
    ensure_key(session, survey=survey)
    table = cast(Table, ScoreCell.__table__)
    names = ", ".join(c.name for c in table.columns)
    pk = ", ".join(c.name for c in table.primary_key.columns)
    session.connection().exec_driver_sql(
        f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {MOMENTS_STAGING} "
        f"WHERE true ORDER BY {pk} ON CONFLICT ({pk}) DO UPDATE SET "
        f"n = {table.name}.n + excluded.n, sum = {table.name}.sum + excluded.sum, "
        f"sumsq = {table.name}.sumsq + excluded.sumsq"
    )
    if session.get_bind().dialect.name != "postgresql":
        session.connection().exec_driver_sql(f"DELETE FROM temp.{MOMENTS_STAGING}")


def remove_responses(session: Session, *, survey: Survey, rows: Sequence[dict[str, Any]]) -> None:
    """Subtract the moments of responses being deleted, in the caller's transaction.

    ``rows`` carry the columns :func:`apply_responses` saw (branch_id, attributes,
    submitted_at, answers). Cells left with no response are deleted, as a rebuild would not
    have them.
    """
    if not rows:
        return
    cells = cell_moments(rows, layout=layout(survey))
    negated: Moments = {k: [-n, -s, -ss] for k, (n, s, ss) in cells.items()}
    _upsert(session, survey_id=survey.id, cells=negated)
    session.execute(delete(ScoreCell).where(ScoreCell.survey_id == survey.id, ScoreCell.n <= 0))


@lru_cache(maxsize=16)
def _upsert_sql(dialect: Dialect, table: Table) -> tuple[str, list[int] | None]:
    """``INSERT ... ON CONFLICT (pk) DO UPDATE`` adding the moments, rendered once per table.

    Returns the driver-level SQL and, for positional drivers, where each parameter comes from
    in a row of :func:`_rows`. SQLAlchemy does not cache ON CONFLICT statements (it recompiled
    them on every call, a third of a submission's cost) and its per-row parameter processing
    doubled the cost of a bulk import, so the rows go to the driver's executemany directly.
    """
    ins = (sqlite.insert if dialect.name == "sqlite" else postgresql.insert)(table)
    stmt = ins.on_conflict_do_update(
        index_elements=[c.name for c in table.primary_key.columns],
        set_={
            "n": table.c.n + ins.excluded.n,
            "sum": table.c.sum + ins.excluded.sum,
            "sumsq": table.c.sumsq + ins.excluded.sumsq,
        },
    )
    compiled = stmt.compile(dialect=dialect)
    names = [c.name for c in table.columns]
    order = [names.index(p) for p in compiled.positiontup or ()] if compiled.positional else None
    return str(compiled), order


def _rows(survey_id: int, cells: Moments) -> list[tuple[Any, ...]]:
    """One tuple per cell in the table's column order, sorted by key: one lock order for
    concurrent writers."""
    out = []
    for key in sorted(cells):  # keys only: comparing (key, moments) pairs costs 4x more
        n, s, ss = cells[key]
        out.append((survey_id, *key, int(n), float(s), float(ss)))
    return out


def _upsert(session: Session, *, survey_id: int, cells: Moments) -> None:
    rows = _rows(survey_id, cells)
    if not rows:
        return
    dialect = session.get_bind().dialect
    table = cast(Table, ScoreCell.__table__)
    names = [c.name for c in table.columns]
    if dialect.name in ("sqlite", "postgresql"):
        sql, order = _upsert_sql(dialect, table)
        params: list[Any]
        if order is None:
            params = [dict(zip(names, row, strict=True)) for row in rows]
        elif order != list(range(len(names))):
            params = [tuple(row[i] for i in order) for row in rows]
        else:
            params = rows
        session.connection().exec_driver_sql(sql, params)
        return
    records = [dict(zip(names, row, strict=True)) for row in rows]
    pk = [c.name for c in table.primary_key.columns]
    for rec in records:  # portable fallback for other databases
        key = [table.c[k] == rec[k] for k in pk]
        res = session.execute(
            update(table)
            .where(*key)
            .values(
                n=table.c.n + rec["n"],
                sum=table.c.sum + rec["sum"],
                sumsq=table.c.sumsq + rec["sumsq"],
            )
        )
        if res.rowcount == 0:  # type: ignore[attr-defined]
            session.execute(table.insert().values(**rec))
    session.flush()


def rebuild(
    session: Session,
    *,
    survey: Survey,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Recompute a survey's aggregates from its responses (caller commits); returns responses."""
    session.execute(delete(ScoreCell).where(ScoreCell.survey_id == survey.id))
    ensure_key(session, survey=survey)
    shape = layout(survey)
    query = (
        select(Response.branch_id, Response.submitted_at, Response.answers, Response.attributes)
        .where(Response.survey_id == survey.id)
        .execution_options(yield_per=REBUILD_CHUNK)
    )
    total = 0
    cells: Moments = {}
    for chunk in session.execute(query).partitions(REBUILD_CHUNK):
        rows = [r._asdict() for r in chunk]
        cell_moments(rows, layout=shape, out=cells)
        total += len(rows)
        if progress is not None:
            progress(total)
    _upsert(session, survey_id=survey.id, cells=cells)
    logger.info("rebuilt score aggregates of %s from %d responses", survey.slug, total)
    return total


def read_cells(
    session: Session,
    *,
    survey: Survey,
    dims: Sequence[str],
    branch_ids: Sequence[int] | None = None,
    months: tuple[str | None, str | None] = (None, None),
    exclude_flagged: bool = False,
) -> pd.DataFrame:
    """Raw atomic cells of some dimensions: columns ``branch`` (id), ``month``, ``dim``,
    ``value``, ``construct``, ``n``, ``sum``, ``sumsq``. ``branch_ids`` restricts the branches,
    ``months`` is an inclusive YYYY-MM range. ``exclude_flagged``: the cells without the
    responses that carry a quality flag (their moments subtracted, as a deletion would)."""
    c = ScoreCell
    query = select(c.branch_id, c.month, c.dim, c.key, c.construct, c.n, c.sum, c.sumsq).where(
        c.survey_id == survey.id, c.dim.in_(list(dims))
    )
    if branch_ids is not None:
        query = query.where(c.branch_id.in_(list(branch_ids)))
    if months[0] is not None:
        query = query.where(c.month >= months[0])
    if months[1] is not None:
        query = query.where(c.month <= months[1])
    rows = session.execute(query).all()
    frame = pd.DataFrame(
        rows, columns=["branch", "month", "dim", "value", "construct", "n", "sum", "sumsq"]
    )
    frame = frame.astype({"n": np.int64, "sum": float, "sumsq": float})
    if exclude_flagged:
        frame = _without_flagged(session, survey=survey, cells=frame)
    return frame


CELL_KEY = ["dim", "branch", "month", "value", "construct"]


def _without_flagged(session: Session, *, survey: Survey, cells: pd.DataFrame) -> pd.DataFrame:
    """``cells`` less the moments of the survey's flagged responses; emptied cells dropped."""
    query = select(
        Response.branch_id, Response.submitted_at, Response.answers, Response.attributes
    ).where(Response.survey_id == survey.id, Response.flagged.is_(True))
    rows = [dict(r._mapping) for r in session.execute(query)]
    flagged = cell_moments(rows, layout=layout(survey))
    if not flagged or cells.empty:
        return cells
    minus = pd.DataFrame(
        [(*key, n, s, ss) for key, (n, s, ss) in flagged.items()],
        columns=[*CELL_KEY, "n_f", "sum_f", "sumsq_f"],
    )
    merged = cells.merge(minus, on=CELL_KEY, how="left")
    for column in ("n", "sum", "sumsq"):
        merged[column] = merged[column] - merged[f"{column}_f"].fillna(0)
    merged = merged[merged["n"] > 0].drop(columns=["n_f", "sum_f", "sumsq_f"])
    return merged.astype({"n": np.int64}).reset_index(drop=True)


def survey_key(session: Session, *, survey: Survey) -> bytes:
    """The survey's rounding key (empty when it has no responses yet, hence no cells)."""
    found = session.get(DisclosureKey, survey.id)
    return bytes.fromhex(found.key) if found is not None else b""
