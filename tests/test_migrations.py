"""The migration chain upgrades an empty database to head and back to base, on each backend,
and the ORM models agree with what the migrations create."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.db import Base, downgrade, import_all_models, make_engine, migrate

OWN_TABLES = {
    "branches",
    "instruments",
    "surveys",
    "responses",
    "api_keys",
    "invitation_tokens",
    "fit_jobs",
    "score_cells",
    "disclosure_keys",
    "audit_events",
    "dashboard_sessions",
    "partial_responses",
}


def test_upgrade_to_head_and_downgrade_to_base(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        assert sa.inspect(engine).get_table_names() == []
        migrate(engine)
        tables = set(sa.inspect(engine).get_table_names())
        assert tables >= OWN_TABLES
        indexes = {ix["name"] for ix in sa.inspect(engine).get_indexes("responses")}
        assert {"ix_responses_survey_branch", "ix_responses_survey_submitted"} <= indexes
        downgrade(engine, "base")
        assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
        migrate(engine)  # and up again: downgrade left nothing behind
        assert set(sa.inspect(engine).get_table_names()) >= OWN_TABLES
    finally:
        engine.dispose()


def test_models_match_migration(database_url: str) -> None:
    engine = make_engine(database_url)
    import_all_models()
    try:
        migrate(engine)
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()

    own = [d for d in diff if table_of(d) in OWN_TABLES]
    assert own == []


def table_of(entry: Any) -> str | None:
    """The table an Alembic autogenerate diff entry is about."""
    if isinstance(entry, list):  # modify_* entries: (op, schema, table, column, ...)
        return str(entry[0][2])
    op, obj = entry[0], entry[1]
    if op in ("add_column", "remove_column"):
        return str(entry[2])
    if isinstance(obj, sa.Table):
        return str(obj.name)
    if isinstance(obj, sa.ForeignKeyConstraint):
        return str(obj.parent.name)
    table = getattr(obj, "table", None)
    return None if table is None else str(table.name)


def test_diff_detects_drift(tmp_path) -> None:
    """The comparison above can fail: a column the models do not know is reported."""
    engine = make_engine(f"sqlite:///{tmp_path / 'drift.db'}")
    import_all_models()
    migrate(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE responses ADD COLUMN stray INTEGER")
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert [table_of(d) for d in diff if table_of(d) in OWN_TABLES] == ["responses"]


def test_wal_and_foreign_keys_on_sqlite(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x' / 'pvm.db'}")  # directory is created
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    engine.dispose()
