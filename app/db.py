"""Engine, session factory and the declarative ``Base`` shared by every feature's models."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, create_engine, event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

logger = logging.getLogger(__name__)

# Deterministic constraint names keep the Alembic migration portable between SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


BUSY_TIMEOUT_S = 30  # SQLite: how long a writer waits for the write lock
SQLITE_POOL = 64  # > the 40 threads of the request threadpool, plus fit worker threads
POOL_TIMEOUT_S = 20  # waiting longer for a pooled connection means overload: 429


def make_engine(url: str, *, schema: str | None = None, **kwargs: Any) -> Engine:
    """Create an engine with the house settings.

    SQLite gets WAL journaling, enforced foreign keys and a busy timeout so that several
    uvicorn workers can write to one file. ``schema`` (PostgreSQL only) sets the search path,
    which is how tests isolate themselves in a throw-away schema.

    Pool sizes (F7): every sync request handler runs in one of the threadpool's 40 threads
    and holds at most one connection, so a SQLite pool of up to ``SQLITE_POOL`` connections
    (cheap: a file handle each) never makes a request wait for a connection; requests queue
    on the SQLite write lock instead (``BEGIN IMMEDIATE``, busy timeout ``BUSY_TIMEOUT_S``),
    where each write transaction is short. PostgreSQL connections cost a server process each,
    so its pool stays at SQLAlchemy's 5 + 10 per process. A wait that still runs out (pool or
    busy timeout) is answered 429 with ``Retry-After`` by ``app.main``, never 500.
    """
    parsed = make_url(url)
    connect_args: dict[str, Any] = dict(kwargs.pop("connect_args", {}))
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
        connect_args.setdefault("check_same_thread", False)
        connect_args.setdefault("timeout", BUSY_TIMEOUT_S)
        if database and database != ":memory:":  # a file: QueuePool
            kwargs.setdefault("pool_size", 5)
            kwargs.setdefault("max_overflow", SQLITE_POOL - 5)
            kwargs.setdefault("pool_timeout", POOL_TIMEOUT_S)
    elif schema is not None:
        connect_args["options"] = f"-csearch_path={schema}"
    if parsed.get_backend_name() == "postgresql":
        kwargs.setdefault("pool_pre_ping", True)
        kwargs.setdefault("pool_timeout", POOL_TIMEOUT_S)
    kwargs.setdefault("json_serializer", _compact_json)
    engine = create_engine(url, connect_args=connect_args, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def _compact_json(value: Any) -> str:
    # Compact JSON keeps the per-response answer arrays small (see app.surveys.models).
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy emit BEGIN itself (see _sqlite_begin) instead of pysqlite's lazy begin.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # Readers use a plain (deferred) BEGIN; writers ask for IMMEDIATE through begin_write().
    mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
    connection.exec_driver_sql(f"BEGIN {mode}")


def begin_write(session: Session) -> None:
    """Make the session's next statements one write transaction.

    On SQLite this takes the write lock up front (``BEGIN IMMEDIATE``) so concurrent writers
    queue on the busy timeout instead of failing when a read transaction tries to upgrade; a
    read transaction in progress is ended first (objects it loaded stay usable). Call it at
    the start of every service function that writes. A no-op on PostgreSQL.
    """
    bind = session.get_bind()
    if bind.dialect.name != "sqlite":
        return
    if session.in_transaction():
        if session.new or session.dirty or session.deleted:
            session.flush()
            return  # already writing
        session.commit()
    session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)


# Every module that declares tables, so Base.metadata is complete (migrations, model checks).
MODEL_MODULES = (
    "app.surveys.models",
    "app.auth.models",
    "app.audit.models",
    "app.fits.models",
    "app.reporting.models",
    "app.invitations.models",
)


def import_all_models() -> None:
    import importlib

    for name in MODEL_MODULES:
        importlib.import_module(name)


def alembic_config(connection: Connection | None = None) -> Any:
    from alembic.config import Config

    root = Path(__file__).resolve().parent.parent
    cfg = Config(str(root / "alembic.ini"))
    cfg.set_main_option("script_location", str(root / "migrations"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database to ``revision``; safe when several workers start at once."""
    from alembic import command

    with engine.connect() as conn, conn.execution_options(sqlite_begin="IMMEDIATE").begin():
        if conn.dialect.name == "postgresql":
            # Serialise concurrent starters; SQLite gets the same from BEGIN IMMEDIATE.
            conn.execute(text("SELECT pg_advisory_xact_lock(726700101)"))
        command.upgrade(alembic_config(conn), revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    from alembic import command

    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), revision)
