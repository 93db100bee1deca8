"""Device health in a scope (status: online, offline, fault — heard from but cannot record —
or revoked; last seen, backlog, app and config version, clock offset, alerts), the remote
"sync now" request, and enrolment-code QR images.

"Sync now" (migration 20, docs/protocol.md §3 heartbeat): a unit manager asks on the device
page (``request_sync_now``); the kiosk's next heartbeat answer carries ``"sync_now": true``
(``take_sync_now``), and the kiosk then uploads, pulls its config and reports at once.
"""

from __future__ import annotations

import datetime as dt
import io
import json

from fastapi import APIRouter, Depends, Request
from markupsafe import Markup
from sqlalchemy import MetaData, func, select, update
from sqlalchemy.engine import Connection

from .. import org
from ..db import insert_ignore, select_in, write
from ..errors import NotFound
from ..fleet import recording_fault, stored_heartbeat
from ..migrations import m0020_fleet
from ..schema import alerts, devices, units, windows
from . import audit, scope
from .web import PREFIX, Ctx, posted, redirect

_md = MetaData()
m0020_fleet.define(_md)
device_requests = _md.tables["device_requests"]
router = APIRouter(prefix=PREFIX, include_in_schema=False)


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
    rows = [dict(r) for r in conn.execute(q).mappings()]
    applied = _applied_config_versions(conn, [r["id"] for r in rows])
    asked = {r.device_id: r for r in conn.execute(select(device_requests).where(
        device_requests.c.device_id.in_([r["id"] for r in rows])))} if rows else {}
    current = org.config_version(conn)
    out = []
    for d in rows:
        # guarded: one row of cut JSON (stored before fleet.heartbeat_json) made this page,
        # GET /api/v1/devices and ``aggregator devices`` answer 500 for the kiosk's whole scope
        beat = stored_heartbeat(d.pop("last_heartbeat")) or {}
        d["backlog"] = beat.get("pending")
        # a database moved aside as corrupt: its events still to send, and the files the
        # kiosk cannot send (a technician's USB export, ``kiosk export --db``)
        d["moved_aside_pending"] = beat.get("moved_aside_pending")
        d["moved_aside_skipped"] = beat.get("moved_aside_skipped")
        d["oldest_pending_age_s"] = beat.get("oldest_pending_age_s")
        # 0 is the full disk itself (it showed "—")
        d["disk_free_mb"] = (beat["disk_free_bytes"] // 2**20) \
            if isinstance(beat.get("disk_free_bytes"), int) else None
        d["clock_offset_s"] = beat.get("clock_offset_s", d["last_skew_s"])
        d["last_error"] = beat.get("last_error")
        # heard from, but cannot record (a full disk, a database it cannot write): it read
        # "online" in green while every press got "please try again" and nothing was kept
        d["fault"] = recording_fault(beat)
        d["alerts"] = open_alerts.get(d["id"], 0)
        seen = d["last_seen_at"]
        d["status"] = ("revoked" if d["revoked_at"] else
                       "offline" if seen is None or seen < now - dt.timedelta(hours=silent_hours)
                       else "fault" if d["fault"] else "online")
        d["seen_ago_h"] = None if seen is None else (now - seen).total_seconds() / 3600
        version = beat.get("config_version")
        d["config_version"] = version if isinstance(version, int) else applied.get(d["id"])
        d["config_current"] = current
        req = asked.get(d["id"])
        d["sync_requested_at"] = req.sync_now_at if req else None
        d["sync_pending"] = bool(req and req.sync_now_at and req.delivered_at is None)
        out.append(d)
    return out


def _applied_config_versions(conn: Connection, device_ids: list[str]) -> dict[str, int]:
    """The config version of each device's newest ``config_applied`` event (partial index
    ``ix_events_config_applied``, migration 20)."""
    out: dict[str, int] = {}
    for device_id, payload in select_in(
            conn, "SELECT device_id, payload FROM events "
                  "WHERE type = 'config_applied' AND device_id {in}", device_ids):
        try:
            version = json.loads(payload).get("version")
        except (ValueError, AttributeError):
            continue
        # Versions only grow, so the highest is the newest (whatever stream it is in).
        if isinstance(version, int) and version > out.get(device_id, -1):
            out[device_id] = version
    return out


def request_sync_now(conn: Connection, device_id: str, now: dt.datetime, by: str) -> None:
    """Ask ``device_id`` to sync at its next heartbeat."""
    if not insert_ignore(conn, device_requests, [{"device_id": device_id, "sync_now_at": now,
                                                  "requested_by": by}], returning="device_id"):
        conn.execute(update(device_requests).where(device_requests.c.device_id == device_id)
                     .values(sync_now_at=now, requested_by=by, delivered_at=None))


def take_sync_now(conn: Connection, device_id: str, now: dt.datetime) -> bool:
    """True once per request: the heartbeat answer of ``device_id`` carries ``sync_now``."""
    taken = conn.execute(update(device_requests).where(
        device_requests.c.device_id == device_id, device_requests.c.sync_now_at.is_not(None),
        device_requests.c.delivered_at.is_(None)).values(delivered_at=now))
    return taken.rowcount == 1


# ``:path``: a kiosk id with a "/" (enrolled before ids were checked) comes encoded (%2F) in
# the form's address, and the server decodes it before routing; a plain parameter stopped at
# that "/" (the page encodes every id: a kiosk "kiosk-W-001/revoke?" turned its own "Sync now"
# button into "revoke kiosk-W-001").
@router.post("/devices/{device_id:path}/sync-now")
def sync_now(device_id: str, request: Request, ctx: Ctx = Depends(posted)):
    """Dashboard: ask a kiosk in the user's scope to sync at its next heartbeat."""
    scope.require_role(ctx.user, "unit_manager")
    with write(request.app.state.engine) as conn:
        unit_id = conn.execute(select(devices.c.unit_id).where(devices.c.id == device_id)).scalar()
        if unit_id is None or unit_id not in ctx.allowed:
            raise NotFound(f"device {device_id!r} does not exist")
        request_sync_now(conn, device_id, ctx.now, ctx.user["username"])
        audit.record(conn, ctx.user, "sync_now", ctx.now, target=device_id, ip=ctx.ip)
    return redirect(f"{PREFIX}/devices")


def qr_svg(text: str) -> Markup:
    """``text`` as an inline SVG QR code."""
    import qrcode
    import qrcode.image.svg

    img = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2)
    out = io.BytesIO()
    img.save(out)
    svg = out.getvalue().decode()
    return Markup(svg[svg.index("<svg"):])
