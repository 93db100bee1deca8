"""The technician panel's enrolment opens the kiosk database beside the running app's store.

Why it matters: it opened it as the app does (check=True), so a damaged page the app's taps
never touch made the enrolment move the live file aside under the running app, which went on
thanking citizens into the moved file; after the next restart nothing sent those ratings.
Only the app's own store moves a corrupt database aside (kiosk/store.py, ``_recover``).
"""

from __future__ import annotations

import sqlite3

from kiosk.config import load_config_text
from kiosk.store import RatingStore
from sync.enrol import enrol_device


def test_an_enrolment_beside_the_app_never_moves_its_database(tmp_path):
    cfg = load_config_text("storage:\n  data_dir: data\n", base_dir=tmp_path)
    db = tmp_path / "data" / "kiosk.db"
    app = RatingStore(db)                                  # the running app's store
    app.apply_config({"window": {"name": "综合窗口"}}, etag="e1", version=1)
    for _ in range(5):
        app.record("rating", {"level": "satisfied", "stars": 4})
    conn = sqlite3.connect(db)           # a bad sector under device_config, which a tap never reads
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'device_config'").fetchone()[0]
    conn.close()
    with open(db, "r+b") as fh:
        fh.seek((root - 1) * size)
        fh.write(b"\xff" * size)

    ok, said, problem = enrol_device(cfg, "http://127.0.0.1:9", "K7Q-2MX-9TD")  # no server
    assert not ok and problem == "unreachable", said
    assert not list(db.parent.glob("kiosk.db.corrupt-*"))
    tap = app.record("rating", {"level": "very_satisfied", "stars": 5})   # thanked
    app.close()
    live = RatingStore(db, check=False)
    assert tap["id"] in {e["id"] for e in live.iter_events()}
    live.close()
