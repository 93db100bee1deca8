"""A corrupt kiosk database at start: moved aside (never deleted), a fresh database and stream
start, the old events are exported with ``kiosk export --db`` and taken in by ``aggregator
import-kiosk-export``, and the server raises a ``db_recovered`` alert.

Three kinds of damage: a wrecked index page (the events are still readable: every one must come
back through the export), a wrecked meta page (the events are readable, their device and stream
ids are not: the export must find them, or the server rejects every event), and a wrecked file
header (nothing readable: the export must fail with a clear message, not a traceback). The
exports are signed with each kiosk's own key, which the server checks.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from tests.reliability.harness import PYTHON, REPO, LiveServer, Row, check_kiosk_side, count_5xx, tally


def _wreck_index(db: Path) -> None:
    """Overwrite the root page of the events' id index: quick_check fails, the table reads."""
    import sqlite3

    conn = sqlite3.connect(db)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    (root,) = conn.execute("SELECT rootpage FROM sqlite_master WHERE type = 'index' AND "
                           "tbl_name = 'events' ORDER BY rootpage LIMIT 1").fetchone()
    conn.close()
    with open(db, "r+b") as fh:
        fh.seek((root - 1) * page_size + 8)
        fh.write(b"\xff\x13" * 64)


def _wreck_meta(db: Path) -> None:
    """Overwrite the meta table's page: quick_check fails, the device and stream ids cannot be
    read from the file, the events can."""
    import sqlite3

    conn = sqlite3.connect(db)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    (root,) = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'meta'").fetchone()
    conn.close()
    with open(db, "r+b") as fh:
        fh.seek((root - 1) * page_size)
        fh.write(b"\xff" * page_size)


def _wreck_header(db: Path) -> None:
    with open(db, "r+b") as fh:
        fh.write(b"\x00garbage" * 512)


def _kiosk_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, "-m", "kiosk.cli", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=120)


def run(events: int = 300, workdir: Path | None = None) -> Row:
    from kiosk.store import RatingStore

    row = Row("corrupt kiosk database")
    workdir = Path(workdir or tempfile.mkdtemp(prefix="rel-corrupt-"))
    with LiveServer(workdir / "aggregator.db") as srv:
        windows = {"index": "W-REL-5", "meta": "W-REL-7", "header": "W-REL-6"}
        for kind, wreck in (("index", _wreck_index), ("meta", _wreck_meta),
                            ("header", _wreck_header)):
            kiosk = srv.kiosk(workdir / kind, window_id=windows[kind])
            old = [e["id"] for e in kiosk.rate(events)]  # the network is gone: none sent
            db = kiosk.store.path
            kiosk.store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            kiosk.store.close()
            srv.kiosks.remove(kiosk)
            wreck(db)
            row.tried += 1
            fresh = RatingStore(db)
            try:
                moved = fresh.recovered_from and Path(fresh.recovered_from["moved_to"])
                row.check(bool(moved) and moved.exists() and moved.stat().st_size > 0,
                          f"{kind}: the corrupt database was not moved aside and kept")
                first = next(fresh.iter_events())
                row.check(first["type"] == "db_recovered", f"{kind}: no db_recovered event")
                kiosk.store = fresh
                from sync.client import SyncClient

                kiosk.client = SyncClient(srv.url, fresh, kiosk.client.credentials, timeout=10)
                kiosk.rate(5)
                kiosk.client.drain()
                check_kiosk_side(row, fresh)
                row.check(fresh.pending_count() == 0, f"{kind}: new stream not drained")
            finally:
                fresh.close()
            alerts = [a for a in srv.alerts("db_recovered") if a["device_id"] == kiosk.device_id]
            row.check(len(alerts) == 1, f"{kind}: {len(alerts)} db_recovered alerts on the server")
            out = workdir / f"usb-{kind}"
            out.mkdir()
            cfg = workdir / "config.yaml"
            cfg.write_text("")
            r = _kiosk_cli("export", "--config", str(cfg), "--db", str(moved), "--to", str(out))
            row.check("Traceback" not in r.stderr,
                      f"{kind}: kiosk export crashed: {r.stderr.strip()[-300:]}")
            if kind == "header":
                row.check(r.returncode != 0 and "kiosk:" in r.stderr,
                          f"{kind}: an unreadable file must fail clearly, got "
                          f"{r.returncode}: {r.stderr.strip()[-200:]}")
                continue
            row.check(r.returncode == 0, f"{kind}: export failed: {r.stderr.strip()[-300:]}")
            folders = list(out.glob("kiosk-export-*"))
            if not folders:
                row.problems.append(f"{kind}: no export folder")
                continue
            imp = subprocess.run([PYTHON, "-m", "aggregator", "import-kiosk-export",
                                  "--database", srv.database_url, str(folders[0])],
                                 capture_output=True, text=True, cwd=REPO, timeout=120)
            row.check(imp.returncode == 0, f"{kind}: import failed: {imp.stderr.strip()[-300:]}")
            server_ids = [e["id"] for e in srv.events(kiosk.device_id)]
            tally(row, old, server_ids)
        count_5xx(row, srv.counter)
    row.note = "index page, meta page and header wrecked; old stream exported and imported"
    return row
