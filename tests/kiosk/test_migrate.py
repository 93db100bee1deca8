"""Pending migrations run in a child process (kiosk/migrate.py), so the app never loads
sqlite-utils."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kiosk.errors import StoreError
from kiosk.migrate import pending, prepare
from kiosk.store import RatingStore


def test_prepare_migrates_a_new_database_in_a_child_and_the_app_never_imports_sqlite_utils(
        db_path):
    # Why: sqlite-utils and what it imports (click, dateutil, pluggy, zoneinfo …) stayed
    # resident in the app for the whole day after a first start: ~4 MB of a kiosk's memory.
    code = ("import sys; from kiosk.migrate import prepare; from kiosk.store import RatingStore; "
            "ran = prepare(sys.argv[1]); s = RatingStore(sys.argv[1]); s.record('rating', {}); "
            "s.close(); print(ran, 'sqlite_utils' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(db_path)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "False"]
    assert not pending(db_path)
    s = RatingStore(db_path)
    names = [r[0] for r in s.conn.execute("SELECT name FROM _sqlite_migrations")]
    assert names == ["m001_event_log", "m002_case_no_index"] and s.pending_count() == 1
    s.close()


def test_prepare_does_nothing_on_a_migrated_database(db_path):
    RatingStore(db_path).close()
    assert not pending(db_path)
    assert prepare(db_path) is False


def test_a_failed_child_leaves_the_error_to_the_store(tmp_path):
    # Best effort: the child's failure is logged, and RatingStore reports it as it always did.
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    path = blocker / "kiosk.db"
    assert pending(path)
    assert prepare(path) is False
    with pytest.raises(StoreError, match="cannot create the data folder"):
        RatingStore(path)
