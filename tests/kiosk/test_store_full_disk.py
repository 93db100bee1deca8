"""The kiosk store opened on a data disk that is already full: a real 1 MiB tmpfs, filled by a
file (skipped where this machine cannot mount one: not root).

Why it matters: opening a WAL database grows its -shm file, and on a full disk that failed.
The integrity check took the failure for corruption and moved a healthy database aside (the
kiosk then started a new stream, its unsent ratings left in kiosk.db.corrupt-…); a first start
left a 0-byte kiosk.db; and nothing could read the database to show or export it.
(kiosk/store_recovery.py and tests/gui/test_full_disk_start.py: the app on such a disk.)
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from kiosk.errors import StoreError, StoreFullError
from kiosk.migrate import pending
from kiosk.store import RatingStore
from tests.reliability.disk_full import _fill


def _recorded(path: Path, n: int = 5) -> list[str]:
    """A database at ``path`` with ``n`` ratings, closed cleanly (no -wal left); their ids."""
    store = RatingStore(path)
    ids = [store.record("rating", {"level": "satisfied", "stars": 4, "n": i})["id"] for i in range(n)]
    store.close()
    return ids


def _files(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in folder.iterdir() if p.name != "filler.bin"}


def test_a_healthy_database_on_a_full_disk_is_not_moved_aside_as_corrupt(small_disk):
    db = small_disk / "kiosk.db"
    ids = _recorded(db)
    filler = _fill(small_disk)
    with pytest.raises(StoreFullError, match="disk full"):
        RatingStore(db)
    assert not [p for p in small_disk.iterdir() if ".corrupt" in p.name]
    filler.unlink()
    store = RatingStore(db)                          # space back: the same database, stream
    assert store.recovered_from is None
    assert [e["id"] for e in store.iter_events()] == ids
    assert store.verify_chain()[0]
    store.close()


def test_a_first_start_on_a_full_disk_leaves_no_empty_database(small_disk):
    filler = _fill(small_disk)
    with pytest.raises(StoreFullError, match="disk full"):
        RatingStore(small_disk / "kiosk.db")
    assert _files(small_disk) == {}                  # no 0-byte kiosk.db, -wal, -shm
    filler.unlink()
    store = RatingStore(small_disk / "kiosk.db")
    assert store.recovered_from is None and store.record("rating", {"level": "satisfied"})["seq"] == 1
    store.close()


def test_a_reader_on_a_full_disk_reads_everything_and_writes_nothing(small_disk):
    # The USB export and `kiosk status` open their own store with check=False.
    db = small_disk / "kiosk.db"
    ids = _recorded(db)
    _fill(small_disk)
    content = db.read_bytes()
    reader = RatingStore(db, check=False)
    assert isinstance(reader.read_only, StoreFullError)
    assert [e["id"] for e in reader.iter_events()] == ids
    assert reader.verify_chain() == (True, len(ids), None)
    assert reader.diagnostics()["pending"] == len(ids)
    assert reader.diagnostics()["disk_free_bytes"] == 0
    with pytest.raises(StoreFullError, match="disk full"):
        reader.record("rating", {"level": "satisfied"})
    with pytest.raises(StoreFullError):
        reader.freeze_batch()
    reader.close()
    assert db.read_bytes() == content                      # not a byte written
    assert os.path.getsize(db.with_name("kiosk.db-wal")) == 0   # (SQLite's empty try at it)


def test_the_view_includes_what_a_run_that_ended_without_closing_left_in_the_wal(small_disk):
    db = small_disk / "kiosk.db"
    store = RatingStore(db)
    ids = [store.record("rating", {"level": "satisfied", "n": i})["id"] for i in range(3)]
    # Copies of the three files while the store is open: a run killed before it closed.
    for suffix in ("", "-wal", "-shm"):
        (small_disk / f"copy{suffix}").write_bytes(db.with_name(db.name + suffix).read_bytes())
    store.close()
    for suffix in ("", "-wal", "-shm"):
        os.replace(small_disk / f"copy{suffix}", db.with_name(db.name + suffix))
    assert os.path.getsize(db.with_name("kiosk.db-wal")) > 0
    _fill(small_disk)
    view = RatingStore.read_only_view(db, StoreFullError("disk full"))
    assert view.readable and [e["id"] for e in view.iter_events()] == ids
    view.close()


def test_pending_migrations_on_a_full_disk_start_no_child_process(small_disk):
    # "Cannot tell" must not read as "not migrated": a child that could only fail was started
    # at every try to open the database.
    db = small_disk / "kiosk.db"
    _recorded(db)
    _fill(small_disk)
    assert pending(db) is False


def test_a_view_of_no_database_is_empty_and_makes_no_file(tmp_path):
    db = tmp_path / "kiosk.db"
    view = RatingStore.read_only_view(db, StoreError("cannot open"))
    assert not view.readable
    assert list(view.iter_events()) == [] and view.chain_head()[0] == 0
    assert view.device_config() == (None, None)
    with pytest.raises(StoreError, match="read-only"):
        view.set_meta("x", "1")
    view.close()
    assert list(tmp_path.iterdir()) == []


def test_a_zero_byte_database_is_a_new_one_not_corrupt_data(tmp_path):
    # What a first start on a full disk left behind before: it must not be moved aside (and
    # kept for ever as "corrupt") when the kiosk starts again with space.
    db = tmp_path / "kiosk.db"
    db.touch()
    store = RatingStore(db)
    assert store.recovered_from is None
    assert not list(tmp_path.glob("*.corrupt-*"))
    assert store.record("rating", {"level": "satisfied"})["seq"] == 1
    store.close()


def test_a_corrupt_database_is_still_moved_aside(tmp_path):
    db = tmp_path / "kiosk.db"
    _recorded(db)
    with open(db, "r+b") as fh:
        fh.write(b"not a database at all, sorry")
    store = RatingStore(db)
    assert store.recovered_from and Path(store.recovered_from["moved_to"]).exists()
    store.close()
    with pytest.raises(sqlite3.DatabaseError):
        sqlite3.connect(store.recovered_from["moved_to"]).execute("SELECT * FROM events").fetchall()


@pytest.mark.parametrize("killed", [False, True])
def test_a_corrupt_database_found_on_a_full_disk_is_announced_when_space_returns(small_disk,
                                                                                 killed):
    # Closed cleanly (no -shm), the check cannot run on a full disk: the app runs on a view,
    # which read the corrupt file and crashed. Killed (its -wal and -shm left), the check
    # runs and moves the corrupt file aside, the new database cannot be made (full), and the
    # open that made it once space returned knew nothing of it: a new stream with no
    # db_recovered event, so nothing told the server where the old stream's ratings were.
    import subprocess
    import sys

    from kiosk.store_recovery import open_or_view

    db = small_disk / "kiosk.db"
    _recorded(db, n=30)
    old = RatingStore(db)
    old_stream = old.stream_id
    old.close()
    if killed:
        subprocess.run([sys.executable, "-c", (
            "import os; from kiosk.store import RatingStore; "
            f"s = RatingStore({str(db)!r}); s.record('rating', {{'level': 'satisfied'}}); "
            "os._exit(0)")], check=True)
    data = bytearray(db.read_bytes())
    data[4096 * 3:4096 * 3 + 300] = os.urandom(300)      # a wrecked page
    db.write_bytes(bytes(data))
    filler = _fill(small_disk)
    view, problem = open_or_view(db)
    assert isinstance(problem, StoreFullError)
    view.close()
    filler.unlink()
    store = RatingStore(db)
    try:
        (moved,) = [p for p in small_disk.iterdir() if ".corrupt-" in p.name]
        assert store.stream_id != old_stream
        (recovered,) = [e["payload"] for e in store.iter_events() if e["type"] == "db_recovered"]
        assert recovered["moved_to"] == str(moved) and recovered["old_stream_id"] == old_stream
    finally:
        store.close()


def test_a_directory_in_the_databases_place_is_moved_aside_and_recording_goes_on(tmp_path):
    # Only corruption moved a file aside, so anything else (a directory where kiosk.db should
    # be, an unreadable sector) left the kiosk refusing every rating for good.
    db = tmp_path / "kiosk.db"
    db.mkdir()
    store = RatingStore(db)
    try:
        assert store.recovered_from and ".corrupt-" in store.recovered_from["moved_to"]
        assert [e["type"] for e in store.iter_events()] == ["db_recovered"]
        assert store.record("rating", {"level": "satisfied", "stars": 4})["seq"] == 2
    finally:
        store.close()
