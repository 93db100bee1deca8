"""A kiosk database that becomes corrupt while the kiosk runs (a sector goes bad under it).

Why it matters: the quick check and the move aside ran only at start, so every tap after the
damage got "please try again" ("recording a rating event failed: database disk image is
malformed") until someone restarted the kiosk; the UI thread was not hung, so the systemd
watchdog never did. Now the app's store moves the file aside as at start (kept, never
deleted: its thanked ratings are exported from it), goes on in a new stream and records the
tap that found the damage there.
"""

from __future__ import annotations

import json
import sqlite3

import pytest

from kiosk.errors import StoreError, StoreFullError
from kiosk.store import RatingStore
from kiosk.store_readonly import open_read_only

LEVELS = ["very_satisfied", "satisfied", "basic_satisfied", "dissatisfied", "very_dissatisfied"]


def _rating(store, k, **extra):
    payload = {"level": LEVELS[k % 5], "stars": 5 - k % 5, "window_id": "W-001", **extra}
    return store.record("rating", payload)


def _thanked(store, n=300):
    """``n`` ratings recorded (each one a citizen thanked), with comments, so that the id
    index spans several pages; their ids."""
    return [_rating(store, k, comment="c" * 300)["id"] for k in range(n)]


def _wreck_the_page_the_next_event_needs(db):
    """Overwrite the last leaf page of the events' id index (a new event's UUIDv7 id goes
    there) with garbage, as a bad sector does, under the open connections."""
    conn = sqlite3.connect(db)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        index = conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'"
                             " AND tbl_name = 'events' AND sql IS NULL").fetchone()[0]
        page = conn.execute("SELECT max(pageno) FROM dbstat WHERE name = ? AND pagetype = 'leaf'",
                            (index,)).fetchone()[0]
    finally:
        conn.close()
    with open(db, "r+b") as fh:
        fh.seek((page - 1) * page_size)
        fh.write(b"\xee" * page_size)


def _moved(db):
    return sorted(p for p in db.parent.glob("kiosk.db.corrupt-*") if p.name[-4:] not in ("-wal", "-shm"))


def test_a_database_corrupted_while_running_is_moved_aside_and_the_tap_recorded_anew(db_path):
    store = RatingStore(db_path)                 # the app's store
    device, old_stream = store.device_id, store.stream_id
    store.set_meta("local_settings", json.dumps({"trigger.mode": "invited"}))
    # the PIN lockouts' counts too: a guesser who wrecked the database got fresh tries
    lock = json.dumps({"boot": store.boot_id, "state": {"failures": 4}})
    store.set_meta("pin_lock.technician", lock)
    store.set_meta("pin_lock.staff", lock)
    store.apply_config({"window": {"name": "综合窗口"}}, etag="e1", version=7)
    thanked = _thanked(store)
    worker = RatingStore(db_path, check=False)   # the sync worker's own connection
    assert worker.pending_count() == 301   # and config_applied
    _wreck_the_page_the_next_event_needs(db_path)

    # The damage is real: a write on the old file fails as every tap did.
    with pytest.raises(StoreError, match="malformed"):
        _rating(worker, 1000)

    event = _rating(store, 1000)                 # the tap that found the damage: recorded
    assert event["stream_id"] != old_stream and event["device_id"] == device
    assert event["seq"] == 2
    first = next(store.iter_events())
    assert first["type"] == "db_recovered" and first["seq"] == 1
    moved = _moved(db_path)
    assert len(moved) == 1 and first["payload"]["moved_to"] == str(moved[0])
    assert first["payload"]["old_stream_id"] == old_stream
    assert "malformed" in first["payload"]["error"]
    assert store.recoveries == 1
    assert _rating(store, 1001)["seq"] == 3      # and the next tap too

    # What the technician set on the kiosk and the server's last config carry over.
    assert json.loads(store.get_meta("local_settings")) == {"trigger.mode": "invited"}
    assert store.get_meta("pin_lock.technician") == store.get_meta("pin_lock.staff") == lock
    assert store.device_config() == ({"window": {"name": "综合窗口"}}, "e1")

    # The sync worker's connection, still on the file moved aside, closing later leaves the
    # new database's -wal (its newest events) alone: SQLite sees the file moved.
    worker.close()
    assert db_path.with_name("kiosk.db-wal").exists()
    store.close()
    again = RatingStore(db_path)
    assert [e["type"] for e in again.iter_events()] == ["db_recovered", "rating", "rating"]
    assert again.verify_chain()[0] and again.stream_id == event["stream_id"]
    assert json.loads(db_path.with_name("device.json").read_text())["stream_id"] == again.stream_id
    again.close()

    # The file moved aside is kept with every thanked rating in it, for `kiosk export --db`.
    conn = open_read_only(moved[0], damaged=True)
    assert conn is not None
    kept = [row[0] for row in conn.execute("SELECT id FROM events WHERE type = 'rating'"
                                           " ORDER BY seq")]
    conn.close()
    assert kept == thanked


def test_a_reader_never_moves_a_corrupt_database_aside(db_path):
    # The sync worker and the USB export open the database with check=False: only the app's
    # own store may move the file away under the others.
    store = RatingStore(db_path)
    _thanked(store, 100)
    reader = RatingStore(db_path, check=False)
    _wreck_the_page_the_next_event_needs(db_path)
    with pytest.raises(StoreError, match="malformed"):
        _rating(reader, 1000)
    assert _moved(db_path) == [] and reader.recoveries == 0
    reader.close()
    store.close()


def test_a_new_database_that_cannot_be_made_yet_is_made_at_the_next_tap(db_path, monkeypatch):
    # A corrupt file found while the disk is full: the tap is refused (never a false thanks)
    # and the file stays moved aside; the next tap, once there is room, makes the new database
    # and is recorded there after the db_recovered event that names the moved file.
    store = RatingStore(db_path)
    old_stream = store.stream_id
    _thanked(store, 100)
    _wreck_the_page_the_next_event_needs(db_path)
    real_connect = sqlite3.connect
    full = {"on": True}

    def connect(path, *args, **kwargs):
        if full["on"] and str(path) == str(db_path):
            raise sqlite3.OperationalError("database or disk is full")
        return real_connect(path, *args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", connect)
    with pytest.raises(StoreFullError):
        _rating(store, 1000)
    assert len(_moved(db_path)) == 1 and not db_path.exists()
    assert store.pending_count() == 0            # reads answer "nothing" meanwhile
    with pytest.raises(StoreFullError):
        _rating(store, 1001)
    full["on"] = False
    event = _rating(store, 1002)
    assert [e["type"] for e in store.iter_events()] == ["db_recovered", "rating"]
    assert event["seq"] == 2 and event["payload"]["stars"] == 3   # the tap that worked
    first = next(store.iter_events())["payload"]
    assert first["moved_to"] == str(_moved(db_path)[0]) and first["old_stream_id"] == old_stream
    store.close()


def test_the_tap_that_found_the_damage_keeps_its_event_id_in_the_new_database(db_path,
                                                                             monkeypatch):
    # A COMMIT can reach the old file's WAL and still report corruption (a damaged -shm):
    # tried again under a new id, one tap would be two ratings once the moved file's USB
    # export came in. Under one id the server keeps the first copy it gets and quarantines
    # the other as a conflict.
    import kiosk.store

    store = RatingStore(db_path)
    _thanked(store, 300)
    _wreck_the_page_the_next_event_needs(db_path)
    made, real = [], kiosk.store.event_id

    def watched():
        made.append(real())
        return made[-1]
    monkeypatch.setattr(kiosk.store, "event_id", watched)
    event = _rating(store, 1000)
    assert store.recoveries == 1 and event["seq"] == 2
    assert event["id"] == made[0], made   # the id the failed try was made with
    store.close()
