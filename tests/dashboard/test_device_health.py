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
    assert "技术信息：the kiosk database cannot be written" in full
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


FULL = ("the kiosk database cannot be written: /var/lib/kiosk/kiosk.db: disk full while "
        "opening the kiosk database; nothing was recorded (database or disk is full)")


def _status(row):
    return re.search(r'data-status="([a-z]+)"', row).group(1)


def test_a_kiosk_heard_from_that_cannot_record_is_a_fault_told_in_chinese(dash):
    # A kiosk with a full disk keeps heartbeating (sync/heartbeat.py) while every press gets
    # "please try again" and nothing is recorded; its row read "在线" in green with the
    # kiosk's English error as the only clue, so ratings there were lost unseen.
    _beat(dash, "kiosk-W-001", disk_free_bytes=0, last_error=FULL)
    _beat(dash, "kiosk-W-002", last_error="heartbeat: timed out")        # a sync error
    _beat(dash, "kiosk-W-003", disk_free_bytes=300_000)   # under the floor, no error yet
    html = dash.login("u01").get(dash.url + "/dashboard/devices").text
    full = _row(html, "kiosk-W-001")
    assert _status(full) == "fault" and '<span class="dot fault">' in full, full
    assert "故障" in full and "在线" not in full
    assert 'data-fault="disk_full"' in full and "存储空间已满，无法记录评价" in full
    assert "技术信息：the kiosk database cannot be written" in full    # the detail, set apart
    # a sync error is not a fault: the kiosk still records, and the page says so in Chinese
    synced = _row(html, "kiosk-W-002")
    assert _status(synced) == "online" and "data-fault" not in synced
    assert "评价仍正常记录在设备上" in synced and "技术信息：heartbeat: timed out" in synced
    assert _status(_row(html, "kiosk-W-003")) == "fault"
    english = _row(dash.login("u01").get(dash.url + "/dashboard/devices?lang=en").text,
                   "kiosk-W-001")
    assert "Fault" in english and "Storage full: cannot record ratings" in english
    # it records again: its next heartbeat has no error and room on the disk
    _beat(dash, "kiosk-W-001")
    _beat(dash, "kiosk-W-003")
    html = dash.login("u01").get(dash.url + "/dashboard/devices").text
    assert _status(_row(html, "kiosk-W-001")) == "online"
    assert _status(_row(html, "kiosk-W-003")) == "online"


def _kpi(html, name):
    return re.search(rf'<a [^>]*data-kpi="{name}">.*?</a>', html, re.S).group(0)


def test_the_overview_counts_a_kiosk_that_cannot_record_with_the_offline_ones(dash):
    # The unit manager's overview said 离线设备 0 while a kiosk of theirs had a full disk:
    # only silent kiosks were counted, and this one kept heartbeating.
    for device in ("kiosk-W-001", "kiosk-W-002", "kiosk-W-003"):
        _beat(dash, device)
    quiet = _kpi(dash.login("u01").get(dash.url + "/dashboard/").text, "devices")
    assert '<div class="kpi-value">0</div>' in quiet and "离线 0 · 故障 0" in quiet, quiet
    _beat(dash, "kiosk-W-003", disk_free_bytes=0, last_error=FULL)
    html = dash.login("u01").get(dash.url + "/dashboard/").text
    card = _kpi(html, "devices")
    assert "设备异常" in card and '<div class="kpi-value">1</div>' in card, card
    assert "离线 0 · 故障 1" in card and 'href="/dashboard/devices"' in card
    assert 'class="kpi bad"' in card
    english = _kpi(dash.login("u01").get(dash.url + "/dashboard/?lang=en").text, "devices")
    assert "Device problems" in english and "offline 0 · fault 1" in english
    _beat(dash, "kiosk-W-003")
