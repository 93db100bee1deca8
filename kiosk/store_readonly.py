"""Reading the kiosk database without writing a byte: what a kiosk whose disk is full can still
show on its technician panel and export to a USB stick (``RatingStore.read_only_view``).

A WAL database is normally opened by creating and growing its ``-shm`` file (32 KiB), so on a
full disk even a read-only connection failed ("disk I/O error", SQLITE_IOERR_SHMSIZE). Two
ways in that write nothing:

- the ``-wal`` file is missing or empty (the last connection closed cleanly): the database
  file holds everything, and ``immutable=1`` reads it without the ``-shm``;
- the ``-wal`` file holds frames (the last run ended without closing): its ``-shm`` is
  there, full size, and a plain ``mode=ro`` connection uses it.

Either way the view is exact. ``immutable`` promises SQLite that nobody writes the file: the
app's main store closes its view before it opens the database for writing again
(kiosk/store_recovery.py); an export or a heartbeat (sync/heartbeat.py) running at that
moment may fail, never the database.

>>> conn = open_read_only(Path("var/kiosk/kiosk.db"))   # doctest: +SKIP
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

log = logging.getLogger(__name__)


def _uri(path: Path) -> str | None:
    """The read-only URI of the database at ``path`` (``immutable=1`` when its ``-wal`` holds
    nothing), or None when there is no database file to read."""
    try:
        if not path.is_file() or path.stat().st_size == 0:
            return None
        wal = path.with_name(path.name + "-wal")
        frames = wal.exists() and wal.stat().st_size > 0
    except OSError as exc:
        log.warning("cannot read %s: %s", path, exc)
        return None
    return path.resolve().as_uri() + ("?mode=ro" if frames else "?mode=ro&immutable=1")


def open_read_only(path: Path, *, damaged: bool = False) -> sqlite3.Connection | None:
    """A read-only connection to what the kiosk database at ``path`` holds now, or None when
    it cannot be read (no file, an empty one, not a kiosk database, unreadable).

    ``damaged=True`` (the export of a corrupt file) asks only that its schema can be read
    and names an events table: the rows are then read as far as they can be
    (``RatingStore.iter_events(unreadable=…)``)."""
    uri = _uri(path)
    if uri is None:
        return None
    conn = None
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None)
        if damaged:
            if not conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'events'"
                                ).fetchone():
                raise sqlite3.DatabaseError("no events table")
            return conn
        conn.execute("SELECT count(*) FROM events").fetchone()
        conn.execute("SELECT count(*) FROM meta").fetchone()
        return conn
    except sqlite3.DatabaseError as exc:   # (a damaged file's caller says why, by its name)
        (log.debug if damaged else log.warning)("cannot read %s read-only: %s", path, exc)
        if conn is not None:
            conn.close()
        return None


# The kiosk's tables (kiosk/store.py, MIGRATIONS) and sqlite-utils' record of its migrations.
KIOSK_TABLES = {"meta", "events", "batches", "device_config", "_sqlite_migrations"}


def foreign_schema(path: Path) -> str | None:
    """Why the SQLite database at ``path`` is another program's, read without writing a
    byte; None when it is a kiosk database, holds no table yet, or cannot be read (opening
    it says why). An aggregator's database used as kiosk.db failed with "migrating failed:
    table events already exists" after the kiosk had switched it to WAL mode."""
    uri = _uri(path)
    if uri is None:
        return None
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None)
        try:
            tables = {name for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}
            columns = {row[1] for row in conn.execute("PRAGMA table_info(events)")}
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return None
    if not tables or ({"meta", "events"} <= tables and {"acked_at", "prev_hash"} <= columns):
        return None
    others = sorted(tables - KIOSK_TABLES) or sorted(tables)
    whose = " (an aggregator's?)" if {"ratings", "schema_migrations"} & tables else ""
    shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
    return f"it holds another program's tables{whose}: {shown}"
