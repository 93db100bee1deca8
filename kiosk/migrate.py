"""The kiosk database's pending migrations, run in a short-lived child process.

Migrations need sqlite-utils, and sqlite-utils brings click, dateutil, pluggy, zoneinfo and
more: about 4 MB of resident memory that an app process keeps until it exits, although it
needs them once, on a new database or the first start after an upgrade. ``kiosk run`` calls
``prepare`` before it opens its ``RatingStore``, so its own process never imports them and a
first start takes as much memory as every later one (docs/kiosk-deployment.md, "Memory").

    python -m kiosk.migrate DB      # create or migrate the kiosk database DB, then exit

``prepare`` is best effort: when the child fails (a full disk, a corrupt file, no Python to
start), it logs why and the app's ``RatingStore`` migrates in process as before, and reports
what is wrong in the usual way. A database that cannot be opened even then (a full disk) is
``kiosk run``'s to handle: it runs on a read-only view (kiosk/store_recovery.py).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from .errors import StoreError
from .store import RatingStore, migrated

log = logging.getLogger(__name__)
CHILD_TIMEOUT_S = 120


def pending(path: str | os.PathLike) -> bool:
    """True when the database at ``path`` does not exist yet or lacks a migration."""
    path = Path(path)
    if not path.exists():
        return True
    try:
        conn = sqlite3.connect(path, timeout=30)
        try:
            # Read first: ``migrated`` takes any error for "no migrations table", and a full
            # disk (no room for the -shm file) started a child that failed, at every retry.
            conn.execute("PRAGMA schema_version").fetchone()
            return not migrated(conn)
        finally:
            conn.close()
    except sqlite3.DatabaseError:   # unreadable: RatingStore moves it aside or says why, in process
        return False


def prepare(path: str | os.PathLike) -> bool:
    """Create or migrate the database at ``path`` in a child process when a migration is
    pending; True when none is pending afterwards because the child ran them. Never raises
    (see the module's docstring)."""
    if not pending(path):
        return False
    root = str(Path(__file__).resolve().parent.parent)   # this kiosk package, for the child
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (root, os.environ.get("PYTHONPATH")) if p))
    try:
        out = subprocess.run([sys.executable, "-m", "kiosk.migrate", str(path)], env=env,
                             capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("migrating %s in a child process failed (%s); migrating in process",
                    path, exc)
        return False
    if out.returncode != 0:
        log.warning("migrating %s in a child process failed (exit %s: %s); migrating in "
                    "process", path, out.returncode, out.stderr.strip()[-500:])
        return False
    return not pending(path)


def open_store(path: str | os.PathLike) -> RatingStore:
    """The app's ``RatingStore`` at ``path``, its pending migrations run first in a child
    process (``prepare``): how ``kiosk run`` opens its store."""
    prepare(path)
    return RatingStore(path)


if __name__ == "__main__":
    try:
        RatingStore(sys.argv[1]).close()
    except StoreError as exc:   # one line for the parent's log, not a traceback
        print(exc, file=sys.stderr)
        sys.exit(1)
