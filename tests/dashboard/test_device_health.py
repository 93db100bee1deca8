"""The devices page shows a kiosk's own problems from its heartbeat."""

from __future__ import annotations

import json
import re

from sqlalchemy import update

from aggregator.schema import devices


def _beat(dash, device_id, **fields):
    beat = {"app_version": "1.0", "pending": 12, "oldest_pending_age_s": 600.0,
            "disk_free_bytes": 8 * 2**30, "clock_offset_s": 0.0, "last_error": None} | fields
    with dash.engine.begin() as conn:
        conn.execute(update(devices).where(devices.c.id == device_id)
                     .values(last_heartbeat=json.dumps(beat)))


def _row(html, device_id):
    return re.search(rf"<tr[^>]*>\s*<td><code>{device_id}</code>.*?</tr>", html, re.S).group(0)


def test_a_kiosk_with_a_full_disk_shows_0_mb_and_its_problem(dash):
    # A full disk sends disk_free_bytes 0, which the page showed as "—" (no figure), and the
    # kiosk's last error was shown nowhere: a supervisor could not tell why a kiosk stopped
    # recording. (The kiosk sends that heartbeat from a read-only view: sync/heartbeat.py.)
    _beat(dash, "kiosk-W-001", disk_free_bytes=0, last_error="the kiosk database cannot be "
          "written: /var/lib/kiosk/kiosk.db: database or disk is full")
    _beat(dash, "kiosk-W-002")
    html = dash.login("admin").get(dash.url + "/dashboard/devices").text
    full = _row(html, "kiosk-W-001")
    assert re.search(r'class="num red" data-disk-free>0 MB<', full), full
    assert "最近错误：the kiosk database cannot be written" in full
    healthy = _row(html, "kiosk-W-002")
    assert re.search(r'class="num " data-disk-free>8192 MB<', healthy), healthy
    assert "data-last-error" not in healthy
