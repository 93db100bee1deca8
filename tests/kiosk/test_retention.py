"""Retention: events the server acknowledged long enough ago leave the kiosk; nothing else does.

Why it matters: a kiosk stands in a public hall. Before, it kept every event for ever,
with the callback phone numbers and comments of every bad rating, readable by whoever took
the device or its SD card, long after the server had them and the case was closed.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from kiosk.store import RatingStore
from sync.protocol import GENESIS_HASH

PHONE = "13800138000"
DAYS = timedelta(days=30)


class WallClock:
    """The store's wall clock, moved by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 1, 9, 0, tzinfo=timezone(timedelta(hours=8)))

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def wall():
    return WallClock()


@pytest.fixture
def kept(db_path, wall):
    s = RatingStore(db_path, clock=wall)
    yield s
    s.close()


def _record(store, n, **payload):
    return [store.record("rating", {"level": "very_dissatisfied", "stars": 1, **payload})
            for _ in range(n)]


def _ack(store, events, per_batch=500):
    """Freeze the pending events into batches and acknowledge those listed."""
    ids = {e["id"] for e in events}
    while (batch := store.freeze_batch(max_events=per_batch)) is not None:
        listed = [e["id"] for e in store.batch_events(batch["id"]) if e["id"] in ids]
        store.mark_acked(batch["id"], listed)
        if not listed:
            break


def test_acked_events_past_retention_are_deleted_and_the_chain_still_verifies(kept, wall):
    events = _record(kept, 10, phone=PHONE)
    _ack(kept, events, per_batch=4)
    wall.now += DAYS + timedelta(hours=1)

    assert kept.prune_acked(DAYS) == 9  # the newest event stays: the chain goes on from it
    assert [e["seq"] for e in kept.iter_events()] == [10]
    assert kept.chain_start() == (9, events[8]["hash"])
    assert kept.verify_chain() == (True, 1, None)
    nxt = kept.record("rating", {"level": "satisfied", "stars": 4})
    assert (nxt["seq"], nxt["prev_hash"]) == (11, events[9]["hash"])
    assert kept.verify_chain() == (True, 2, None)
    assert kept.diagnostics()["pruned_through"] == 9
    # The closed batches of deleted events go too; the one that holds event 10 stays.
    assert kept.conn.execute("SELECT first_seq, last_seq FROM batches").fetchall() == [(9, 10)]
    assert kept.pending_count() == 1


def test_events_acked_recently_pending_or_quarantined_are_kept(kept, wall):
    events = _record(kept, 12)
    # 1-4 acked long ago; 5 pending; 6-12 acked long ago as well.
    _ack(kept, events[:4] + events[5:])
    assert [e["seq"] for e in kept.pending()] == [5]
    wall.now += DAYS * 2
    assert kept.prune_acked(DAYS) == 4
    assert [e["seq"] for e in kept.iter_events()][:2] == [5, 6]  # stops at the pending event

    # The pending one is acked now: the rest waits for its own retention.
    _ack(kept, [events[4]])
    assert kept.prune_acked(DAYS) == 0
    wall.now += DAYS + timedelta(seconds=1)
    assert kept.prune_acked(DAYS) == 7  # 5-11; 12 is the newest
    assert kept.verify_chain() == (True, 1, None)


def test_a_quarantined_event_is_never_deleted(kept, wall):
    events = _record(kept, 5)
    batch = kept.freeze_batch(max_events=500)
    kept.mark_acked(batch["id"], [e["id"] for e in events if e["seq"] != 3],
                    quarantined={events[2]["id"]: "conflict"})
    wall.now += DAYS * 2
    assert kept.prune_acked(DAYS) == 2
    assert [e["seq"] for e in kept.iter_events()] == [3, 4, 5]
    assert [e["seq"] for e in kept.quarantined()] == [3]


def test_deleting_in_small_chunks_deletes_the_same(kept, wall):
    events = _record(kept, 23)
    _ack(kept, events)
    wall.now += DAYS * 2
    assert kept.prune_acked(DAYS, chunk=5) == 22
    assert kept.verify_chain() == (True, 1, None)


def test_a_changed_anchor_or_kept_event_breaks_the_chain(kept, wall):
    events = _record(kept, 6)
    _ack(kept, events)
    wall.now += DAYS * 2
    kept.prune_acked(DAYS)
    kept.record("rating", {"level": "satisfied", "stars": 4})
    assert kept.verify_chain() == (True, 2, None)
    kept.set_meta("pruned_through", f"5 {GENESIS_HASH}")
    assert kept.verify_chain() == (False, 1, 6)
    kept.set_meta("pruned_through", f"4 {events[4]['hash']}")  # a gap hidden by the anchor
    assert kept.verify_chain() == (False, 1, 6)


def _left_in_file(db_path, wall, secure_delete: bool | None) -> tuple[int, int]:
    store = RatingStore(db_path, clock=wall)
    if secure_delete is not None:
        store.conn.execute(f"PRAGMA secure_delete = {int(secure_delete)}")
    events = _record(store, 50, phone=PHONE, comment="窗口人员态度恶劣")
    _ack(store, events)
    wall.now += DAYS * 2
    assert store.prune_acked(DAYS) == 49
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    raw = db_path.read_bytes()
    return raw.count(PHONE.encode()), raw.count("态度恶劣".encode())


def test_deleted_phone_numbers_are_not_left_in_the_file(tmp_path, wall):
    # The store turns secure_delete on: SQLite otherwise leaves deleted rows readable in
    # free pages. (Debian builds SQLite with it on by default; other builds do not.)
    assert _left_in_file(tmp_path / "a.db", wall, None) == (1, 1)  # the newest event's
    # The control: with it off, the same deletion leaves the numbers in the file, so the
    # count above does see what a deletion leaves behind.
    left = _left_in_file(tmp_path / "b.db", wall, False)
    assert left[0] > 1 and left[1] > 1


def test_the_anchor_survives_a_restart(db_path, wall):
    store = RatingStore(db_path, clock=wall)
    events = _record(store, 4)
    _ack(store, events)
    wall.now += DAYS * 2
    store.prune_acked(DAYS)
    store.close()
    again = RatingStore(db_path, clock=wall)
    try:
        assert again.chain_start() == (3, events[2]["hash"])
        assert again.record("app_start", {})["seq"] == 5
        assert again.verify_chain() == (True, 2, None)
    finally:
        again.close()


def test_export_after_retention_says_where_the_chain_starts(kept, wall, tmp_path):
    from kiosk.export import export_events

    events = _record(kept, 8)
    _ack(kept, events[:5])
    wall.now += DAYS * 2
    kept.prune_acked(DAYS)
    (tmp_path / "usb").mkdir()
    folder = export_events(kept, tmp_path / "usb")
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert (manifest["first_seq"], manifest["last_seq"], manifest["count"]) == (6, 8, 3)
    assert manifest["pruned_through_seq"] == 5 and manifest["chain_ok"]
    first = json.loads((folder / "events.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert first["prev_hash"] == manifest["pruned_through_hash"] == events[4]["hash"]


def test_technician_panel_says_from_which_event_the_kiosk_holds(kept, wall):
    from kiosk.i18n import Translator
    from kiosk.screens.text import diagnostics_rows

    events = _record(kept, 4)
    tr = Translator("zh_CN")
    rows = dict(diagnostics_rows(kept.diagnostics(), None, "1", "W-001", tr))
    assert rows["本机记录"] == "4"
    _ack(kept, events)
    wall.now += DAYS * 2
    kept.prune_acked(DAYS)
    rows = dict(diagnostics_rows(kept.diagnostics(), None, "1", "W-001", tr))
    assert rows["本机记录"] == "1（自第 4 条起）"
