"""The export of a database moved aside as corrupt: with the ids its events were made with
when its meta page is damaged (`kiosk export --db`), and from the technician panel, which
exports each such file beside the store too."""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path

import pytest
from nacl.signing import VerifyKey

from kiosk.export import export_events
from kiosk.store import RatingStore
from sync.credentials import Credentials, export_signing_string
from sync.protocol import event_hash
from tests.kiosk.cli_run import kiosk


def _enrolled_store(folder: Path, n: int) -> tuple[RatingStore, Credentials]:
    store = RatingStore(folder / "kiosk.db")
    creds = Credentials.generate(store.device_id)
    creds.save(folder)
    for k in range(n):
        store.record("rating", {"level": "satisfied", "stars": 4, "window_id": "W-001", "n": k})
    return store, creds


def _wreck_table(db: Path, table: str) -> None:
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    data = bytearray(db.read_bytes())
    data[(root - 1) * page_size:root * page_size] = b"\xff" * page_size
    db.write_bytes(bytes(data))


def _exported(folder: Path) -> tuple[dict, list[dict]]:
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    events = [json.loads(line) for line in
              (folder / "events.jsonl").read_text(encoding="utf-8").splitlines()]
    return manifest, events


def _signed_by(manifest: dict, creds: Credentials) -> bool:
    VerifyKey(base64.b64decode(creds.public_key_b64)).verify(
        export_signing_string(manifest), base64.b64decode(manifest["signature"]))
    return True


@pytest.fixture
def meta_wrecked(tmp_path):
    """An enrolled kiosk whose database's meta page was wrecked and moved aside at the next
    start: (moved file, old device id, old stream id, new store's stream id, credential)."""
    store, creds = _enrolled_store(tmp_path / "kiosk", 30)
    device_id, stream_id = store.device_id, store.stream_id
    store.close()
    _wreck_table(store.path, "meta")
    fresh = RatingStore(store.path)
    moved = Path(fresh.recovered_from["moved_to"])
    new_stream = fresh.stream_id
    fresh.close()
    return moved, device_id, stream_id, new_stream, creds


def test_a_moved_file_whose_meta_page_is_damaged_is_exported_under_its_own_ids(
        meta_wrecked, tmp_path):
    # Why: the ids of a moved-aside file come from its meta table; damaged, the export wrote
    # every event under device '' and stream '', the server refused it ("device '' is not
    # enrolled"), and with the id set by hand every event was rejected, since each event's
    # hash covers both ids. Those were the kiosk's unsent ratings.
    moved, device_id, stream_id, new_stream, creds = meta_wrecked
    usb = tmp_path / "usb"
    usb.mkdir()
    out = kiosk("export", "--db", str(moved), "--to", str(usb))
    assert out.returncode == 0, out.stderr
    (folder,) = usb.iterdir()
    manifest, events = _exported(folder)
    assert (manifest["device_id"], manifest["stream_id"]) == (device_id, stream_id)
    assert stream_id != new_stream and manifest["count"] == 30 and manifest["chain_ok"]
    assert all(event_hash(ev, ev["prev_hash"]) == ev["hash"] for ev in events)
    assert {(ev["device_id"], ev["stream_id"]) for ev in events} == {(device_id, stream_id)}
    assert _signed_by(manifest, creds)


def test_a_moved_file_whose_stream_cannot_be_told_is_refused_and_can_be_given(
        meta_wrecked, tmp_path):
    # Why: without the live database's db_recovered event (a dead kiosk's disk holding only
    # the moved file) nothing tells the old stream: an export under a wrong or empty id is
    # refused at the server, so the command says so and takes the id the server's alert names.
    moved, device_id, stream_id, _new, _creds = meta_wrecked
    (moved.parent / "kiosk.db").unlink()
    usb = tmp_path / "usb"
    usb.mkdir()
    out = kiosk("export", "--db", str(moved), "--to", str(usb))
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert f"kiosk: {moved}: cannot tell which device and stream" in out.stderr
    assert "--stream-id" in out.stderr and list(usb.iterdir()) == []
    out = kiosk("export", "--db", str(moved), "--to", str(usb), "--stream-id", "not-it")
    assert out.returncode == 1 and "cannot tell" in out.stderr and list(usb.iterdir()) == []
    out = kiosk("export", "--db", str(moved), "--to", str(usb), "--stream-id", stream_id)
    assert out.returncode == 0, out.stderr
    (folder,) = usb.iterdir()
    assert _exported(folder)[0]["stream_id"] == stream_id


def test_an_export_without_a_device_or_stream_id_is_not_written(tmp_path):
    # Why: such an export cannot be taken in; written, it looked like a good one on the stick.
    store = RatingStore(tmp_path / "kiosk.db")
    store.record("rating", {"level": "satisfied", "stars": 4})
    store.stream_id = ""
    (tmp_path / "usb").mkdir()
    from kiosk.errors import StoreError

    with pytest.raises(StoreError, match="its stream id cannot be read"):
        export_events(store, tmp_path / "usb")
    assert list((tmp_path / "usb").iterdir()) == []
    store.close()


class _Panel:
    """What the technician panel's export (``KioskApp._export_default``) uses of the app:
    its store and its translator, without a window."""

    def __init__(self, store):
        from kiosk.app import KioskApp
        from kiosk.i18n import Translator

        self.store, self.tr = store, Translator("zh_CN")
        for name in ("_export_default", "_export_moved", "_export_problem"):
            method = getattr(KioskApp, name, None)
            if method is not None:
                setattr(self, name, method.__get__(self))


def test_the_panel_exports_each_moved_aside_database_into_its_own_folder(tmp_path, monkeypatch):
    # Why: with the network down, a corrupt database was moved aside and the panel exported
    # only the new store; the old stream's thanked but unsent ratings stayed on the kiosk's
    # disk in kiosk.db.corrupt-*, and the technician left believing the stick held them all.
    import kiosk.export as export

    store, creds = _enrolled_store(tmp_path / "kiosk", 20)
    old_stream = store.stream_id
    store.close()
    _wreck_table(store.path, "events_pending")   # an index: the rows still read
    live = RatingStore(store.path)               # the next start moves the file aside
    (moved,) = live.path.parent.glob("kiosk.db.corrupt-*")
    live.record("rating", {"level": "satisfied", "stars": 4, "window_id": "W-001"})
    # and one moved aside earlier that nothing can be read from (its header wrecked)
    unreadable = moved.with_name("kiosk.db.corrupt-20260101T000000")
    unreadable.write_bytes(b"\x00garbage" * 4096)
    usb = tmp_path / "usb"
    usb.mkdir()
    monkeypatch.setattr(export, "usb_folder_problem", lambda *a: None)   # a stick is mounted
    ok, message = _Panel(live)._export_default(str(usb))
    assert ok, message
    folders = sorted(usb.iterdir(), key=lambda p: _exported(p)[0]["count"])
    assert len(folders) == 2, message
    (new, _new_events), (old, old_events) = (_exported(f) for f in folders)
    assert (old["stream_id"], old["count"]) == (old_stream, 20)
    assert all(event_hash(ev, ev["prev_hash"]) == ev["hash"] for ev in old_events)
    assert (new["stream_id"], new["count"]) == (live.stream_id, 2)   # db_recovered, rating
    assert _signed_by(old, creds) and _signed_by(new, creds)
    assert f"另将移走的旧数据库 {moved.name}（20 条记录）导出到 {folders[1].name}" in message
    assert f"移走的旧数据库 {unreadable.name} 未能导出" in message
    assert "电话号码" in message
    live.close()
