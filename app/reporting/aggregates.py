"""Maintained score aggregates: added to in the response insert's transaction, rebuildable.

``apply_responses`` is called by ``app.surveys.service.insert_responses`` (the single write path
for responses) with the rows it inserts; ``rebuild`` recomputes everything from ``responses``
(``pvm aggregates rebuild``). ``read_cells`` is the ``GROUP BY`` the operators' pages run.
Months are calendar months of ``submitted_at`` in UTC.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, cast

import numpy as np
import pandas as pd
from sqlalchemy import Table, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.reporting.models import COUNT_CONSTRUCT, ScoreAggregate, ScoreRollup
from app.stats.scores import respondent_scores, sufficient_stats
from app.surveys.models import Response, Survey

logger = logging.getLogger(__name__)

KEYS = ["branch_id", "customer_type", "tenure", "month"]
ROLLUP_KEYS = ["dim", "branch_id", "key"]
ROLLUP_DIMS = ("customer_type", "tenure", "month")
DIMENSIONS = {"branch": "branch_id", "customer_type": "customer_type", "tenure": "tenure"}
REBUILD_CHUNK = 50_000


def _constructs(survey: Survey) -> tuple[list[str], dict[str, list[str]]]:
    # Imported here: app.surveys.service imports this module at load time.
    from app.surveys.service import survey_spec

    spec = survey_spec(survey)
    return spec.item_codes, spec.construct_items


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


def cells_from_rows(
    rows: Sequence[dict[str, Any]], *, item_codes: list[str], constructs: dict[str, list[str]]
) -> pd.DataFrame:
    """Aggregate-table deltas of response rows (``answers`` in ``item_codes`` order)."""
    answers = pd.DataFrame(
        [r["answers"] for r in rows], columns=item_codes, dtype=float
    )  # None -> NaN
    keys = pd.DataFrame(
        {
            "branch_id": [int(r["branch_id"]) for r in rows],
            "customer_type": [r.get("customer_type") or "" for r in rows],
            "tenure": [r.get("tenure") or "" for r in rows],
            "month": _month(r.get("submitted_at") for r in rows),
        }
    )
    scores = respondent_scores(answers, constructs)
    cells = sufficient_stats(scores, keys, by=KEYS)
    counts = keys.groupby(KEYS, sort=True).size().rename("n").reset_index()
    counts = counts.assign(construct=COUNT_CONSTRUCT, sum=0.0, sumsq=0.0)
    return pd.concat([cells, counts[cells.columns]], ignore_index=True)


def apply_responses(session: Session, *, survey: Survey, rows: Sequence[dict[str, Any]]) -> None:
    """Add the moments of freshly inserted responses, in the caller's transaction."""
    if not rows:
        return
    item_codes, constructs = _constructs(survey)
    cells = cells_from_rows(rows, item_codes=item_codes, constructs=constructs)
    _upsert(session, survey_id=survey.id, cells=cells)
    _upsert(session, survey_id=survey.id, cells=rollups(cells), model=ScoreRollup)


def rollups(cells: pd.DataFrame) -> pd.DataFrame:
    """Roll cube cells up to (dim, branch_id, key, construct) for the ``score_rollups`` table."""
    parts = [
        cells.groupby(["branch_id", "construct"], as_index=False)[["n", "sum", "sumsq"]]
        .sum()
        .assign(dim="all", key="")
    ]
    for dim in ROLLUP_DIMS:
        part = cells.groupby(["branch_id", dim, "construct"], as_index=False)[
            ["n", "sum", "sumsq"]
        ].sum()
        parts.append(part.rename(columns={dim: "key"}).assign(dim=dim))
    return pd.concat(parts, ignore_index=True)


def _records(survey_id: int, cells: pd.DataFrame, keys: list[str]) -> list[dict[str, Any]]:
    cells = cells.sort_values([*keys, "construct"])  # one lock order for concurrent writers
    cols = [*keys, "construct", "n", "sum", "sumsq"]
    out = []
    for values in cells[cols].itertuples(index=False):
        rec: dict[str, Any] = {"survey_id": survey_id}
        for name, v in zip(cols, values, strict=True):
            if name == "n" or name == "branch_id":
                rec[name] = int(v)
            elif name in ("sum", "sumsq"):
                rec[name] = float(v)
            else:
                rec[name] = str(v)
        out.append(rec)
    return out


def _upsert(
    session: Session,
    *,
    survey_id: int,
    cells: pd.DataFrame,
    model: type[ScoreAggregate] | type[ScoreRollup] = ScoreAggregate,
) -> None:
    keys = KEYS if model is ScoreAggregate else ROLLUP_KEYS
    records = _records(survey_id, cells, keys)
    if not records:
        return
    dialect = session.get_bind().dialect.name
    table = cast(Table, model.__table__)
    pk = [c.name for c in table.primary_key.columns]
    if dialect in ("sqlite", "postgresql"):
        ins = (sqlite.insert if dialect == "sqlite" else postgresql.insert)(table)
        stmt = ins.on_conflict_do_update(
            index_elements=pk,
            set_={
                "n": table.c.n + ins.excluded.n,
                "sum": table.c.sum + ins.excluded.sum,
                "sumsq": table.c.sumsq + ins.excluded.sumsq,
            },
        )
        session.execute(stmt, records)
        return
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
    item_codes, constructs = _constructs(survey)
    query = (
        select(
            Response.branch_id,
            Response.customer_type,
            Response.tenure,
            Response.submitted_at,
            Response.answers,
        )
        .where(Response.survey_id == survey.id)
        .execution_options(yield_per=REBUILD_CHUNK)
    )
    total = 0
    parts: list[pd.DataFrame] = []
    for chunk in session.execute(query).partitions(REBUILD_CHUNK):
        rows = [r._asdict() for r in chunk]
        parts.append(cells_from_rows(rows, item_codes=item_codes, constructs=constructs))
        total += len(rows)
        if progress is not None:
            progress(total)
    if parts:
        cells = pd.concat(parts, ignore_index=True)
        cells = cells.groupby([*KEYS, "construct"], sort=True).sum(numeric_only=True)
        _upsert(session, survey_id=survey.id, cells=cells.reset_index())
        _upsert(session, survey_id=survey.id, cells=rollups(cells.reset_index()), model=ScoreRollup)
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
