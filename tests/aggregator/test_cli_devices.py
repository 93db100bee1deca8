"""``aggregator devices``: the fleet from the command line (there was no way to list devices
without the dashboard, so an operator could not find the id `revoke-device` needs)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from aggregator import org
from aggregator.db import make_engine, utcnow, write
from aggregator.migrations import migrate

ROOT = Path(__file__).resolve().parents[2]


def aggregator(*argv):
    return subprocess.run([sys.executable, "-m", "aggregator", *argv], capture_output=True,
                          text=True, cwd=ROOT, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "AGGREGATOR_TIMEZONE_OFFSET_HOURS": "8"})


def fleet(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'agg.db'}"
    engine = make_engine(url)
    migrate(engine)
    with write(engine) as conn:
        org.save(conn, "regions", {"id": "R-1", "name": "示范市", "level": "city"})
        for unit, window in (("U-01", "W-001"), ("U-02", "W-002")):
            org.save(conn, "units", {"id": unit, "name": "中心" + unit, "region_id": "R-1"})
            org.save(conn, "windows", {"id": window, "name": "窗口", "unit_id": unit})
        for device, window, unit, seen, beat, version in (
                ("kiosk-a", "W-001", "U-01", "2026-11-20 01:30:00.000000",
                 '{"pending": 42}', "0.1.0"),
                ("kiosk-b", "W-002", "U-02", None, None, None)):
            conn.exec_driver_sql(
                "INSERT INTO devices (id, window_id, unit_id, public_key, enrolled_at, "
                "last_seen_at, last_heartbeat, app_version) VALUES (?, ?, ?, 'x', "
                "'2026-11-01 00:00:00.000000', ?, ?, ?)",
                (device, window, unit, seen, beat, version))
    engine.dispose()
    return url


def test_devices_lists_status_last_seen_in_local_time_backlog_and_version(tmp_path):
    # An operator retiring a dead kiosk needs its id, whether it is still heard from and what
    # it still holds, in the hall's clock (stored times are UTC, 8 hours off in China).
    url = fleet(tmp_path)
    assert aggregator("revoke-device", "--database", url, "--device", "kiosk-b").returncode == 0
    out = aggregator("devices", "--database", url)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["device", "unit", "window", "status", "last", "seen", "(UTC+8)",
                                "backlog", "version"]
    a = next(line for line in lines if line.startswith("kiosk-a")).split()
    assert a == ["kiosk-a", "U-01", "W-001", "offline", "2026-11-20", "09:30", "42", "0.1.0"]
    b = next(line for line in lines if line.startswith("kiosk-b")).split()
    assert b[:5] == ["kiosk-b", "U-02", "W-002", "revoked", b[4]] and b[-3:] == ["never", "-", "-"]
    only = json.loads(aggregator("devices", "--database", url, "--unit", "U-02", "--json").stdout)
    assert [(d["id"], d["status"], d["revoked_at_local"] is not None) for d in only] == \
        [("kiosk-b", "revoked", True)]
    wrong = aggregator("devices", "--database", url, "--unit", "U-99")
    assert wrong.returncode == 2 and "no unit 'U-99'" in wrong.stderr and "U-01" in wrong.stderr


def test_devices_tells_a_kiosk_heard_from_that_cannot_record(tmp_path):
    # The dashboard shows such a kiosk as 故障; the command line said "online" for it (or did
    # not say why): a full disk, every press answered "please try again" and nothing kept.
    url = fleet(tmp_path)
    engine = make_engine(url)
    with write(engine) as conn:
        conn.exec_driver_sql(
            "UPDATE devices SET last_seen_at = ?, last_heartbeat = ? WHERE id = 'kiosk-a'",
            (utcnow().strftime("%Y-%m-%d %H:%M:%S.%f"),
             json.dumps({"pending": 3, "disk_free_bytes": 0, "last_error":
                         "the kiosk database cannot be written: /k/kiosk.db: database or disk "
                         "is full"})))
    engine.dispose()
    out = aggregator("devices", "--database", url)
    assert out.returncode == 0, out.stderr
    a = next(line for line in out.stdout.splitlines() if line.startswith("kiosk-a")).split()
    assert a[3] == "fault:disk_full", a
    rows = json.loads(aggregator("devices", "--database", url, "--json").stdout)
    assert {(d["id"], d["status"], d["fault"]) for d in rows} == \
        {("kiosk-a", "fault", "disk_full"), ("kiosk-b", "offline", None)}
