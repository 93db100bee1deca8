"""`aggregator import-kiosk-export` of what `kiosk export` wrote: the device's signature, a
damaged line of a salvaged database, JSON nested too deeply, and an export of which nothing
is taken in. Real kiosk stores and credentials, the real command in a subprocess."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

from aggregator.db import make_engine, read, write
from kiosk.export import export_events
from kiosk.store import RatingStore
from sync.credentials import Credentials, export_signing_string
from sync.protocol import event_hash
from tests.ops.helpers import ROOT, setup_org

LEVELS = ["very_satisfied", "satisfied", "basic_satisfied", "dissatisfied", "very_dissatisfied"]


def _rate(store, k: int, window_id: str = "W-001") -> dict:
    return store.record("rating", {
        "level": LEVELS[k % 5], "stars": 5 - k % 5, "scale": 5, "channel": 4,
        "window_id": window_id, "unit_id": "U-01", "staff_id": "S-007", "staff_name": "王芳",
        "service_item": "SI-01", "case_no": None, "invitation_id": None, "flags": []})


def _enrolled_kiosk(tmp_path: Path, url: str):
    """A kiosk store with its device credential beside it (as `kiosk enroll` leaves it), and
    the server at ``url`` holding the credential's public key."""
    setup_org(url, 2)
    store = RatingStore(tmp_path / "kiosk" / "kiosk.db")
    creds = Credentials.generate(store.device_id)
    creds.save(store.path.parent)
    _set_key(url, store.device_id, creds.public_key_b64, insert=True)
    return store, creds


def _set_key(url: str, device_id: str, public_key: str, insert: bool = False) -> None:
    engine = make_engine(url)
    with write(engine) as conn:
        if insert:
            conn.exec_driver_sql(
                "INSERT INTO devices (id, window_id, unit_id, public_key, enrolled_at) VALUES "
                f"('{device_id}', 'W-001', 'U-01', '{public_key}', '2026-01-01 00:00:00')")
        else:
            conn.exec_driver_sql(f"UPDATE devices SET public_key = '{public_key}' "
                                 f"WHERE id = '{device_id}'")
    engine.dispose()


def _query(url: str, sql: str) -> list:
    engine = make_engine(url)
    with read(engine) as conn:
        rows = [tuple(r) for r in conn.exec_driver_sql(sql)]
    engine.dispose()
    return rows


def cli(*argv) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aggregator", *argv], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def _usb(tmp_path: Path) -> Path:
    usb = tmp_path / "usb"
    usb.mkdir(exist_ok=True)
    return usb


def _rewrite(folder: Path, lines: list[str], creds: Credentials | None) -> None:
    """events.jsonl replaced by ``lines``, the manifest's SHA-256 recomputed, and signed again
    with ``creds`` (what the kiosk itself would write), or the old signature kept (None)."""
    jsonl = folder / "events.jsonl"
    jsonl.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["files"]["events.jsonl"] = hashlib.sha256(jsonl.read_bytes()).hexdigest()
    if creds is not None:
        manifest["signature"] = creds.sign(export_signing_string(manifest))
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


def test_an_export_edited_with_its_hashes_recomputed_is_refused(tmp_path):
    # Why: only the manifest's SHA-256 was checked, which anyone can recompute. Bad ratings
    # turned good, with the event hashes and the manifest recomputed, were taken in (rc 0),
    # and the kiosk's real events came back as conflicts later: the citizens' bad ratings
    # were lost, which is what the system exists to prevent.
    url = f"sqlite:///{tmp_path / 'agg.db'}"
    store, creds = _enrolled_kiosk(tmp_path, url)
    for k in range(10):
        _rate(store, k)
    folder = export_events(store, _usb(tmp_path), credentials=creds)
    genuine = (folder / "events.jsonl").read_text(encoding="utf-8")
    events = [json.loads(line) for line in genuine.splitlines()]
    prev = events[0]["prev_hash"]
    for ev in events:
        if ev["payload"]["stars"] <= 2:
            ev["payload"].update(level="very_satisfied", stars=5)
        ev["prev_hash"], ev["hash"] = prev, event_hash(ev, prev)
        prev = ev["hash"]
    _rewrite(folder, [json.dumps(ev, ensure_ascii=False, sort_keys=True) for ev in events], None)
    out = cli("import-kiosk-export", "--database", url, str(folder))
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert f"{folder / 'manifest.json'}: its signature does not verify" in out.stderr, out.stderr
    assert "nothing was imported" in out.stderr and "Traceback" not in out.stderr
    assert _query(url, "SELECT count(*) FROM ratings") == [(0,)]

    # An export without a signature (a kiosk from before exports were signed) says what to do.
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    del manifest["signature"]
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    out = cli("import-kiosk-export", "--database", url, str(folder))
    assert out.returncode == 2 and "not signed with the kiosk's device key" in out.stderr
    assert "Update the kiosk and export again" in out.stderr and "nothing is lost" in out.stderr

    # The kiosk's own export is taken in; one signed with a key the server no longer holds
    # (the kiosk enrolled again since) is not.
    (folder / "events.jsonl").write_text(genuine, encoding="utf-8")
    folder = export_events(store, _usb(tmp_path), credentials=creds)
    _set_key(url, store.device_id, Credentials.generate(store.device_id).public_key_b64)
    out = cli("import-kiosk-export", "--database", url, str(folder))
    assert out.returncode == 2 and "its signature does not verify" in out.stderr, out.stderr
    _set_key(url, store.device_id, creds.public_key_b64)
    out = cli("import-kiosk-export", "--database", url, str(folder))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["results"] == {"accepted": 10}
    assert sorted(s for (s,) in _query(url, "SELECT stars FROM ratings")) == \
        [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    store.close()


def test_an_export_none_of_whose_events_is_taken_in_exits_1(tmp_path):
    # Why: an export whose every event was rejected (here: ratings of a window this device
    # never served) answered rc 0, like a success; the stick was wiped and the ratings with it.
    url = f"sqlite:///{tmp_path / 'agg.db'}"
    store, creds = _enrolled_kiosk(tmp_path, url)
    for k in range(4):
        _rate(store, k, window_id="W-002")
    folder = export_events(store, _usb(tmp_path), credentials=creds)
    out = cli("import-kiosk-export", "--database", url, str(folder))
    assert out.returncode == 1, (out.stdout, out.stderr)
    assert json.loads(out.stdout)["results"] == {"rejected": 4}
    assert f"none of the 4 events of {folder} was taken in" in out.stderr
    assert "not a window this device served" in out.stderr
    store.close()


def _garble_one_id_and_an_index(db: Path, event_id: str) -> None:
    """One row's id is changed in place (still text, no longer a UUID) and a page of an index
    wrecked, so that the next start moves the file aside."""
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    table = {p for (p,) in conn.execute("SELECT pageno FROM dbstat WHERE name = 'events'")}
    index = [p for (p,) in conn.execute("SELECT pageno FROM dbstat WHERE name = 'events_pending'")]
    conn.close()
    data = bytearray(db.read_bytes())
    victim = event_id.encode()
    at = next(pos for pos in range(len(data)) if data[pos:pos + len(victim)] == victim
              and pos // page_size + 1 in table)
    data[at + 3] = ord("Z")
    data[(index[0] - 1) * page_size:index[0] * page_size] = b"\xee" * page_size
    db.write_bytes(bytes(data))


def test_a_damaged_row_of_a_salvaged_export_is_quarantined_and_the_rest_imported(
        tmp_path, database_url):
    # Why: the import stopped at the first line that was no event, so one damaged row of a
    # corrupt kiosk database kept the 49 good ratings around it from ever arriving. The line
    # is refused alone, named by its number, and kept where refused events are kept.
    url = database_url
    store, _creds = _enrolled_kiosk(tmp_path, url)
    events = [_rate(store, k) for k in range(50)]
    db = store.path
    store.close()
    _garble_one_id_and_an_index(db, events[9]["id"])
    moved = RatingStore(db)   # the kiosk starts again: the file is moved aside
    moved_to = moved.recovered_from["moved_to"]
    moved.close()
    usb = _usb(tmp_path)
    r = subprocess.run([sys.executable, "-m", "kiosk.cli", "export", "--db", moved_to, "--to",
                        str(usb)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    (folder,) = usb.iterdir()
    results = []
    for _ in range(2):   # and importing it twice is still harmless
        out = cli("import-kiosk-export", "--database", url, str(folder))
        assert out.returncode == 0, out.stderr
        results.append(json.loads(out.stdout))
        assert "events.jsonl line 10.id must be a UUID string" in out.stderr
        assert "kept in the quarantine table" in out.stderr
    assert results[0]["results"] == {"accepted": 49, "rejected": 1}
    assert results[1]["results"] == {"duplicate": 49, "rejected": 1}
    assert [b["line"] for b in results[0]["bad_lines"]] == [10]
    assert len(_query(url, "SELECT id FROM ratings")) == 49
    ((device, status, reason, text),) = _query(
        url, "SELECT device_id, status, reason, event FROM quarantine")
    assert (device, status) == (events[0]["device_id"], "rejected")
    assert reason.startswith("events.jsonl line 10.id") and events[9]["hash"] in text


def test_json_nested_too_deeply_is_one_line_not_a_traceback(tmp_path):
    # Why: a manifest or a line of "[[[[…" ended the import in a RecursionError traceback.
    url = f"sqlite:///{tmp_path / 'agg.db'}"
    store, creds = _enrolled_kiosk(tmp_path, url)
    for k in range(3):
        _rate(store, k)
    folder = export_events(store, _usb(tmp_path), credentials=creds)
    lines = (folder / "events.jsonl").read_text(encoding="utf-8").splitlines()
    _rewrite(folder, lines + ["[" * 100_000 + "]" * 100_000], creds)
    out = cli("import-kiosk-export", "--database", url, str(folder))
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    doc = json.loads(out.stdout)
    assert doc["results"] == {"accepted": 3, "rejected": 1}
    assert doc["bad_lines"] == [{"line": 4, "reason": "events.jsonl line 4: not a JSON event "
                                                      "(nested too deeply)"}]
    (folder / "manifest.json").write_text("[" * 100_000, encoding="utf-8")
    out = cli("import-kiosk-export", "--database", url, str(folder))
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.strip() == (f"aggregator import-kiosk-export: {folder / 'manifest.json'}: "
                                  "not a kiosk export manifest (nested too deeply)")
    store.close()
