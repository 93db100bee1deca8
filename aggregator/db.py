"""Engines, column types and the few dialect differences (SQLite vs PostgreSQL).

One code path serves both: SQLAlchemy Core statements, plus ``insert_ignore`` / ``upsert_add``
for ``INSERT ... ON CONFLICT``. Write transactions go through ``write(engine)``, which on SQLite
starts with ``BEGIN IMMEDIATE`` (no lock-upgrade deadlocks between workers).

>>> engine = make_engine("sqlite://")
>>> dialect_name(engine)
'sqlite'
"""

from __future__ import annotations

import contextlib
import datetime as dt
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from sqlalchemy import DateTime, Table, create_engine, event, pool
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.types import TypeDecorator

from .errors import ConfigError

UTC = dt.timezone.utc


def utcnow() -> dt.datetime:
    return dt.datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A timezone-aware datetime, stored as UTC on every backend."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect):
        return dialect.type_descriptor(DateTime(timezone=dialect.name == "postgresql"))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, str):  # raw SQL on SQLite
            value = dt.datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def normalize_url(url: str) -> str:
    """Map ``postgresql://`` and ``postgres://`` to the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def make_engine(url: str) -> Engine:
    """An engine for ``sqlite:///path`` or ``postgresql://…``, configured for this server."""
    url = normalize_url(url)
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy.exc.ArgumentError
        raise ConfigError(f"database URL {url!r} is not valid: {exc}") from None
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, poolclass=pool.QueuePool, pool_size=8, max_overflow=16,
                                   connect_args={"check_same_thread": False, "timeout": 30})
        else:
            engine = create_engine(url, poolclass=pool.StaticPool,
                                   connect_args={"check_same_thread": False})
        _configure_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_engine(url, pool_size=8, max_overflow=16, pool_pre_ping=True)
    raise ConfigError(f"database URL {url!r}: only sqlite:/// and postgresql:// are supported")


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        immediate = conn.get_execution_options().get("sqlite_immediate")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def dialect_name(engine_or_conn) -> str:
    return engine_or_conn.dialect.name


@contextlib.contextmanager
def write(engine: Engine) -> Iterator[Connection]:
    """One write transaction; commits on success, rolls back on error."""
    with engine.connect() as conn:
        conn.execution_options(sqlite_immediate=True)
        with conn.begin():
            yield conn


@contextlib.contextmanager
def read(engine: Engine) -> Iterator[Connection]:
    """One read transaction."""
    with engine.connect() as conn:
        with conn.begin():
            yield conn


def _insert(conn: Connection, table: Table):
    return (postgresql.insert(table) if conn.dialect.name == "postgresql"
            else sqlite.insert(table))


def insert_ignore(conn: Connection, table: Table, rows: Sequence[dict],
                  returning: str | None = None) -> set:
    """INSERT … ON CONFLICT DO NOTHING; returns the ``returning`` column of inserted rows."""
    if not rows:
        return set()
    stmt = _insert(conn, table).on_conflict_do_nothing()
    if returning is None:
        conn.execute(stmt, list(rows))
        return set()
    stmt = stmt.returning(table.c[returning])
    if len(rows) == 1:
        return {r[0] for r in conn.execute(stmt, rows[0])}
    return {r[0] for r in conn.execute(stmt, list(rows))}


def upsert_add(conn: Connection, table: Table, rows: Iterable[dict],
               keys: Sequence[str], add: Sequence[str]) -> None:
    """INSERT rows; on a key clash add the ``add`` columns to the stored ones.

    Rows go in key order so that concurrent transactions lock in the same order
    (no deadlocks on PostgreSQL).
    """
    rows = sorted(rows, key=lambda r: tuple(r[k] for k in keys))
    if not rows:
        return
    stmt = _insert(conn, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c[k] for k in keys],
        set_={c: table.c[c] + stmt.excluded[c] for c in add},
    )
    conn.execute(stmt, rows)
