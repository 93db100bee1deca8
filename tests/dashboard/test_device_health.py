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


def test_a_heartbeat_stored_cut_leaves_the_page_working_for_the_whole_scope(dash):
    # Older servers stored a heartbeat's JSON cut at 8,000 characters; one such row made the
    # Devices page a 500 for every user whose scope held the kiosk. Its row now shows no
    # heartbeat figures; the other kiosks keep theirs.
    with dash.engine.begin() as conn:
        conn.execute(update(devices).where(devices.c.id == "kiosk-W-003")
                     .values(last_heartbeat='{"pending": 12, "last_error": "\\u001b\\r\\u00'))
    _beat(dash, "kiosk-W-002")
    for who in ("admin", "jfb", "u01"):
        r = dash.login(who).get(dash.url + "/dashboard/devices")
        assert r.status_code == 200, (who, r.status_code)
    html = dash.login("admin").get(dash.url + "/dashboard/devices").text
    cut = _row(html, "kiosk-W-003")
    assert "data-disk-free>—<" in cut and "data-last-error" not in cut
    assert "data-disk-free>8192 MB<" in _row(html, "kiosk-W-002")


def test_what_a_database_moved_aside_still_holds_is_shown_beside_the_backlog(dash):
    # A kiosk whose database was moved aside as corrupt (a power cut on its SD card) showed
    # backlog 0 while that file still held thanked ratings, or held ratings only a technician's
    # USB export can send: nothing told the supervisor to look.
    _beat(dash, "kiosk-W-001", pending=0, moved_aside_pending=340, moved_aside_skipped=1)
    _beat(dash, "kiosk-W-002", pending=0, moved_aside_pending=0, moved_aside_skipped=0)
    html = dash.login("admin").get(dash.url + "/dashboard/devices").text
    moved = _row(html, "kiosk-W-001")
    assert "另有 340 条在移走的旧数据库中" in moved, moved
    assert "1 个移走的旧数据库无法自动上传，需技术员用 U 盘导出" in moved
    drained = _row(html, "kiosk-W-002")
    assert "data-moved-pending" not in drained and "data-moved-skipped" not in drained
    english = dash.login("admin").get(dash.url + "/dashboard/devices?lang=en").text
    assert "+340 in a moved-aside database" in _row(english, "kiosk-W-001")
