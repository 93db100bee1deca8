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
(kiosk/store_recovery.py); an export running at that moment may fail, never the database.

>>> conn = open_read_only(Path("var/kiosk/kiosk.db"))   # doctest: +SKIP
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

log = logging.getLogger(__name__)


def open_read_only(path: Path) -> sqlite3.Connection | None:
    """A read-only connection to what the kiosk database at ``path`` holds now, or None when
    it cannot be read (no file, an empty one, not a kiosk database, unreadable)."""
    try:
        if not path.is_file() or path.stat().st_size == 0:
            return None
        wal = path.with_name(path.name + "-wal")
        frames = wal.exists() and wal.stat().st_size > 0
    except OSError as exc:
        log.warning("cannot read %s: %s", path, exc)
        return None
    uri = path.resolve().as_uri() + ("?mode=ro" if frames else "?mode=ro&immutable=1")
    conn = None
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None)
        conn.execute("SELECT count(*) FROM events").fetchone()
        conn.execute("SELECT count(*) FROM meta").fetchone()
        return conn
    except sqlite3.DatabaseError as exc:
        log.warning("cannot read %s read-only: %s", path, exc)
        if conn is not None:
            conn.close()
        return None
