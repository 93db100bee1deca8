"""Engines, column types and the few dialect differences (SQLite vs PostgreSQL).

One code path serves both: SQLAlchemy Core statements, plus ``insert_ignore`` / ``upsert_add``
for ``INSERT ... ON CONFLICT``. The ingest hot path uses ``insert_new`` / ``upsert_add_rows``,
which send plain tuples straight to the driver (no per-row SQLAlchemy type processing): on
PostgreSQL one ``INSERT … SELECT FROM json_populate_recordset(…)`` statement per call (the rows
go as one JSON text: psycopg dumps one string in C, where ``unnest`` of arrays made it dump
every element in Python, 2–3× slower per row), on SQLite one ``executemany``. Values must then already be in driver form:
``driver_time`` converts a ``UTCDateTime`` value. Write transactions go through ``write(engine)``, which on SQLite
starts with ``BEGIN IMMEDIATE`` (no lock-upgrade deadlocks between workers).

>>> engine = make_engine("sqlite://")
>>> dialect_name(engine)
'sqlite'
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import re
import sqlite3
import threading
import weakref
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import orjson
from sqlalchemy import (
    DateTime,
    Table,
    create_engine,
    event,
    pool,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.types import TypeDecorator

from .errors import AggregatorError, ConfigError, DatabaseUnavailable, StorageFull

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


# The password of a URL's user ("…://user:password@host", up to the line's last "@": a
# mistyped one may hold "/", "?" or "@") and of a ``password=`` / ``sslpassword=`` query
# parameter.
_URL_PASSWORD = re.compile(r"(://[^\s/@:]*:)[^\s]*@")   # to the last "@" before a space
_QUERY_PASSWORD = re.compile(r"(?i)([?&;](?:ssl)?password=)[^&#\s'\"]*")


def hide_password(text: str) -> str:
    """``text`` (a database URL, or a message that holds one) with every password in it
    replaced by ``***``: a mistyped URL was printed whole, password and all, into the
    service's journal.

    >>> hide_password("postgresql://agg:S3cret@db:54x2/agg?password=S3cret&sslmode=on")
    'postgresql://agg:***@db:54x2/agg?password=***&sslmode=on'
    """
    return _QUERY_PASSWORD.sub(r"\1***", _URL_PASSWORD.sub(r"\1***@", text))


def make_engine(url: str) -> Engine:
    """An engine for ``sqlite:///path`` or ``postgresql://…``, configured for this server.

    ``hide_parameters``: an unexpected database error is logged with its statement, and the
    values of a rating (a citizen's callback phone number, their comment) went with it.
    """
    url = normalize_url(url)
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy.exc.ArgumentError (it quotes the URL), ValueError
        raise ConfigError(f"database URL {hide_password(url)!r} is not valid: "
                          f"{hide_password(str(exc))}") from None
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, poolclass=pool.QueuePool, pool_size=8, max_overflow=16,
                                   connect_args={"check_same_thread": False, "timeout": 30},
                                   hide_parameters=True)
        else:
            engine = create_engine(url, poolclass=pool.StaticPool,
                                   connect_args={"check_same_thread": False},
                                   hide_parameters=True)
        _configure_sqlite(engine)
        if database and database != ":memory:":
            _WRITER_LOCKS[engine] = _WriterLock(Path(database))
        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_engine(url, pool_size=8, max_overflow=16, pool_pre_ping=True,
                             hide_parameters=True)
    raise ConfigError(f"database URL {hide_password(url)!r}: only sqlite:/// and postgresql:// "
                      "are supported")


# Python's sqlite3 binds only exact int, float, str and bytearray values directly; any other
# value, None and bool included, first goes through its adapter lookup (a registry miss, then
# two attribute lookups that raise and clear AttributeError): ~0.3 µs a value, measured, and a
# rating row holds six to eight of them. A registered adapter is found at the first step and
# binds the same value (NULL; the integer 0 or 1 that sqlite3 binds a bool as anyway).
sqlite3.register_adapter(type(None), lambda value: value)
sqlite3.register_adapter(bool, int)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        # Savepoints (``insert_new``) keep the pages they change in a statement journal: in
        # memory, not a temporary file (which cost ~2 µs per inserted row, a third of the row).
        cur.execute("PRAGMA temp_store=MEMORY")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        immediate = conn.get_execution_options().get("sqlite_immediate")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def is_disk_full(exc: BaseException) -> bool:
    """Whether a database error is the disk being full: SQLite's SQLITE_FULL ("database or
    disk is full") or SQLITE_IOERR_SHMSIZE (a "disk I/O error": no room to grow the -shm
    file), PostgreSQL's SQLSTATE 53100 (disk_full, e.g. "could not extend file")."""
    orig = getattr(exc, "orig", exc)
    if isinstance(orig, sqlite3.Error):
        return (getattr(orig, "sqlite_errorcode", None) in (sqlite3.SQLITE_FULL,
                                                            sqlite3.SQLITE_IOERR_SHMSIZE)
                or "database or disk is full" in str(orig))
    return getattr(orig, "sqlstate", None) == "53100"


def is_unavailable(exc: BaseException) -> bool:
    """Whether a database error means the database cannot be reached now, not that the
    request is wrong: PostgreSQL down or cut off (no connection, SQLSTATE class 08, or 57P01-03
    shutting down or starting), SQLite's file busy past the timeout or not openable."""
    if getattr(exc, "connection_invalidated", False):
        return True
    orig = getattr(exc, "orig", exc)
    if isinstance(orig, sqlite3.Error):
        return getattr(orig, "sqlite_errorcode", None) in (
            sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CANTOPEN)
    if not (type(orig).__module__.startswith("psycopg")
            and isinstance(exc, (OperationalError, InterfaceError))):
        return False
    state = getattr(orig, "sqlstate", None)
    return state is None or state.startswith("08") or state in ("57P01", "57P02", "57P03")


def database_refusal(exc: BaseException) -> AggregatorError | None:
    """The 503 for a database error that is the operator's to fix (a full disk, a database
    out of reach), with its Retry-After; None for any other error (a bug: a 500)."""
    if is_disk_full(exc):
        return StorageFull("the server's database disk is full: nothing of this request was "
                           "stored; retry later (the server's operator must free space)",
                           extra={"retry_after": 300})
    if is_unavailable(exc):
        return DatabaseUnavailable("the server cannot reach its database just now: nothing of "
                                   "this request was stored; retry later",
                                   extra={"retry_after": 30})
    return None


def database_disk_free(engine: Engine) -> int | None:
    """Free bytes (for an unprivileged writer) on the filesystem of a SQLite database file;
    None for PostgreSQL (its disk is its server's to watch) or a database in memory."""
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    if not path or path == ":memory:":
        return None
    st = os.statvfs(os.path.dirname(os.path.abspath(path)))
    return st.f_bavail * st.f_frsize


def dialect_name(engine_or_conn) -> str:
    return engine_or_conn.dialect.name


@contextlib.contextmanager
def write(engine: Engine) -> Iterator[Connection]:
    """One write transaction; commits on success, rolls back on error."""
    with _WRITER_LOCKS.get(engine) or contextlib.nullcontext(), engine.connect() as conn:
        conn.execution_options(sqlite_immediate=True)
        with conn.begin():
            yield conn


@contextlib.contextmanager
def rehearsal(engine: Engine) -> Iterator[Connection]:
    """A write transaction that is always rolled back: what a write would answer, with
    nothing of it kept (the answer to a batch sent twice, ``ingest.ingest_batch``)."""
    with _WRITER_LOCKS.get(engine) or contextlib.nullcontext(), engine.connect() as conn:
        conn.execution_options(sqlite_immediate=True)
        transaction = conn.begin()
        try:
            yield conn
        finally:
            transaction.rollback()


_WRITER_LOCKS: "weakref.WeakKeyDictionary[Engine, _WriterLock]" = weakref.WeakKeyDictionary()


class _WriterFirst:
    """While a thread of this process holds the SQLite write lock, the process's other threads
    that check batches (``CheckedBatch`` calls ``pause()`` every 16 events) wait for it: the writer runs
    alone, and every worker and batch waits less for the lock.

    Why: Python's sqlite3 lets go of the GIL for every row it steps, and a thread that let go
    gets it back only when the running thread gives it up, after up to the switch interval
    (5 ms). A batch's 400-row insert next to a thread checking the next batch turned into a
    convoy: 1.8 ms alone, 224 ms beside a busy thread (in one process, measured). The
    server's lock holder ran 5-26 µs an event longer in wall time than in CPU time; with this
    gate 5-10 µs, and both cores were busier (median 1.41 -> 1.55 cores, 6 alternated runs of
    the deployed shape; docs/benchmarks.md)."""

    def __init__(self):
        self.cond = threading.Condition(threading.Lock())
        self.writers: set[int] = set()  # thread ids (several engines in one process: tests)

    def enter(self) -> None:
        with self.cond:
            self.writers.add(threading.get_ident())

    def leave(self) -> None:
        with self.cond:
            self.writers.discard(threading.get_ident())
            self.cond.notify_all()

    def pause(self) -> None:
        """Wait while another thread of this process holds a write lock (returns at once
        otherwise, and in the writer itself)."""
        if not self.writers:
            return
        me = threading.get_ident()
        with self.cond:
            while self.writers and me not in self.writers:
                self.cond.wait()


WRITER_FIRST = _WriterFirst()


class _WriterLock:
    """One SQLite writer at a time across this host's threads and worker processes, queued on
    a lock (``flock`` of ``<database>.lock``) instead of SQLite's busy handler, which polls
    with sleeps of up to 100 ms: with two workers, writers took turns slowly and throughput
    fell below one worker's. Re-entrant in a thread (a nested ``write`` still fails as
    before, on SQLite's own lock, instead of waiting here for ever)."""

    def __init__(self, database: Path):
        self.path = database.with_name(database.name + ".lock")
        self.threads = threading.RLock()
        self.depth = 0
        self.fd: int | None = None

    def __enter__(self):
        self.threads.acquire()
        try:
            if self.depth == 0:
                if self.fd is None:
                    # read-only is enough for flock: a lock file created by another user (an
                    # admin's `aggregator create-user`) still serves the service's own user
                    self.fd = os.open(self.path, os.O_RDONLY | os.O_CREAT, 0o644)
                    weakref.finalize(self, os.close, self.fd)  # with its engine
                fcntl.flock(self.fd, fcntl.LOCK_EX)
                WRITER_FIRST.enter()
            self.depth += 1
        except BaseException:
            self.threads.release()
            raise
        return self

    def __exit__(self, *exc):
        try:
            self.depth -= 1
            if self.depth == 0:
                WRITER_FIRST.leave()
                fcntl.flock(self.fd, fcntl.LOCK_UN)
        finally:
            self.threads.release()


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
    upsert_add_rows(conn, table, keys, add,
                    [tuple(r[c] for c in (*keys, *add)) for r in rows])


# -- driver-level bulk statements (the ingest hot path) ------------------------------------

def is_pg(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def driver_time(conn_or_dialect, value: dt.datetime | None, text: str | None = None):
    """``value`` as ``UTCDateTime`` stores it, for a driver-level statement: an aware datetime
    on PostgreSQL, SQLAlchemy's SQLite text form (naive UTC, always with microseconds) on
    SQLite, so it compares and reads back exactly like a value written through Core.

    ``text``: the RFC 3339 text ``value`` was parsed from (an event's device time). When it
    reads ``…THH:MM:SS.ffffff±HH:00``, a whole-hour offset moves only the date and the hour,
    so those are converted once per hour and the rest is copied (isoformat cost ~1.8 µs a
    row, the lookup ~0.2 µs).

    >>> t = "2026-11-24T00:31:12.345678+08:00"
    >>> driver_time("sqlite", dt.datetime.fromisoformat(t), t)
    '2026-11-23 16:31:12.345678'
    """
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTCDateTime column")
    name = conn_or_dialect if isinstance(conn_or_dialect, str) else (
        getattr(conn_or_dialect, "name", None) or conn_or_dialect.dialect.name)
    if name == "postgresql":
        return value
    if text is not None and len(text) == 32 and text[19] == "." and text[29:] == ":00" \
            and text[13] == ":" and text[16] == ":":
        key = text[:13] + text[26:29]  # date, hour and offset hours: "2026-11-24T00+08"
        head = _UTC_HOURS.get(key)
        if head is None:
            if len(_UTC_HOURS) > 50_000:
                _UTC_HOURS.clear()
            head = _UTC_HOURS[key] = value.astimezone(UTC).strftime("%Y-%m-%d %H")
        return head + text[13:26]
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


_UTC_HOURS: dict[str, str] = {}


def _pg_records(table: Table, columns: Sequence[str], rows: Sequence[tuple]) -> tuple[str, str]:
    """(``SELECT`` of ``columns`` from the rows, the rows as one JSON text) for PostgreSQL.

    ``json_populate_recordset`` gives each value its column's type; datetimes go as RFC 3339
    text (orjson), which PostgreSQL reads back exactly (microseconds and offset included).
    """
    cols = _quoted(columns)
    names = [str(c) for c in columns]  # orjson takes plain str keys only (not quoted_name)
    data = orjson.dumps([dict(zip(names, r)) for r in rows]).decode("utf-8")
    return (f"SELECT {cols} FROM json_populate_recordset(NULL::{table.name}, %s::json)",
            data)


def _quoted(columns: Sequence[str]) -> str:
    return ", ".join(f'"{c}"' for c in columns)


def sql(conn: Connection, statement: str, params: Sequence = ()):
    """``statement`` with ``?`` placeholders, sent straight to the driver (``%s`` on
    PostgreSQL): for the statements run once per batch on the ingest path, where building,
    caching and processing a Core statement cost more than running it. Values in and out are
    in driver form (``driver_time``)."""
    if conn.dialect.name == "postgresql":
        statement = statement.replace("?", "%s")
    return conn.exec_driver_sql(statement, tuple(params))


def select_in(conn: Connection, sql: str, values: Sequence, extra: Sequence = ()) -> list:
    """Rows of ``sql`` (``?`` placeholders for ``extra``, then ``{in}`` for the list) with
    ``{in}`` standing for membership in ``values``: ``= ANY(array)`` on PostgreSQL, chunked
    ``IN (?, …)`` on SQLite."""
    if not values:
        return []
    if is_pg(conn):
        q = sql.replace("?", "%s").format(**{"in": "= ANY(%s)"})
        return conn.exec_driver_sql(q, (*extra, list(values))).all()
    out = []
    values = list(values)
    for k in range(0, len(values), 900):
        chunk = values[k:k + 900]
        q = sql.format(**{"in": f"IN ({','.join('?' * len(chunk))})"})
        out += conn.exec_driver_sql(q, (*extra, *chunk)).all()
    return out


def insert_new(conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple],
               key: str, *, absent: bool = False) -> set:
    """``INSERT … ON CONFLICT DO NOTHING`` of ``rows`` (tuples in ``columns`` order, values in
    driver form); returns the ``key`` of every row inserted (exact under concurrency).
    ``absent``: the caller expects none of these keys to be stored, so the rows go in first
    in a savepoint, without a lookup: SQLite checks the row count of one ``executemany``,
    PostgreSQL ``COPY``s them (a unique violation undoes the savepoint); either way the exact
    path below runs when a row was already there."""
    if not rows:
        return set()
    cols = _quoted(columns)
    if is_pg(conn):
        # one row (an online kiosk's usual batch): the exact statement alone, no savepoint
        if absent and len(rows) > 1 and _pg_copied(conn, table, cols, rows):
            k = columns.index(key)
            return {r[k] for r in rows}
        select, data = _pg_records(table, columns, rows)
        sql = (f'INSERT INTO {table.name} ({cols}) {select} '
               f'ON CONFLICT DO NOTHING RETURNING "{key}"')
        return {r[0] for r in conn.exec_driver_sql(sql, (data,))}
    # SQLite has one writer at a time (``write`` begins IMMEDIATE; a deferred transaction
    # that lost the race fails with SQLITE_BUSY instead), so the keys present before the insert
    # are exactly those it skips. Expected absent: insert in a savepoint; every row went in or
    # the savepoint is undone and the exact way below runs. Otherwise look the keys up first,
    # then one executemany; if another unique constraint skipped rows after all, the rows whose
    # key is present now are the ones we inserted.
    k = columns.index(key)
    sql = (f'INSERT INTO {table.name} ({cols}) VALUES ({",".join("?" * len(columns))}) '
           f'ON CONFLICT DO NOTHING')
    rows = list(rows)
    if len(rows) == 1:  # its row count says exactly whether it went in; no savepoint needed
        return {rows[0][k]} if conn.exec_driver_sql(sql, rows[0]).rowcount == 1 else set()
    if absent:
        with Savepoint(conn) as savepoint:
            if conn.exec_driver_sql(sql, rows).rowcount == len(rows):
                return {r[k] for r in rows}
            savepoint.rollback()
    present = {r[0] for r in select_in(
        conn, f'SELECT "{key}" FROM {table.name} WHERE "{key}" {{in}}', [r[k] for r in rows])}
    if present:
        rows = [r for r in rows if r[k] not in present]
        if not rows:
            return set()
    result = conn.exec_driver_sql(sql, rows)
    keys = [r[k] for r in rows]
    if result.rowcount == len(rows):
        return set(keys)
    return {r[0] for r in select_in(
        conn, f'SELECT "{key}" FROM {table.name} WHERE "{key}" {{in}}', keys)}


class Savepoint:
    """A savepoint sent straight to the driver, released at the end of the block, undone when
    the block raises or calls ``rollback()``: ``Connection.begin_nested`` costs ~160 µs per
    savepoint on SQLite (3 µs this way, measured), and ingest takes two or three per batch.

    >>> engine = make_engine("sqlite://")
    >>> with write(engine) as conn:
    ...     _ = conn.exec_driver_sql("CREATE TABLE t (a)")
    ...     with Savepoint(conn) as savepoint:
    ...         _ = conn.exec_driver_sql("INSERT INTO t VALUES (1)")
    ...         savepoint.rollback()
    ...     conn.exec_driver_sql("SELECT count(*) FROM t").scalar()
    0
    """

    def __init__(self, conn: Connection):
        self.driver = conn.connection.dbapi_connection
        self.open = False

    def __enter__(self) -> "Savepoint":
        self.driver.execute("SAVEPOINT fast_insert")
        self.open = True
        return self

    def rollback(self) -> None:
        self.open = False
        self.driver.execute("ROLLBACK TO SAVEPOINT fast_insert")
        self.driver.execute("RELEASE SAVEPOINT fast_insert")

    def __exit__(self, kind, exc, tb) -> bool:
        if not self.open:
            return False
        if kind is None:
            self.open = False
            self.driver.execute("RELEASE SAVEPOINT fast_insert")
        else:  # the error is what the caller must see, even if the undo fails too (a
            with contextlib.suppress(Exception):  # failed statement may end the transaction)
                self.rollback()
        return False


def _pg_copied(conn: Connection, table: Table, cols: str, rows: Sequence[tuple]) -> bool:
    """``COPY`` ``rows`` into ``table`` in a savepoint; False (savepoint undone) when one of
    them clashed with a stored row. COPY costs about half of ``INSERT … SELECT FROM
    json_populate_recordset`` per row, and the batch's ids are new in nearly every batch."""
    import psycopg

    try:
        with Savepoint(conn):
            cursor = conn.connection.dbapi_connection.cursor()
            with cursor.copy(f"COPY {table.name} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
    except psycopg.errors.UniqueViolation:
        return False
    return True


def upsert_add_rows(conn: Connection, table: Table, keys: Sequence[str], add: Sequence[str],
                    rows: Iterable[tuple]) -> None:
    """``upsert_add`` of plain tuples (``keys`` then ``add`` columns, driver form), in key
    order; keys must be unique within ``rows``."""
    n = len(keys)
    rows = sorted(rows, key=lambda r: r[:n])
    if not rows:
        return
    columns = (*keys, *add)
    cols = _quoted(columns)
    sets = ", ".join(f'"{c}" = {table.name}."{c}" + excluded."{c}"' for c in add)
    conflict = f"ON CONFLICT ({_quoted(keys)}) DO UPDATE SET {sets}"
    if is_pg(conn):
        select, data = _pg_records(table, columns, rows)
        conn.exec_driver_sql(f"INSERT INTO {table.name} ({cols}) {select} {conflict}", (data,))
    else:
        conn.exec_driver_sql(f"INSERT INTO {table.name} ({cols}) VALUES "
                             f"({','.join('?' * len(columns))}) {conflict}", rows)
