"""Device health in a scope (last seen, backlog, version, clock offset, alerts) and
enrolment-code QR images."""

from __future__ import annotations

import datetime as dt
import io
import json

from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from ..schema import alerts, devices, units, windows


def list_devices(conn: Connection, allowed: set[str], now: dt.datetime,
                 silent_hours: int) -> list[dict]:
    open_alerts = dict(conn.execute(
        select(alerts.c.device_id, func.count()).where(alerts.c.resolved_at.is_(None),
                                                       alerts.c.device_id.is_not(None))
        .group_by(alerts.c.device_id)).all())
    q = (select(devices, windows.c.name.label("window_name"), units.c.name.label("unit_name"))
         .outerjoin(windows, windows.c.id == devices.c.window_id)
         .outerjoin(units, units.c.id == devices.c.unit_id)
         .where(devices.c.unit_id.in_(sorted(allowed))).order_by(devices.c.unit_id, devices.c.id))
    out = []
    for r in conn.execute(q).mappings():
        d = dict(r)
        beat = json.loads(d.pop("last_heartbeat") or "null") or {}
        d["backlog"] = beat.get("pending")
        d["oldest_pending_age_s"] = beat.get("oldest_pending_age_s")
        d["disk_free_mb"] = (beat["disk_free_bytes"] // 2**20) if beat.get("disk_free_bytes") \
            else None
        d["clock_offset_s"] = beat.get("clock_offset_s", d["last_skew_s"])
        d["last_error"] = beat.get("last_error")
        d["alerts"] = open_alerts.get(d["id"], 0)
        seen = d["last_seen_at"]
        d["status"] = ("revoked" if d["revoked_at"] else
                       "offline" if seen is None or seen < now - dt.timedelta(hours=silent_hours)
                       else "online")
        d["seen_ago_h"] = None if seen is None else (now - seen).total_seconds() / 3600
        out.append(d)
    return out


def qr_svg(text: str) -> Markup:
    """``text`` as an inline SVG QR code."""
    import qrcode
    import qrcode.image.svg

    img = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2)
    out = io.BytesIO()
    img.save(out)
    svg = out.getvalue().decode()
    return Markup(svg[svg.index("<svg"):])
