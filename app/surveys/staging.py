"""Bulk import of validated responses through a staging table (issue 18 item 2).

Rows are checked in chunks by ``app.surveys.csvio`` and written, chunk by chunk, to a temporary
staging table on a connection of their own, so the importing process holds one chunk at a time
(memory flat at any file size). Only when the whole file is valid are they published: one
``INSERT INTO responses ... SELECT ... FROM staging`` and the score aggregates' upsert
(:func:`app.reporting.aggregates.apply_staged_moments`: the moments summed while checking,
staged before any lock is taken, added by one ``INSERT ... SELECT ... ON CONFLICT``) in one
transaction, so an import is all or nothing.

* PostgreSQL: the staging table is ``TEMP ... ON COMMIT DROP`` and filled with ``COPY ... FROM
  STDIN`` (psycopg 3 ``cursor.copy``); staging, checks and publication are one transaction.
  Staging takes no lock other writers wait for; the ``INSERT ... SELECT`` takes none either
  (new rows only; imported rows carry no idempotency key); the aggregate cells, which
  concurrent submissions also update, are upserted last, just before the commit, so a
  submission waits for at most that upsert (one row per touched cell).
* SQLite: the staging table lives in the connection's ``temp`` schema, written in batches by
  ``executemany`` without the database's write lock (a temp table is private to its
  connection). Publication is one ``BEGIN IMMEDIATE`` transaction: it holds SQLite's single
  write lock for the ``INSERT ... SELECT`` (other writers queue on the busy timeout for that
  long; see benchmarks/README.md for the time at 1,000,000 rows), which is the price of
  all-or-nothing on a database with one writer.

Ids are checked against the file (duplicates) and the stored responses by SQL over the staging
table, not in Python sets.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Any

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db import Base
from app.errors import Conflict
from app.reporting.aggregates import MOMENTS_STAGING, Moments, apply_staged_moments, stage_moments
from app.surveys.models import Survey

TABLE = "pvm_import_staging"
# Column order of a staged row (what csvio's parser builds).
COLUMNS = (
    "row_no",
    "id",
    "branch_id",
    "submitted_at",
    "attributes",
    "lang",
    "answers",
    "texts",
    "duration_seconds",
    "flags",
    "flagged",
)
_PG_TYPES = (
    "integer",
    "uuid",
    "integer",
    "timestamptz",
    "text",
    "text",
    "text",
    "text",
    "integer",
    "text",
    "boolean",
)

StagedRow = tuple[Any, ...]


class Staging:
    """A staging table on a connection of its own; use as a context manager.

    ``write`` adds checked rows, ``problems`` finds the id problems, ``publish`` moves every
    row into ``responses`` and the aggregates and commits. Leaving the block without
    publishing discards everything.
    """

    def __init__(self, engine: Engine | Connection) -> None:
        self._engine = engine
        self.dialect = engine.dialect.name
        self._conn: Connection | None = None
        self.rows = 0

    # ---- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> Staging:
        engine = self._engine
        conn = engine.connect() if isinstance(engine, Engine) else engine
        self._conn = conn
        conn.begin()
        if self.dialect == "postgresql":
            columns = ", ".join(f"{c} {t}" for c, t in zip(COLUMNS, _PG_TYPES, strict=True))
            conn.exec_driver_sql(f"CREATE TEMP TABLE {TABLE} ({columns}) ON COMMIT DROP")
        else:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{TABLE}")
            conn.exec_driver_sql(f"CREATE TEMP TABLE {TABLE} ({', '.join(COLUMNS)})")
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn = self._conn
        if conn is None:
            return
        self._conn = None
        try:
            if conn.in_transaction():
                conn.rollback()
            if self.dialect != "postgresql":
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{TABLE}")
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{MOMENTS_STAGING}")
                conn.commit()
        finally:
            if conn is not self._engine:
                conn.close()

    @property
    def conn(self) -> Connection:
        assert self._conn is not None, "use Staging as a context manager"
        return self._conn

    # ---- staging -------------------------------------------------------------------------------
    def write(self, rows: Sequence[StagedRow]) -> None:
        """Stage checked rows (tuples in :data:`COLUMNS` order)."""
        if not rows:
            return
        raw = self.conn.connection.driver_connection
        assert raw is not None
        if self.dialect == "postgresql":
            sql = f"COPY {TABLE} ({', '.join(COLUMNS)}) FROM STDIN"
            with raw.cursor() as cursor, cursor.copy(sql) as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" * len(COLUMNS))
            raw.executemany(f"INSERT INTO temp.{TABLE} VALUES ({marks})", rows)
        self.rows += len(rows)

    def problems(self) -> tuple[list[tuple[int, int]], list[int]]:
        """``(duplicates, stored)``: ``(row, first row)`` of every row repeating an earlier
        row's id, and the rows (first occurrences) whose id is already stored."""
        conn = self.conn
        if self.dialect != "postgresql":
            conn.exec_driver_sql(f"CREATE INDEX temp.ix_{TABLE}_id ON {TABLE} (id)")
        duplicates = [
            (int(r), int(f))
            for r, f in conn.exec_driver_sql(
                f"SELECT s.row_no, d.first FROM {TABLE} s JOIN ("
                f"SELECT id, MIN(row_no) AS first FROM {TABLE} GROUP BY id "
                f"HAVING COUNT(*) > 1) d ON d.id = s.id WHERE s.row_no > d.first"
            )
        ]
        stored = [
            int(r)
            for (r,) in conn.exec_driver_sql(
                f"SELECT MIN(s.row_no) FROM {TABLE} s JOIN responses r ON r.id = s.id GROUP BY s.id"
            )
        ]
        return duplicates, stored

    # ---- publication ---------------------------------------------------------------------------
    def publish(self, *, survey: Survey, moments: Moments) -> int:
        """Insert every staged row into ``responses`` and add ``moments`` to the aggregates in
        one transaction, then commit; returns the rows. Conflict (nothing stored) when an id
        was stored meanwhile."""
        conn = self.conn
        if not self.rows:
            return 0
        stage_moments(conn, survey_id=survey.id, cells=moments)  # before any lock is taken
        columns = (
            "id, survey_id, branch_id, submitted_at, attributes, lang, channel, answers, texts, "
            "duration_seconds, flags, flagged"
        )
        if self.dialect == "postgresql":
            values = (
                "id, %(survey)s, branch_id, submitted_at, attributes::json, lang, 'import', "
                "answers::json, texts::json, duration_seconds, flags::json, flagged"
            )
            params: Any = {"survey": survey.id}
        else:
            conn.commit()  # the staging transaction; the temp table stays with the connection
            conn.execution_options(sqlite_begin="IMMEDIATE")  # take the write lock up front
            conn.begin()
            values = (
                "id, ?, branch_id, submitted_at, attributes, lang, 'import', answers, texts, "
                "duration_seconds, flags, flagged"
            )
            params = (survey.id,)
        table = Base.metadata.tables["responses"].name
        try:
            conn.exec_driver_sql(
                f"INSERT INTO {table} ({columns}) SELECT {values} FROM {TABLE} ORDER BY row_no",
                params,
            )
            with Session(bind=conn) as session:  # joins the connection's transaction
                apply_staged_moments(session, survey=survey)
                session.flush()
            conn.commit()
        except IntegrityError:  # an id stored concurrently since the check
            conn.rollback()
            raise Conflict("some ids in the file were stored meanwhile; nothing imported") from None
        finally:
            if self.dialect != "postgresql":
                conn.execution_options(sqlite_begin="DEFERRED")
        return self.rows
