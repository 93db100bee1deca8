"""Admin JSON API (bearer token): organisation, roster import, photos, enrolment codes,
devices, stats and alerts. Real user accounts replace the token in a later issue."""

from __future__ import annotations

import datetime as dt
import hashlib

from fastapi import APIRouter, Depends, Query, Request, UploadFile
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from . import alerts, enroll, org, roster, staff_photos, stats
from . import constants as C
from .api_device import parse_json_body, read_capped
from .auth import check_admin
from .db import insert_ignore, read, utcnow, write
from .errors import BadRequest, TooLarge
from .fleet import stored_heartbeat
from .schema import devices, photos

bearer = HTTPBearer(auto_error=False)


def admin(request: Request, cred: HTTPAuthorizationCredentials | None = Depends(bearer)):
    check_admin(request.app.state.settings.admin_token,
                f"Bearer {cred.credentials}" if cred else None)


router = APIRouter(prefix="/api/v1", tags=["admin"], dependencies=[Depends(admin)])
ENTITY_PATHS = {"regions": "regions", "units": "units", "windows": "windows",
                "staff": "staff", "service-items": "service_items"}
MAX_PHOTO = 2 * 1024 * 1024
MAX_ROSTER = 5 * 1024 * 1024


def _in_tx(request: Request, fn, *, writing: bool = True):
    def run():
        with (write if writing else read)(request.app.state.engine) as conn:
            return fn(conn)
    return run_in_threadpool(run)


async def _json(request: Request, cap: int = 1024 * 1024):
    return parse_json_body(await read_capped(request, cap))


def _make_entity_routes(path: str, entity: str) -> None:
    async def list_entity(request: Request):
        return await _in_tx(request, lambda c: org.list_rows(c, entity), writing=False)

    async def save_entity(request: Request):
        doc = await _json(request)
        items = doc if isinstance(doc, list) else [doc]
        if len(items) > 5000:
            raise TooLarge("at most 5000 items per request", field="body")

        # staff: a body changes the fields it sends (a photo attached with id, name and
        # photo_sha256 replaced the whole record); the other entities are replaced
        save = org.save_staff if entity == "staff" else \
            lambda conn, item, where: org.save(conn, entity, item, where)

        def run(conn):
            return [save(conn, item, where=f"item {n}: " if len(items) > 1 else "")
                    for n, item in enumerate(items)]
        saved = await _in_tx(request, run)
        for row in saved:
            row.pop("pin_hash", None)
        return {"saved": len(saved), "items": saved}

    list_entity.__doc__ = f"List {entity.replace('_', ' ')}."
    save_entity.__doc__ = (f"Create or replace {entity.replace('_', ' ')} (one object or an "
                           "array); unknown fields are errors." + (
                               " An existing staff member keeps the fields not sent (null "
                               "clears one); photo_sha256 must name an uploaded photo."
                               if entity == "staff" else ""))
    router.add_api_route(f"/{path}", list_entity, methods=["GET"], name=f"list_{entity}")
    router.add_api_route(f"/{path}", save_entity, methods=["POST"], name=f"save_{entity}",
                         openapi_extra={"requestBody": {"required": True, "content": {
                             "application/json": {"schema": {"type": "object"}}}}})


for _path, _entity in ENTITY_PATHS.items():
    _make_entity_routes(_path, _entity)


@router.post("/roster/import")
async def import_roster(request: Request, file: UploadFile):
    """Import staff from a .csv or .xlsx file; every bad row is reported, nothing half-done."""
    data = await file.read(MAX_ROSTER + 1)
    if len(data) > MAX_ROSTER:
        raise TooLarge(f"roster file over {MAX_ROSTER} bytes", field="file")
    name = file.filename or ""
    parsed = await run_in_threadpool(roster.parse, name, data)
    return await _in_tx(request, lambda c: roster.import_roster(c, name, parsed))


@router.post("/photos", openapi_extra={"requestBody": {"required": True, "content": {
    "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
    "image/png": {"schema": {"type": "string", "format": "binary"}}}}})
async def upload_photo(request: Request):
    """Store a staff photo (raw JPEG or PNG body), upright and scaled to fit what a kiosk shows
    (``staff_photos.normalise``); returns the SHA-256 of the stored bytes, which the roster names."""
    data = await read_capped(request, MAX_PHOTO)
    data, kind, facts = await run_in_threadpool(staff_photos.normalise, data)
    digest = hashlib.sha256(data).hexdigest()
    await _in_tx(request, lambda c: insert_ignore(c, photos, [{
        "sha256": digest, "content_type": kind, "data": data, "created_at": utcnow()}]))
    return {"sha256": digest, "content_type": kind, "bytes": len(data), **facts}


@router.post("/enroll-codes", openapi_extra={"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"type": "object", "required": ["window_id"], "properties": {
        "window_id": {"type": "string"}, "ttl_hours": {"type": "number"},
        "device_id": {"type": "string"}}}}}}})
async def create_enroll_code(request: Request):
    """A one-time enrolment code for a window (shown once)."""
    doc = await _json(request, 16 * 1024)
    if not isinstance(doc, dict) or not isinstance(doc.get("window_id"), str):
        raise BadRequest("window_id must be a string", field="window_id")
    ttl = doc.get("ttl_hours", request.app.state.settings.enroll_ttl_hours)
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)):
        raise BadRequest(f"ttl_hours must be a number, got {ttl!r:.40}", field="ttl_hours")
    device = doc.get("device_id")
    if device is not None and not isinstance(device, str):
        raise BadRequest("device_id must be a string", field="device_id")
    return await _in_tx(request, lambda c: enroll.create_code(c, doc["window_id"], utcnow(), ttl,
                                                              device_id=device))


@router.get("/devices")
async def list_devices(request: Request):
    """Enrolled devices with their last contact, clock skew and heartbeat."""
    def run(conn):
        rows = []
        for r in conn.execute(select(devices).order_by(devices.c.id)).mappings():
            d = {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in r.items()}
            d["last_heartbeat"] = stored_heartbeat(d["last_heartbeat"])   # None if unreadable
            rows.append(d)
        return rows
    return await _in_tx(request, run, writing=False)


@router.post("/devices/{device_id:path}/revoke")   # an id with "/" comes as %2F
async def revoke_device(device_id: str, request: Request):
    """Stop a device; what it already sent stays."""
    return await _in_tx(request, lambda c: enroll.revoke(c, device_id, utcnow()))


@router.get("/stats")
async def get_stats(request: Request, group_by: str = Query("window"),
                    from_: str | None = Query(None, alias="from"),
                    to: str | None = Query(None), region: str | None = Query(None),
                    unit: str | None = Query(None), include_flagged: bool = Query(False),
                    min_volume: int = Query(C.MIN_VOLUME, ge=1, le=10**9)):
    """Satisfaction per region, unit, window, staff or service item, from the rollups.

    Rows with fewer than ``min_volume`` counted ratings (default ``constants.MIN_VOLUME``, as
    the dashboard's rankings) get no rank: this API ranked a window of 1 rating of 5★ first,
    above windows of hundreds, where the dashboard showed it without a place."""
    settings = request.app.state.settings
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=settings.timezone_offset_hours))).date()
    day_to = stats.parse_day(to, "to", today)
    day_from = stats.parse_day(from_, "from", day_to - dt.timedelta(days=29))
    return await _in_tx(request, lambda c: stats.compute(
        c, group_by, day_from, day_to, region=region, unit=unit,
        include_flagged=include_flagged, prior=settings.smoothing_prior,
        min_volume=min_volume), writing=False)


@router.get("/alerts")
async def get_alerts(request: Request, kind: str | None = Query(None),
                     device_id: str | None = Query(None),
                     limit: int = Query(200, ge=1, le=1000)):
    """Integrity alerts, newest first."""
    return {"alerts": await _in_tx(request, lambda c: alerts.list_alerts(
        c, kind=kind, device_id=device_id, limit=limit), writing=False)}


@router.post("/alerts/scan")
async def scan_alerts(request: Request):
    """Run the periodic alert scan now (also ``aggregator scan-alerts``)."""
    settings = request.app.state.settings
    return {"raised": await _in_tx(request, lambda c: alerts.scan(c, utcnow(), settings))}
