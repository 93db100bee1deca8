"""Sample accounts, devices and cases on top of ``aggregator demo`` data, for the end-to-end
tests and the screenshots. Never used by the server itself."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select
from sqlalchemy.engine import Engine

from .. import constants as C
from .. import ratings as rating_store
from ..alerts import raise_alert
from ..db import insert_ignore, write
from ..schema import devices, windows
from . import accounts, cases

PASSWORD = "demo-password-1"
USERS = [  # username, role, region, unit, display name
    ("admin", "admin", None, None, "系统管理员"),
    ("jfb", "supervisor", "R-D", None, "区纠风办 李明"),
    ("u01", "unit_manager", None, "U-01", "城关中心 张主任"),
    ("u02", "unit_manager", None, "U-02", "东城中心 王主任"),
    ("viewer", "viewer", None, None, "只读 观察员"),
]
PHONE = "13812341234"
PHONE_RATING = "00000000-0000-4000-8000-00000000a001"


def seed(engine: Engine, now: dt.datetime) -> dict:
    """Users (password ``PASSWORD``), kiosks with heartbeats, two alerts and one bad rating
    with a callback phone in U-01; opens the cases. Returns {"users": {name: id}, ...}."""
    tz = dt.timezone(dt.timedelta(hours=8))
    with write(engine) as conn:
        ids = {}
        for name, role, region, unit, display in USERS:
            user = accounts.get_user_by_name(conn, name) or accounts.create_user(
                conn, name, PASSWORD, role, region_id=region, unit_id=unit,
                display_name=display, now=now)
            ids[name] = user["id"]
        rows = []
        wins = conn.execute(select(windows.c.id, windows.c.unit_id).order_by(windows.c.id)).all()
        for n, (window_id, unit_id) in enumerate(wins):
            silent = n % 5 == 4
            seen = now - (dt.timedelta(hours=30 + n) if silent else dt.timedelta(minutes=2 + n))
            beat = {"app_version": "1.2.0" if n % 4 else "1.1.3", "pending": (n * 7) % 40,
                    "oldest_pending_age_s": 30 * n, "disk_free_bytes": (8 + n) * 2**30,
                    "clock_offset_s": [0.4, -1.2, 2.0, 845.0][n % 4] if n < 8 else 0.1}
            if n == 2:   # a kiosk whose disk is full: its heartbeat says so (sync/heartbeat.py)
                beat |= {"disk_free_bytes": 0, "last_error": "the kiosk database cannot be "
                         "written: /var/lib/kiosk/kiosk.db: database or disk is full"}
            if n == 6:   # a database moved aside as corrupt still sending (sync/moved_aside.py)
                beat |= {"moved_aside_pending": 212, "moved_aside_skipped": 0}
            rows.append({"id": f"kiosk-{window_id}", "window_id": window_id, "unit_id": unit_id,
                         "public_key": "A" * 43 + "=", "app_version": beat["app_version"],
                         "enrolled_at": now - dt.timedelta(days=90), "revoked_at": None,
                         "last_seen_at": seen, "last_upload_at": seen,
                         "last_skew_s": beat["clock_offset_s"],
                         "last_heartbeat": json.dumps(beat), "staff_id": None,
                         "staff_name": None})
        insert_ignore(conn, devices, rows)
        raise_alert(conn, C.AL_CLOCK, "kiosk-W-004:sample", "device kiosk-W-004 clock is +845 s "
                    "off", now, device_id="kiosk-W-004", window_id="W-004",
                    args={"msg": "clock_behind", "device": "kiosk-W-004", "seconds": 845})
        silent = now - dt.timedelta(hours=34)
        raise_alert(conn, C.AL_SILENT, "kiosk-W-005:sample", "device kiosk-W-005 (window W-005) "
                    f"silent since {silent.isoformat()}", now, device_id="kiosk-W-005",
                    window_id="W-005",
                    args={"device": "kiosk-W-005", "window": "W-005", "since_at": silent})
        when = now - dt.timedelta(hours=3)
        rating_store.store(conn, [{
            "id": PHONE_RATING, "device_id": "kiosk-W-001", "window_id": "W-001",
            "unit_id": "U-01", "staff_id": "S-001", "staff_name": "示例人员",
            "service_item": "U-01-MZ-01", "case_no": None, "invitation_id": None,
            "channel": C.CHANNEL_HALL_TABLET, "level": "very_dissatisfied", "stars": 1,
            "scale": 5, "reasons": json.dumps(["attitude", "come_back_again"]),
            "reasons_version": C.REASONS_VERSION, "comment": "材料要求没有一次说清楚，跑了两趟。",
            "phone": PHONE, "callback_consent": True, "device_time": when, "server_time": when,
            "rated_at": when,
            "day": when.astimezone(tz).date().isoformat(), "flags": "[]", "flagged": False}])
        opened = cases.sync_cases(conn, now, full=True)
    return {"users": ids, "cases_opened": opened}
