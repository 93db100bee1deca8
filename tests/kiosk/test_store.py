"""RatingStore: durable append-only log, hash chain, outbox and batches, recovery."""

from __future__ import annotations

import gzip
import json
import threading
import time
import uuid

import pytest

from kiosk.errors import StoreError, StoreFullError
from kiosk.store import WAL_LIMIT_BYTES, RatingStore
from sync.protocol import GENESIS_HASH, event_hash


def test_record_assigns_gapless_seq_and_chains_hashes(store):
    events = [store.record("rating", {"level": "satisfied", "stars": 4}) for _ in range(5)]
    assert [e["seq"] for e in events] == [1, 2, 3, 4, 5]
    assert events[0]["prev_hash"] == GENESIS_HASH
    for before, after in zip(events, events[1:]):
        assert after["prev_hash"] == before["hash"]
    assert store.verify_chain() == (True, 5, None)
    assert len({e["id"] for e in events}) == 5


def test_event_has_all_identity_fields(store):
    e = store.record("app_start", {"version": "x"})
    assert e["device_id"] == store.device_id and e["stream_id"] == store.stream_id
    assert e["boot_id"] and isinstance(e["mono_ns"], int)
    assert "+" in e["device_time"] or e["device_time"].endswith("Z")  # timezone-aware
    assert e["hash"] == event_hash(e, e["prev_hash"])


def test_event_ids_are_time_ordered_uuid7(store):
    # The server indexes events and ratings by id. Random (v4) ids put each of a batch's
    # events on a different index page, so every commit rewrote hundreds of pages: inserting
    # 100,000 events cost 2.7x more (docs/benchmarks.md). Ids made later must sort later.
    first = store.record("app_start", {})["id"]
    time.sleep(0.002)  # the next millisecond
    later = [store.record("app_start", {})["id"] for _ in range(3)]
    assert {uuid.UUID(i).version for i in [first, *later]} == {7}
    assert all(first < i for i in later) and len(set(later)) == 3


def test_database_uses_wal_and_full_sync(store):
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_device_id_is_made_once_and_kept(db_path):
    a = RatingStore(db_path)
    device, stream = a.device_id, a.stream_id
    a.close()
    b = RatingStore(db_path)
    assert (b.device_id, b.stream_id) == (device, stream)
    assert json.loads((db_path.parent / "device.json").read_text())["device_id"] == device
    b.close()


def test_migrations_are_recorded_and_not_rerun(db_path):
    RatingStore(db_path).close()
    s = RatingStore(db_path)
    names = [r[0] for r in s.conn.execute("SELECT name FROM _sqlite_migrations")]
    assert names == ["m001_event_log", "m002_case_no_index"]
    s.close()


def test_tampered_event_breaks_the_chain(store):
    for i in range(4):
        store.record("rating", {"level": "satisfied", "n": i})
    # Somebody edits a stored rating behind the store's back: verification must notice.
    store.conn.execute("""UPDATE events SET payload = '{"level":"very_satisfied","n":2}' WHERE seq = 3""")
    ok, _, bad = store.verify_chain()
    assert not ok and bad == 3


def test_corrupt_database_is_moved_aside_and_a_new_stream_starts(db_path):
    s = RatingStore(db_path)
    s.record("rating", {"level": "satisfied"})
    device, old_stream = s.device_id, s.stream_id
    s.close()
    with open(db_path, "r+b") as fh:  # wreck the header and the first pages
        fh.write(b"\x00garbage" * 512)
    fresh = RatingStore(db_path)
    moved = list(db_path.parent.glob("kiosk.db.corrupt-*"))
    assert len(moved) == 1 and moved[0].stat().st_size > 0  # kept, never deleted
    assert fresh.device_id == device and fresh.stream_id != old_stream
    first = next(fresh.iter_events())
    assert first["type"] == "db_recovered" and first["seq"] == 1
    assert first["payload"]["old_stream_id"] == old_stream
    assert first["payload"]["moved_to"] == str(moved[0])
    fresh.close()


def test_full_disk_raises_clearly_and_writes_nothing_half(db_path):
    s = RatingStore(db_path)
    for _ in range(3):
        s.record("rating", {"level": "satisfied"})
    pages = s.conn.execute("PRAGMA page_count").fetchone()[0]
    s.conn.execute(f"PRAGMA max_page_count = {pages}")  # the database may not grow any more
    big = {"comment": "x" * 20000}
    with pytest.raises(StoreFullError, match="disk full"):
        for _ in range(50):
            s.record("rating", big)
    assert not s.conn.in_transaction
    ok, n, _ = s.verify_chain()
    assert ok
    seqs = [e["seq"] for e in s.iter_events()]
    assert seqs == list(range(1, n + 1))
    s.conn.execute("PRAGMA max_page_count = 1073741823")  # space returns: recording resumes
    assert s.record("rating", {"level": "satisfied"})["seq"] == n + 1
    s.close()


def test_frozen_batch_is_resent_byte_for_byte(store):
    for i in range(7):
        store.record("rating", {"n": i})
    batch = store.freeze_batch(max_events=5)
    assert (batch["first_seq"], batch["last_seq"], batch["n"]) == (1, 5, 5)
    again = store.freeze_batch(max_events=5)
    assert again["id"] == batch["id"] and again["body"] == batch["body"]
    reopened = RatingStore(store.path, check=False)
    assert reopened.open_batch()["body"] == batch["body"]  # survives a restart
    reopened.close()
    # Frozen as sent: gzip with mtime 0 (a restart or a new gzip level changes no byte).
    assert batch["body"][:2] == b"\x1f\x8b"
    body = json.loads(gzip.decompress(batch["body"]))
    assert body["batch_id"] == batch["id"] and body["device_id"] == store.device_id
    assert [e["seq"] for e in body["events"]] == [1, 2, 3, 4, 5]
    assert all(e["hash"] == event_hash(e, e["prev_hash"]) for e in body["events"])


def test_batch_respects_byte_limit(store):
    for i in range(10):
        store.record("rating", {"comment": "评" * 300, "n": i})
    batch = store.freeze_batch(max_events=500, max_bytes=4000)
    assert 1 <= batch["n"] < 10 and len(gzip.decompress(batch["body"])) <= 4000


def test_ack_marks_only_listed_events(store):
    events = [store.record("rating", {"n": i}) for i in range(4)]
    batch = store.freeze_batch()
    acked = store.mark_acked(
        batch["id"],
        [events[0]["id"], events[1]["id"], "not-in-this-batch"],
        {events[2]["id"]: "conflict"},
    )
    assert acked == 2
    assert store.open_batch() is None
    assert [e["seq"] for e in store.pending()] == [4]  # unlisted: back to the outbox
    assert [(e["seq"], e["quarantine"]) for e in store.quarantined()] == [(3, "conflict")]
    nxt = store.freeze_batch()
    assert nxt["id"] != batch["id"] and (nxt["first_seq"], nxt["last_seq"]) == (4, 4)
    assert store.get_meta("last_ack")


def test_split_batch_replaces_it_by_two_halves(store):
    for i in range(6):
        store.record("rating", {"n": i})
    batch = store.freeze_batch()
    halves = store.split_batch(batch["id"])
    assert [(h["first_seq"], h["last_seq"]) for h in halves] == [(1, 3), (4, 6)]
    assert store.open_batch()["id"] == halves[0]["id"]


def test_closed_batch_keeps_its_row_but_not_its_body(store):
    # Why: an answered (or split) batch is never resent, so its body is dead weight: kept, the
    # bodies doubled the kiosk database (~660 bytes per event, for ever) and closing a batch
    # rewrote its whole body into the WAL and again at the checkpoint.
    for i in range(6):
        store.record("rating", {"n": i})
    split = store.freeze_batch()
    halves = store.split_batch(split["id"])
    first = store.freeze_batch()
    assert first["id"] == halves[0]["id"]
    store.mark_acked(first["id"], [e["id"] for e in store.batch_events(first["id"])])
    rows = dict(store.conn.execute("SELECT id, length(body) FROM batches").fetchall())
    assert rows[split["id"]] == 0 and rows[first["id"]] == 0
    assert rows[halves[1]["id"]] > 0  # still open: kept to be resent byte for byte
    assert store.conn.execute("SELECT n, outcome FROM batches WHERE id = ?",
                              (first["id"],)).fetchone() == (3, "answered")
    assert store.open_batch()["body"] == halves[1]["body"]


def test_diagnostics(store):
    store.record("rating", {})
    d = store.diagnostics()
    assert d["pending"] == 1 and d["events"] == 1 and d["last_ack"] is None
    assert d["db_bytes"] > 0 and d["disk_free_bytes"] > 0 and d["oldest_pending"]


def test_config_is_applied_with_its_event_in_one_transaction(store):
    event = store.apply_config({"scale": 4}, etag='"abc"', version=3)
    assert event["type"] == "config_applied" and event["payload"] == {"etag": '"abc"', "version": 3}
    assert store.device_config() == ({"scale": 4}, '"abc"')


def test_two_threads_with_their_own_instances_never_break_the_sequence(db_path):
    RatingStore(db_path).close()
    errors = []

    def writer(n):
        try:
            s = RatingStore(db_path, check=False)
            for i in range(n):
                s.record("rating", {"i": i})
                if i % 10 == 0:
                    b = s.freeze_batch()
                    if b:
                        s.mark_acked(b["id"], [e["id"] for e in s.batch_events(b["id"])])
            s.close()
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(60,)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    s = RatingStore(db_path)
    assert s.verify_chain() == (True, 180, None)
    s.close()


def test_unopenable_location_gives_a_store_error(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(StoreError, match="cannot create the data folder"):
        RatingStore(tmp_path / "file" / "kiosk.db")


def test_wal_is_checkpointed_after_an_ack_and_cut_back(store):
    # SQLite checkpoints only every 4 MB and the WAL keeps its size: on a 2 MiB disk the WAL
    # alone filled it and batches could no longer be marked acknowledged (reliability run).
    wal = store.path.parent / (store.path.name + "-wal")
    events = []
    while wal.stat().st_size <= WAL_LIMIT_BYTES:
        events.append(store.record("rating", {"n": len(events), "pad": "x" * 400}))
    batch = store.freeze_batch()
    assert store.mark_acked(batch["id"], [e["id"] for e in store.batch_events(batch["id"])])
    store.record("rating", {"n": -1})  # the next write starts the WAL over, cut to the limit
    assert wal.stat().st_size <= WAL_LIMIT_BYTES
    assert store.verify_chain()[0] and len(list(store.iter_events())) == len(events) + 1


def test_several_open_batches_with_skip_are_acked_each_on_its_own(store):
    # Why: a pipelining client freezes the next batch while others are in flight (``skip``);
    # an ack of one batch (all accepted: one statement over its seq range) touches no other.
    events = [store.record("rating", {"n": i}) for i in range(6)]
    a = store.freeze_batch(max_events=3)
    b = store.freeze_batch(max_events=3, skip={a["id"]})
    assert (b["first_seq"], b["last_seq"]) == (4, 6)
    assert store.freeze_batch(max_events=3, skip={a["id"], b["id"]}) is None
    assert store.mark_acked(b["id"], [e["id"] for e in events[3:]]) == 3
    assert [e["seq"] for e in store.pending()] == [1, 2, 3]
    assert store.open_batch()["id"] == a["id"]
    assert store.mark_acked(a["id"], [e["id"] for e in events[:3]] + [events[4]["id"]]) == 3
    assert store.pending_count() == 0 and store.open_batch() is None


def test_freezing_reads_only_the_events_that_fit_and_splits_keep_the_level(store):
    # Why: freezing reads the pending events a few at a time and stops at the byte limit;
    # the next batch must start exactly where the last one stopped, with no event lost or
    # taken twice, and split halves are gzipped as the client asked.
    recorded = [store.record("rating", {"pad": "评" * 100, "n": i}) for i in range(300)]
    seen = []
    while (batch := store.freeze_batch(max_events=500, max_bytes=20_000, gzip_level=9)):
        body = gzip.decompress(batch["body"])
        assert len(body) <= 20_000 and batch["body"] == gzip.compress(body, 9, mtime=0)
        seqs = [e["seq"] for e in json.loads(body)["events"]]
        assert seqs == list(range(batch["first_seq"], batch["last_seq"] + 1))
        seen += seqs
        store.mark_acked(batch["id"], [e["id"] for e in json.loads(body)["events"]])
    assert seen == [e["seq"] for e in recorded] and store.pending_count() == 0
    store.record("rating", {"n": -1})
    store.record("rating", {"n": -2})
    halves = store.split_batch(store.freeze_batch()["id"], gzip_level=9)
    assert [h["body"] == gzip.compress(gzip.decompress(h["body"]), 9, mtime=0) for h in halves] == [True, True]


def test_frozen_body_is_the_sorted_json_of_each_event(store):
    # Why: freezing serialises events straight from their stored columns; the bytes must
    # still be what json.dumps(sort_keys) of each event gives (and hash-verify on the server).
    store.record("rating", {"staff_name": "王芳", "q": "a\"b\\c\n", "n": 1, "x": None,
                            "pct": "%s %d 100%", "big": 2**62})  # SQLite's printf builds it
    store.record("app_start", {})
    batch = store.freeze_batch()
    events = [store._event(r) for r in store.conn.execute(f"SELECT {store._COLS} FROM events")]
    items = ",".join(json.dumps(e, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
                     for e in events)
    assert gzip.decompress(batch["body"]).decode().endswith(',"events":[' + items + "]}")


def test_frozen_body_is_valid_json_of_the_same_values_for_odd_strings(db_path):
    # Why: SQLite quotes the stored strings (json_quote) and fills a printf template; a quote,
    # a backslash, a control character or a '%' in any of them must still arrive as the same
    # value, so that the server's hash of the event matches.
    store = RatingStore(db_path, boot_id='b"o\\o%s\t\x01%')
    store.record("rating", {"n": 1})
    body = json.loads(gzip.decompress(store.freeze_batch()["body"]))
    [event] = body["events"]
    assert event["boot_id"] == 'b"o\\o%s\t\x01%'
    assert event["hash"] == event_hash(event, event["prev_hash"])
    store.close()


def test_sqlite_utils_plugins_never_run_on_the_kiosk_database(db_path):
    # Why: an installed sqlite-utils plugin's prepare_connection hook could register functions
    # or change pragmas on the tamper-evident event log's connection; the kiosk's database is
    # opened without plugins (which also spares the process the entry-point scan).
    from sqlite_utils import hookimpl
    from sqlite_utils.plugins import pm

    called = []

    class Plugin:
        @hookimpl
        def prepare_connection(self, conn):
            called.append(conn)

    plugin = Plugin()
    pm.register(plugin, name="test-kiosk-plugin")
    try:
        store = RatingStore(db_path)
        store.record("rating", {"n": 1})
        store.close()
    finally:
        pm.unregister(plugin)
    assert called == []


def test_opening_a_migrated_database_does_not_import_sqlite_utils(db_path):
    # Why: sqlite-utils brings click, dateutil, pluggy, csv, decimal … (~4 MB of a kiosk's
    # resident memory); only a pending migration needs it, not every start of the kiosk.
    import subprocess
    import sys

    RatingStore(db_path).close()
    code = ("import sys; from kiosk.store import RatingStore; s = RatingStore(sys.argv[1]); "
            "s.record('rating', {'n': 1}); s.close(); print('sqlite_utils' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(db_path)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_a_migration_added_later_runs_once_on_an_existing_database(db_path, monkeypatch):
    # Why: the check that skips sqlite-utils must still let an upgrade's new migration run.
    import kiosk.store as store_module

    RatingStore(db_path).close()

    def m999_test_column(db):
        db.execute("ALTER TABLE meta ADD COLUMN note TEXT")

    shipped = [fn.__name__ for fn in store_module.MIGRATIONS]
    monkeypatch.setattr(store_module, "MIGRATIONS", (*store_module.MIGRATIONS, m999_test_column))
    for _ in range(2):
        s = RatingStore(db_path)
        columns = [r[1] for r in s.conn.execute("PRAGMA table_info(meta)")]
        names = [r[0] for r in s.conn.execute("SELECT name FROM _sqlite_migrations ORDER BY id")]
        s.close()
        assert columns == ["key", "value", "note"]
        assert names == [*shipped, "m999_test_column"]


def _other_writer_gets_the_lock(db_path) -> bool:
    """Whether a second connection (the sync worker has its own) can start a write now."""
    import sqlite3

    other = sqlite3.connect(db_path, timeout=0.2, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        other.close()


def test_a_payload_that_cannot_be_stored_is_a_store_error_and_the_next_record_works(store, db_path):
    # A queue system sent a case number with a lone UTF-16 surrogate ("2024-\ud842"). Hashing
    # it raised UnicodeEncodeError inside BEGIN IMMEDIATE; only SQLite's errors were rolled
    # back, so the write lock stayed held: the next citizen's tap was not recorded and the sync
    # worker's connection got "database is locked". It must be the store's own error (callers
    # catch StoreError), name the field, and leave the database as it was.
    store.record("rating", {"level": "satisfied"})
    with pytest.raises(StoreError, match="case_no") as raised:
        store.record("invitation", {"case_no": "2024-\ud842", "source": "http"})
    assert "invitation event was not recorded" in str(raised.value)
    assert not store.conn.in_transaction
    assert _other_writer_gets_the_lock(db_path)
    assert store.record("rating", {"level": "very_satisfied"})["seq"] == 2
    assert [e["type"] for e in store.iter_events()] == ["rating", "rating"]
    assert store.verify_chain()[0]


def test_a_value_json_cannot_hold_is_a_store_error_naming_its_field(store, db_path):
    with pytest.raises(StoreError, match="'detail.when'"):
        store.record("app_start", {"detail": {"when": object()}})
    with pytest.raises(StoreError, match="'roster'"):
        store.apply_config({"roster": "\udc80"}, etag="e1")
    assert not store.conn.in_transaction and _other_writer_gets_the_lock(db_path)
    assert store.device_config() == (None, None)
    assert store.record("rating", {"level": "satisfied"})["seq"] == 1


def test_any_exception_inside_a_write_rolls_it_back(store, db_path, monkeypatch):
    # Every write method shares one transaction helper: whatever goes wrong inside it (here a
    # bug in freezing a batch), the lock is released and nothing is half-written.
    for i in range(3):
        store.record("rating", {"n": i})

    def broken(*args, **kwargs):
        raise RuntimeError("a bug while freezing")

    monkeypatch.setattr(store, "_freeze_items", broken)
    with pytest.raises(RuntimeError):
        store.freeze_batch()
    assert not store.conn.in_transaction and _other_writer_gets_the_lock(db_path)
    monkeypatch.undo()
    batch = store.freeze_batch()
    assert batch is not None and batch["n"] == 3


def test_a_case_numbers_rating_is_found_through_its_index(store):
    # Every invitation asks whether its case number was rated lately (one service, one
    # rating): a scan of the whole event log there would slow each invitation as it grows.
    store.record("invitation", {"case_no": "C-1", "invitation_id": "i1"})
    store.record("rating", {"level": "satisfied", "case_no": "C-1", "invitation_id": "i1"})
    store.record("rating", {"level": "satisfied", "case_no": None})
    found = store.case_rated_lately("C-1", 3600)
    assert found["type"] == "rating" and found["seq"] == 2
    assert store.case_rated_lately("C-2", 3600) is None
    plan = " ".join(str(row) for row in store.conn.execute(
        "EXPLAIN QUERY PLAN SELECT seq FROM events WHERE json_extract(payload, '$.case_no') = ?"
        " AND type = 'rating' AND boot_id = ? AND mono_ns > ? ORDER BY seq DESC LIMIT 1",
        ("C-1", store.boot_id, 0)))
    assert "events_case_no" in plan
