"""The sync worker sends what a database moved aside as corrupt still holds, by itself.

Why it matters: a power cut that corrupts the SD card moves kiosk.db aside at the next start;
its thanked but unsent ratings reached the server only when a technician came with a USB stick
(``kiosk export --db``) and an admin imported it. Now the worker sends them, exactly once,
under the old stream's ids, without writing a byte into the moved file (it is evidence).
"""

from __future__ import annotations

import base64
import collections
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

from kiosk.export import export_moved_aside, moved_aside_files
from kiosk.store import RatingStore
from sync.client import SyncClient
from sync.worker import SyncWorker

from .conftest import wait_for


def _digests(moved: Path) -> dict[str, str]:
    """SHA-256 of the moved file and of its -wal/-shm, those there are."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in (moved, moved.with_name(moved.name + "-wal"), moved.with_name(moved.name + "-shm"))
            if p.exists()}


def _wreck_leaf(db: Path, name: str, from_end: int = 0) -> None:
    """Overwrite a leaf page of ``name`` (a table or an index) with garbage, as a bad sector
    does: ``from_end`` counts back from its last leaf page."""
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    pages = [p for (p,) in conn.execute("SELECT pageno FROM dbstat WHERE name = ? AND "
                                        "pagetype = 'leaf' ORDER BY pageno", (name,))]
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    page = pages[-1 - from_end]
    with open(db, "r+b") as fh:
        fh.seek((page - 1) * size)
        fh.write(b"\xee" * size)


def _comment_ratings(store, n: int) -> list[dict]:
    """``n`` ratings with comments, so that the events table spans many pages."""
    return [store.record("rating", {
        "level": "satisfied", "stars": 4, "scale": 5, "channel": 4, "window_id": "W-S1",
        "unit_id": "U-SYNC", "staff_id": "S-SYNC-1", "staff_name": "王芳", "service_item": None,
        "case_no": None, "invitation_id": None, "flags": [], "comment": f"{k} " + "好" * 150})
        for k in range(n)]


def _moved_at_start(kiosk, n_acked: int, n_unsent: int, wreck=("events_pending", 0)):
    """``n_acked`` ratings sent, ``n_unsent`` more recorded, then the file damaged and moved
    aside by the next start, as after a power cut: (moved file, old stream id, live store)."""
    kiosk.record(n_acked)
    kiosk.client.drain()
    _comment_ratings(kiosk.store, n_unsent)
    db, old_stream = kiosk.store.path, kiosk.store.stream_id
    kiosk.store.close()
    _wreck_leaf(db, *wreck)
    live = RatingStore(db)                  # the app's store at the next start: moves it aside
    moved = Path(live.recovered_from["moved_to"])
    kiosk.store = live
    return moved, old_stream, live


def _readable(moved: Path, live, tmp_path: Path) -> list[dict]:
    """What a technician's export reads of ``moved`` (its readable events)."""
    usb = tmp_path / f"usb-{time.monotonic_ns()}"
    usb.mkdir()
    folder = export_moved_aside(moved, usb, live_events=live.iter_events)
    return [json.loads(line) for line in (folder / "events.jsonl").read_text("utf-8").splitlines()]


def _once(server, device_id: str) -> dict[str, list[dict]]:
    """The server's events of the device by stream; asserts none is there twice and nothing
    was quarantined (no conflict: the same bytes each time)."""
    from sqlalchemy import func, select

    from aggregator.schema import quarantine

    rows = server.events(device_id)
    assert not [i for i, n in collections.Counter(r["id"] for r in rows).items() if n > 1]
    with server.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(quarantine)
                            .where(quarantine.c.device_id == device_id)).scalar() == 0
    by_stream: dict[str, list[dict]] = collections.defaultdict(list)
    for r in rows:
        by_stream[r["stream_id"]].append(r)
    return by_stream


def _worker(db: Path, backoff, **kwargs) -> SyncWorker:
    # credentials None: loaded from the data folder, as `kiosk run` does
    return SyncWorker(db, None, interval=3600, backoff=backoff, **kwargs).start()


def sent_record_path(moved: Path) -> Path:
    """Where the worker records what it sent of ``moved`` (docs/kiosk-store.md): beside it,
    under a name no look for ``kiosk.db.corrupt-*`` finds."""
    return moved.with_name(moved.name.replace("kiosk.db.corrupt-", "kiosk.db.sent.corrupt-")
                           + ".json")


def read_sent_record(moved: Path) -> dict | None:
    try:
        return json.loads(sent_record_path(moved).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):   # none yet, or the cut one a test wrote
        return None


def _holds(server, device_id: str, ids) -> bool:
    return set(ids) <= {r["id"] for r in server.events(device_id)}


def _beat(server, device_id: str) -> dict:
    """The device's last heartbeat as the server keeps it ({} before the first)."""
    return server.device(device_id)["last_heartbeat"] or {}


def _scratch_left(folder: Path) -> list[Path]:
    """The scratch copies in the kiosk's data folder (on its own disk, whose room the sender
    checks: a tmpfs /tmp took each copy into memory) or in the temporary folder."""
    return [*folder.glob("kiosk-moved-*"), *Path(tempfile.gettempdir()).glob("kiosk-moved-*")]


def test_a_start_that_moved_the_database_aside_then_sends_its_unsent_ratings_once(
        aggregator_server, make_kiosk, fast_backoff, tmp_path, caplog):
    # Why: the SD card's damage moved kiosk.db aside at start; 400 ratings the citizens were
    # thanked for sat in kiosk.db.corrupt-* until someone came with a USB stick. A page of the
    # events table is wrecked too: what can be read is sent, the rest is said.
    kiosk = make_kiosk()
    device = kiosk.store.device_id
    moved, old_stream, live = _moved_at_start(kiosk, 20, 400, wreck=("events", 3))
    readable = _readable(moved, live, tmp_path)
    unsent = [e for e in readable if not e["acked_at"]]
    assert 300 < len(unsent) < 400   # some rows are unreadable, most are not
    new_events = _comment_ratings(live, 5)
    before = _digests(moved)
    caplog.set_level(logging.INFO)
    # a copy a pass cut short by a power cut left two hours ago: deleted by the next start
    stale = live.path.parent / "kiosk-moved-stale"
    (stale / "kiosk.db").parent.mkdir()
    (stale / "kiosk.db").write_bytes(b"x" * 1000)
    os.utime(stale, (time.time() - 7200, time.time() - 7200))

    worker = _worker(live.path, fast_backoff)
    try:
        assert wait_for(lambda: _holds(aggregator_server, device, (e["id"] for e in readable)))
        assert wait_for(lambda: (read_sent_record(moved) or {}).get("done") is True)
        assert wait_for(lambda: live.pending_count() == 0)
    finally:
        assert worker.stop(timeout=20)
    streams = _once(aggregator_server, device)
    old_ids = {r["id"] for r in streams[old_stream]}
    assert {e["id"] for e in readable} <= old_ids          # every readable one, acked before too
    assert {e["id"] for e in new_events} <= {r["id"] for r in streams[live.stream_id]}
    assert _digests(moved) == before                       # not a byte of the evidence changed

    record = read_sent_record(moved)
    counts = record["counts"]
    assert counts["readable"] == len(readable) and counts["unreadable"] > 0
    assert counts["sent_acked"] == len(unsent) and counts["pending"] == 0
    assert record["batches"] == []
    assert moved_aside_files(live.path) == [moved]         # the record is no database
    assert sent_record_path(moved).exists() and moved.exists()
    assert worker.status()["moved_aside_pending"] == 0
    assert _scratch_left(live.path.parent) == []           # the copy is deleted, the stale one too
    said = [r.getMessage() for r in caplog.records if r.name == "sync.moved_aside"]
    assert any(f"sending {len(unsent)} unsent events of the database moved aside {moved.name}"
               in m for m in said), said
    assert any(f"{moved.name} is sent" in m for m in said), said


def test_a_kill_after_a_batch_was_sent_and_before_its_answer_sends_it_again_once(
        aggregator_server, make_kiosk, proxy, fast_backoff, monkeypatch):
    # Why: the answer to a moved file's batch was lost (the server had committed it) and the
    # kiosk died before it heard again; after the restart the same frozen batch must go out
    # again, byte for byte under the same batch id, and count once.
    kiosk = make_kiosk(url=proxy.url)
    device = kiosk.store.device_id
    moved, old_stream, live = _moved_at_start(kiosk, 5, 60)
    kiosk.client.store = live
    kiosk.client.drain()                   # the live outbox is empty: the next batch is moved
    before = _digests(moved)
    faults = {"n": 0}

    def chooser(info):
        if info.n_events != 60:            # the live outbox's (config_applied) pass
            return "pass"
        faults["n"] += 1
        return "lose" if faults["n"] == 1 else "drop"   # committed, answer lost; then offline
    proxy.chooser = chooser
    worker = _worker(live.path, fast_backoff)
    try:
        assert wait_for(lambda: faults["n"] >= 1)
    finally:
        assert worker.stop(timeout=20)     # as good as a kill: the record was written before
    proxy.wait_idle()
    record = read_sent_record(moved)
    assert not record["done"] and len(record["batches"]) == 1
    (frozen,) = record["batches"]
    held = {r["batch_id"] for r in aggregator_server.events(device) if r["stream_id"] == old_stream}
    assert frozen["id"] in held            # the server took the batch whose answer was lost

    proxy.chooser = None
    sent_bodies = []
    real_post = SyncClient._post_batch

    def recording(self, body, persist=True):
        sent_bodies.append(body)
        return real_post(self, body, persist)
    monkeypatch.setattr(SyncClient, "_post_batch", recording)
    worker = _worker(live.path, fast_backoff)   # the restart
    try:
        assert wait_for(lambda: (read_sent_record(moved) or {}).get("done") is True)
    finally:
        assert worker.stop(timeout=20)
    assert base64.b64decode(frozen["body"]) in sent_bodies   # the same bytes again
    streams = _once(aggregator_server, device)
    assert len(streams[old_stream]) == 5 + 60
    assert read_sent_record(moved)["counts"]["sent_acked"] == 60
    assert _digests(moved) == before


def test_a_file_whose_ids_cannot_be_settled_is_skipped_once_and_the_live_outbox_drains(
        aggregator_server, make_kiosk, fast_backoff, tmp_path, caplog):
    # Why: a moved file no id fits (its meta page damaged, no db_recovered naming it), one of
    # another device, or one nothing can be read from must not stop the kiosk's own sync nor be
    # tried for ever: the technician's USB export is the way for them, and the log says so.
    kiosk = make_kiosk()
    device = kiosk.store.device_id
    kiosk.record(30)
    db = kiosk.store.path
    kiosk.store.close()
    _wreck_leaf(db, "meta")
    live = RatingStore(db)
    moved = Path(live.recovered_from["moved_to"])
    kiosk.store = live
    unsettled = moved.with_name("kiosk.db.corrupt-20200101T000000")   # no db_recovered names it
    shutil.copyfile(moved, unsettled)
    moved.unlink()
    other = RatingStore(tmp_path / "other" / "kiosk.db")
    other.record("rating", {"level": "satisfied", "stars": 4})
    other.close()
    foreign = moved.with_name("kiosk.db.corrupt-20200102T000000")
    shutil.copyfile(other.path, foreign)
    garbage = moved.with_name("kiosk.db.corrupt-20200103T000000")
    garbage.write_bytes(b"\x00garbage" * 4096)
    new = kiosk.record(7)
    caplog.set_level(logging.INFO)

    worker = _worker(live.path, fast_backoff)
    try:
        assert wait_for(lambda: live.pending_count() == 0 and worker.status()["state"] == "idle")
        assert wait_for(lambda: worker.status().get("moved_aside_skipped") == 3, timeout=10)
        # the dashboard says so too (the heartbeat), without waiting for a technician's visit
        assert wait_for(lambda: _beat(aggregator_server, device).get("moved_aside_skipped") == 3)
        for _ in range(3):                 # later cycles do not try them again
            worker.notify(force=True)
            time.sleep(0.3)
    finally:
        assert worker.stop(timeout=20)
    assert {e["id"] for e in new} <= {r["id"] for r in aggregator_server.events(device)}
    errors = [r.getMessage() for r in caplog.records
              if r.name == "sync.moved_aside" and r.levelno == logging.ERROR]
    for path in (unsettled, foreign, garbage):
        mine = [m for m in errors if str(path) in m]
        assert len(mine) == 1, errors
        assert f"kiosk export --db {path}" in mine[0]
        assert not sent_record_path(path).exists()
    assert "cannot tell which device and stream" in next(m for m in errors if str(unsettled) in m)
    assert "not this kiosk's" in next(m for m in errors if str(foreign) in m)


def test_moved_ratings_wait_while_the_server_is_down_and_go_once_it_is_up(
        aggregator_server, make_kiosk, proxy, fast_backoff):
    # Why: a dead network or server must leave the moved file's ratings waiting, with the
    # usual backoff, and send them once it is back, never drop them or give up.
    kiosk = make_kiosk(url=proxy.url)
    device = kiosk.store.device_id
    moved, old_stream, live = _moved_at_start(kiosk, 3, 40)
    proxy.chooser = lambda info: "503"
    worker = _worker(live.path, fast_backoff)
    try:
        assert wait_for(lambda: proxy.faults_seen().get("503", 0) >= 5)
        assert len(_once(aggregator_server, device)[old_stream]) == 3   # the ones sent before
        assert not (read_sent_record(moved) or {}).get("done")
        proxy.chooser = None
        assert wait_for(lambda: len(_once(aggregator_server, device)[old_stream]) == 3 + 40)
        assert wait_for(lambda: (read_sent_record(moved) or {}).get("done") is True)
    finally:
        assert worker.stop(timeout=20)
    streams = _once(aggregator_server, device)
    assert len(streams[old_stream]) == 3 + 40
    assert read_sent_record(moved)["counts"]["sent_acked"] == 40


def test_the_heartbeat_tells_the_dashboard_what_a_moved_file_still_holds(
        aggregator_server, make_kiosk, proxy, fast_backoff):
    # Why: while a moved file's batches failed, the dashboard showed the kiosk drained
    # (backlog 0) although 40 thanked ratings were not on the server; the supervisor had no
    # reason to send a technician.
    kiosk = make_kiosk(url=proxy.url)
    device = kiosk.store.device_id
    moved, old_stream, live = _moved_at_start(kiosk, 3, 40)
    proxy.chooser = lambda info: "503" if info.n_events == 40 else "pass"
    worker = _worker(live.path, fast_backoff)
    try:
        assert wait_for(lambda: _beat(aggregator_server, device).get("moved_aside_pending") == 40)
        beat = _beat(aggregator_server, device)
        assert beat["pending"] == 0 and beat["moved_aside_skipped"] == 0
        proxy.chooser = None
        worker.notify(force=True)          # the next cycle (a kiosk's come every 30 s)
        assert wait_for(lambda: (read_sent_record(moved) or {}).get("done") is True)
    finally:
        assert worker.stop(timeout=20)
    assert len(_once(aggregator_server, device)[old_stream]) == 3 + 40


def test_a_moved_file_deleted_after_a_usb_export_no_longer_counts_in_the_heartbeat(
        aggregator_server, make_kiosk, proxy, fast_backoff):
    # Why: a technician who exported the moved file and deleted it left its count in the
    # sender's memory: every heartbeat until the next restart said 40 ratings still waited.
    kiosk = make_kiosk(url=proxy.url)
    device = kiosk.store.device_id
    moved, _old_stream, live = _moved_at_start(kiosk, 2, 40)
    proxy.chooser = lambda info: "503" if info.n_events == 40 else "pass"
    worker = _worker(live.path, fast_backoff, heartbeat_every=0)
    try:
        assert wait_for(lambda: _beat(aggregator_server, device).get("moved_aside_pending") == 40)
        for p in moved.parent.glob(moved.name + "*"):    # the file and its -wal/-shm
            p.unlink()
        worker.notify(force=True)
        assert wait_for(lambda: "moved_aside_pending" not in _beat(aggregator_server, device))
        assert worker.status()["moved_aside_pending"] is None
    finally:
        assert worker.stop(timeout=20)


def test_a_usb_export_imported_first_makes_the_automatic_send_all_duplicates(
        aggregator_server, make_kiosk, fast_backoff, tmp_path):
    # Why: a technician may have taken the moved file to the server on a stick before the
    # kiosk could send it; the automatic send then finds everything there and adds nothing.
    from aggregator.backup import import_kiosk_export
    from sync.credentials import Credentials

    kiosk = make_kiosk()
    device = kiosk.store.device_id
    moved, old_stream, live = _moved_at_start(kiosk, 4, 50)
    usb = tmp_path / "usb"
    usb.mkdir()
    folder = export_moved_aside(moved, usb, credentials=Credentials.load(live.path.parent),
                                live_events=live.iter_events)
    answer = import_kiosk_export(aggregator_server.engine, folder,
                                 aggregator_server.app.state.settings)
    assert answer["results"].get("accepted") == 50
    imported = {r["id"]: r["batch_id"] for r in aggregator_server.events(device)
                if r["stream_id"] == old_stream}

    worker = _worker(live.path, fast_backoff)
    try:
        assert wait_for(lambda: (read_sent_record(moved) or {}).get("done") is True)
    finally:
        assert worker.stop(timeout=20)
    streams = _once(aggregator_server, device)
    assert {r["id"]: r["batch_id"] for r in streams[old_stream]} == imported   # nothing new
    assert read_sent_record(moved)["counts"]["sent_acked"] == 50   # each one a duplicate


def test_a_file_a_retired_worker_still_sends_is_left_to_it(aggregator_server, make_kiosk,
                                                           fast_backoff):
    # Why: a database moved aside while the kiosk runs is sent by the retired worker whose
    # connection still reads it (KioskApp._follow_store); the new worker sending it at the
    # same time would do all that work twice. It takes over what is left once that one ended.
    kiosk = make_kiosk()
    device = kiosk.store.device_id
    moved, old_stream, live = _moved_at_start(kiosk, 2, 10)
    retired = {"alive": True}
    worker = SyncWorker(live.path, None, interval=3600, backoff=fast_backoff)
    worker.leave_moved(moved, lambda: retired["alive"])
    worker.start()
    try:
        assert wait_for(lambda: live.pending_count() == 0 and worker.status()["state"] == "idle")
        time.sleep(0.5)
        assert read_sent_record(moved) is None
        assert len(_once(aggregator_server, device)[old_stream]) == 2
        retired["alive"] = False
        worker.notify(force=True)
        assert wait_for(lambda: (read_sent_record(moved) or {}).get("done") is True)
    finally:
        assert worker.stop(timeout=20)
    assert len(_once(aggregator_server, device)[old_stream]) == 2 + 10


def test_no_room_for_the_copy_waits_for_a_later_cycle_and_a_damaged_record_starts_over(
        aggregator_server, make_kiosk, fast_backoff, monkeypatch, caplog):
    # Why: a file often goes corrupt because the disk filled; the scratch copy must not take
    # the room the live kiosk records in (it waits), and a record cut by a power cut must not
    # crash the worker: the server answers what it has as duplicates, so it starts over.
    import kiosk.moved_outbox as moved_outbox

    kiosk = make_kiosk()
    device = kiosk.store.device_id
    moved, old_stream, live = _moved_at_start(kiosk, 2, 10)
    sent_record_path(moved).write_bytes(b'{"format": "csk-moved-sent-1", "file": ')   # cut
    before = _digests(moved)
    caplog.set_level(logging.INFO)
    monkeypatch.setattr(moved_outbox, "ROOM_TO_KEEP", 1 << 60)
    new = kiosk.record(3)
    worker = _worker(live.path, fast_backoff)
    try:
        assert wait_for(lambda: live.pending_count() == 0 and worker.status()["state"] == "idle")
        assert _holds(aggregator_server, device, (e["id"] for e in new))
        assert any("no room for a copy" in r.getMessage() for r in caplog.records)
        assert len(_once(aggregator_server, device)[old_stream]) == 2
        monkeypatch.setattr(moved_outbox, "ROOM_TO_KEEP", 0)
        worker.notify(force=True)
        assert wait_for(lambda: (read_sent_record(moved) or {}).get("done") is True)
    finally:
        assert worker.stop(timeout=20)
    assert len(_once(aggregator_server, device)[old_stream]) == 2 + 10
    assert any("cannot be read" in r.getMessage() and "found out again" in r.getMessage()
               for r in caplog.records)
    assert _digests(moved) == before and _scratch_left(live.path.parent) == []
