"""Maintained score aggregates: added to in the response insert's transaction, rebuildable.

``apply_responses`` is called by ``app.surveys.service.insert_responses`` (the single write path
for responses) with the rows it inserts, ``remove_responses`` by
``app.surveys.lifecycle.delete_responses`` (the single delete path) with the rows it deletes;
``rebuild`` recomputes everything from ``responses``
(``pvm aggregates rebuild``). ``read_cells`` is the ``GROUP BY`` the operators' pages run.
Months are calendar months of ``submitted_at`` in UTC.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, cast

import numpy as np
import pandas as pd
from sqlalchemy import Dialect, Table, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.reporting.models import COUNT_CONSTRUCT, ScoreAggregate, ScoreRollup
from app.surveys.models import Response, Survey
from app.surveys.specs import survey_spec

logger = logging.getLogger(__name__)

KEYS = ["branch_id", "customer_type", "tenure", "month"]
ROLLUP_KEYS = ["dim", "branch_id", "key"]
ROLLUP_DIMS = ("customer_type", "tenure", "month")
DIMENSIONS = {"branch": "branch_id", "customer_type": "customer_type", "tenure": "tenure"}
REBUILD_CHUNK = 50_000
# Below this many rows plain Python beats numpy's per-call overhead (a submission is one row).
SMALL_BATCH = 32

# (branch_id, customer_type, tenure, month, construct) or (dim, branch_id, key, construct)
# -> [n, sum, sumsq] of the respondents' construct scores.
Moments = dict[tuple[Any, ...], list[Any]]
# ((construct, positions of its items in ``answers``), ...)
Positions = tuple[tuple[str, tuple[int, ...]], ...]

_POSITIONS: dict[tuple[str, int, str], Positions] = {}


def _constructs(survey: Survey) -> tuple[list[str], dict[str, list[str]]]:
    spec = survey_spec(survey)
    return spec.item_codes, spec.construct_items


def construct_positions(survey: Survey) -> Positions:
    """Each construct with the indices of its items in ``answers``, cached per pinned version.

    The key is the stored instrument version's identity, whose content never changes, so the
    instrument is parsed once per process instead of once per submission.
    """
    inst = survey.instrument
    key = (inst.id, inst.version, inst.content_hash)
    found = _POSITIONS.get(key)
    if found is None:
        item_codes, constructs = _constructs(survey)
        where = {code: i for i, code in enumerate(item_codes)}
        found = tuple(
            (c, tuple(where[i] for i in items if i in where)) for c, items in constructs.items()
        )
        if len(_POSITIONS) >= 256:  # many test databases in one process
            _POSITIONS.clear()
        _POSITIONS[key] = found
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


def _keys(rows: Sequence[dict[str, Any]]) -> list[tuple[int, str, str, str]]:
    months = _month(r.get("submitted_at") for r in rows)
    return [
        (
            int(r["branch_id"]),
            (r.get("attributes") or {}).get("customer_type") or "",
            (r.get("attributes") or {}).get("tenure") or "",
            m,
        )
        for r, m in zip(rows, months, strict=True)
    ]


def _add(out: Moments, key: tuple[Any, ...], n: int, s: float, ss: float) -> None:
    cell = out.get(key)
    if cell is None:
        out[key] = [n, s, ss]
    else:
        cell[0] += n
        cell[1] += s
        cell[2] += ss


def cell_moments(
    rows: Sequence[dict[str, Any]], *, positions: Positions, out: Moments | None = None
) -> Moments:
    """Aggregate-table deltas of response rows, added to ``out`` (a new dict by default).

    A respondent's construct score is the mean of the construct's answered items (as in
    :func:`app.stats.scores.respondent_scores`); constructs with no answered item add nothing.
    ``COUNT_CONSTRUCT`` counts the rows, with ``sum``/``sumsq`` 0.
    """
    out = {} if out is None else out
    if not rows:
        return out
    if len(rows) < SMALL_BATCH:
        _moments_small(rows, positions, out)
    else:
        _moments_bulk(rows, positions, out)
    return out


def _moments_small(rows: Sequence[dict[str, Any]], positions: Positions, out: Moments) -> None:
    for key, row in zip(_keys(rows), rows, strict=True):
        _add(out, (*key, COUNT_CONSTRUCT), 1, 0.0, 0.0)
        answers = row["answers"]
        for construct, where in positions:
            total, answered = 0.0, 0
            for i in where:
                v = answers[i]
                if v is not None and v == v:  # None or NaN: not answered
                    total += v
                    answered += 1
            if answered:
                score = total / answered
                _add(out, (*key, construct), 1, score, score * score)


def _moments_bulk(rows: Sequence[dict[str, Any]], positions: Positions, out: Moments) -> None:
    lookup: dict[tuple[int, str, str, str], int] = {}
    codes = np.fromiter(
        (lookup.setdefault(k, len(lookup)) for k in _keys(rows)), dtype=np.intp, count=len(rows)
    )
    groups = list(lookup)
    size = len(groups)
    for g, n in zip(groups, np.bincount(codes, minlength=size).tolist(), strict=True):
        _add(out, (*g, COUNT_CONSTRUCT), n, 0.0, 0.0)
    answers = np.array([r["answers"] for r in rows], dtype=float)  # None -> NaN
    for construct, where in positions:
        if not where:
            continue
        block = answers[:, list(where)]
        answered = np.sum(~np.isnan(block), axis=1)
        ok = answered > 0
        score = np.nansum(block[ok], axis=1) / answered[ok]
        at = codes[ok]
        n = np.bincount(at, minlength=size).tolist()
        s = np.bincount(at, weights=score, minlength=size).tolist()
        ss = np.bincount(at, weights=score * score, minlength=size).tolist()
        for i, g in enumerate(groups):
            if n[i]:
                _add(out, (*g, construct), n[i], s[i], ss[i])


def rollups(cells: Moments) -> Moments:
    """Roll cube cells up to (dim, branch_id, key, construct) for the ``score_rollups`` table."""
    out: Moments = {}
    for (branch, customer_type, tenure, month, construct), (n, s, ss) in cells.items():
        _add(out, ("all", branch, "", construct), n, s, ss)
        _add(out, ("customer_type", branch, customer_type, construct), n, s, ss)
        _add(out, ("tenure", branch, tenure, construct), n, s, ss)
        _add(out, ("month", branch, month, construct), n, s, ss)
    return out


def apply_responses(session: Session, *, survey: Survey, rows: Sequence[dict[str, Any]]) -> None:
    """Add the moments of freshly inserted responses, in the caller's transaction."""
    if not rows:
        return
    cells = cell_moments(rows, positions=construct_positions(survey))
    _upsert(session, survey_id=survey.id, cells=cells)
    _upsert(session, survey_id=survey.id, cells=rollups(cells), model=ScoreRollup)


def remove_responses(session: Session, *, survey: Survey, rows: Sequence[dict[str, Any]]) -> None:
    """Subtract the moments of responses being deleted, in the caller's transaction.

    ``rows`` carry the columns :func:`apply_responses` saw (branch_id, attributes,
    submitted_at, answers). Cells left with no response are deleted, as a rebuild would not
    have them.
    """
    if not rows:
        return
    cells = cell_moments(rows, positions=construct_positions(survey))
    negated: Moments = {k: [-n, -s, -ss] for k, (n, s, ss) in cells.items()}
    _upsert(session, survey_id=survey.id, cells=negated)
    _upsert(session, survey_id=survey.id, cells=rollups(negated), model=ScoreRollup)
    for model in (ScoreAggregate, ScoreRollup):
        session.execute(delete(model).where(model.survey_id == survey.id, model.n <= 0))


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
    """One tuple per cell in the tables' column order, sorted by key: one lock order for
    concurrent writers."""
    out = []
    for key in sorted(cells):  # keys only: comparing (key, moments) pairs costs 4x more
        n, s, ss = cells[key]
        out.append((survey_id, *key, int(n), float(s), float(ss)))
    return out


def _upsert(
    session: Session,
    *,
    survey_id: int,
    cells: Moments,
    model: type[ScoreAggregate] | type[ScoreRollup] = ScoreAggregate,
) -> None:
    rows = _rows(survey_id, cells)
    if not rows:
        return
    dialect = session.get_bind().dialect
    table = cast(Table, model.__table__)
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
    session.execute(delete(ScoreAggregate).where(ScoreAggregate.survey_id == survey.id))
    session.execute(delete(ScoreRollup).where(ScoreRollup.survey_id == survey.id))
    positions = construct_positions(survey)
    query = (
        select(
            Response.branch_id,
            Response.attributes,
            Response.submitted_at,
            Response.answers,
        )
        .where(Response.survey_id == survey.id)
        .execution_options(yield_per=REBUILD_CHUNK)
    )
    total = 0
    cells: Moments = {}
    for chunk in session.execute(query).partitions(REBUILD_CHUNK):
        rows = [r._asdict() for r in chunk]
        cell_moments(rows, positions=positions, out=cells)
        total += len(rows)
        if progress is not None:
            progress(total)
    if cells:
        _upsert(session, survey_id=survey.id, cells=cells)
        _upsert(session, survey_id=survey.id, cells=rollups(cells), model=ScoreRollup)
    logger.info("rebuilt score aggregates of %s from %d responses", survey.slug, total)
    return total


def read_cells(
    session: Session,
    *,
    survey: Survey,
    by: str,
    branch_ids: Sequence[int] | None = None,
    months: tuple[str | None, str | None] = (None, None),
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Sufficient statistics per group and construct, and respondents per group.

    ``by`` is ``branch`` (groups keyed by branch id as text), ``customer_type``, ``tenure`` or
    ``month``; ``branch_ids`` restricts the data, ``months`` is an inclusive YYYY-MM range.
    """
    query: Any
    if months == (None, None):  # the common case: a few thousand roll-up rows
        r = ScoreRollup
        group_col = r.branch_id if by == "branch" else r.key
        query = (
            select(group_col, r.construct, func.sum(r.n), func.sum(r.sum), func.sum(r.sumsq))
            .where(r.survey_id == survey.id, r.dim == ("all" if by == "branch" else by))
            .group_by(group_col, r.construct)
        )
        if branch_ids is not None:
            query = query.where(r.branch_id.in_(list(branch_ids)))
    else:
        agg = ScoreAggregate
        column = getattr(agg, DIMENSIONS.get(by, by))
        query = (
            select(column, agg.construct, func.sum(agg.n), func.sum(agg.sum), func.sum(agg.sumsq))
            .where(agg.survey_id == survey.id)
            .group_by(column, agg.construct)
        )
        if branch_ids is not None:
            query = query.where(agg.branch_id.in_(list(branch_ids)))
        if months[0] is not None:
            query = query.where(agg.month >= months[0])
        if months[1] is not None:
            query = query.where(agg.month <= months[1])
    rows = session.execute(query).all()
    frame = pd.DataFrame(rows, columns=["group", "construct", "n", "sum", "sumsq"])
    frame["group"] = frame["group"].astype(str)
    frame["n"] = frame["n"].astype(np.int64)
    is_count = frame["construct"] == COUNT_CONSTRUCT
    counts = dict(
        zip(frame.loc[is_count, "group"], frame.loc[is_count, "n"].astype(int), strict=True)
    )
    return frame.loc[~is_count].reset_index(drop=True), counts
