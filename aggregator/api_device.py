"""Device endpoints of docs/protocol.md: enrol, batches, config, photos, heartbeat."""

from __future__ import annotations

import json

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import select, update
from starlette.concurrency import run_in_threadpool

from sync.protocol import MAX_BODY_BYTES

from . import boot_clocks, device_config, enroll, fleet
from .alerts import raise_alert
from .auth import BOOT_ID, authenticate_device
from .constants import AL_CLOCK
from .dashboard.devices import take_sync_now
from .db import read, utcnow, write
from .errors import BadRequest, NotFound, TooLarge
from .ingest import ingest_batch
from .metrics import count_events
from .ratings import local_day
from .schema import devices, photos
from .validation import decode_body, parse_envelope, unstorable_text

router = APIRouter(prefix="/api/v1", tags=["device"])

SIGNED = {"parameters": [
    {"name": h, "in": "header", "required": True, "schema": {"type": "string"}}
    for h in ("X-Device-Id", "X-Timestamp", "X-Nonce", "X-Signature")]}
BATCH_SCHEMA = {"type": "object", "required": ["protocol", "device_id", "batch_id", "events"],
                "properties": {"protocol": {"type": "integer", "enum": [1]},
                               "device_id": {"type": "string"},
                               "batch_id": {"type": "string", "format": "uuid"},
                               "events": {"type": "array", "maxItems": 500,
                                          "items": {"type": "object"}}}}
ENROLL_SCHEMA = {"type": "object", "required": ["code", "device_id", "public_key"],
                 "properties": {"code": {"type": "string"}, "device_id": {"type": "string"},
                                "public_key": {"type": "string"},
                                "app_version": {"type": "string"}}}


async def read_capped(request: Request, cap: int = MAX_BODY_BYTES) -> bytes:
    """The request body, refusing (413) more than ``cap`` bytes without reading them all."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > cap:
        raise TooLarge(f"body is {length} bytes, over {cap}", field="body")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise TooLarge(f"body is over {cap} bytes", field="body")
        chunks.append(chunk)
    return b"".join(chunks)


LARGEST_INT = 2**63 - 1  # what a BIGINT (and SQLite's INTEGER) holds


def _not_json_number(text: str):
    raise BadRequest(f"body is not valid JSON: {text} is not a JSON number", field="body")


def _bounded_int(text: str) -> int:
    value = int(text)
    if abs(value) > LARGEST_INT:
        raise BadRequest(f"body: the number {text[:20]}… is too large (at most {LARGEST_INT})",
                         field="body")
    return value


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise BadRequest(f"body: the number {text[:20]} is too large", field="body")
    return value


def parse_json_body(body: bytes):
    """A request body's JSON, refusing (400, naming it) what a column could not store.

    Python's json takes NaN, Infinity, integers of any size, NUL and lone surrogates; each
    of them came back as a 500 from the database or, stored, broke a page later (a heartbeat
    with NaN made the admin device list answer 500 to everyone).
    """
    try:
        doc = json.loads(body.decode("utf-8"), parse_constant=_not_json_number,
                         parse_int=_bounded_int, parse_float=_finite_float)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BadRequest(f"body is not valid JSON: {exc}", field="body") from None
    problem = unstorable_text(doc, "body")
    if problem:
        raise BadRequest(problem, field="body")
    return doc


def _json_object(body: bytes) -> dict:
    doc = parse_json_body(body)
    if not isinstance(doc, dict):
        raise BadRequest("body must be a JSON object", field="body")
    return doc


async def _device(request: Request, body: bytes = b"") -> dict:
    engine, settings = request.app.state.engine, request.app.state.settings
    return await run_in_threadpool(
        authenticate_device, engine, request.method, request.url.path, request.headers, body,
        utcnow(), settings.clock_window_seconds)


@router.post("/enroll", openapi_extra={"requestBody": {
    "required": True, "content": {"application/json": {"schema": ENROLL_SCHEMA}}}})
async def post_enroll(request: Request):
    """Enrol a device with a one-time code and its Ed25519 public key."""
    doc = _json_object(await read_capped(request, 16 * 1024))

    def run():
        with write(request.app.state.engine) as conn:
            return enroll.enroll(conn, doc, utcnow())
    return await run_in_threadpool(run)


@router.post("/batches", openapi_extra={**SIGNED, "requestBody": {
    "required": True, "content": {"application/json": {"schema": BATCH_SCHEMA}}}})
async def post_batch(request: Request):
    """Store a signed batch of events; answers only after commit."""
    body = await read_capped(request)
    engine, settings = request.app.state.engine, request.app.state.settings
    method, path, headers = request.method, request.url.path, request.headers

    def run() -> bytes:
        # One worker-thread hop for the whole request. The nonce is recorded in the ingest
        # transaction (one commit per batch, not two); authentication still comes first.
        device = authenticate_device(engine, method, path, headers, body, utcnow(),
                                     settings.clock_window_seconds, record_nonce=False)
        data = decode_body(body, headers.get("content-encoding"))
        doc = parse_envelope(data, device["id"])
        answer = ingest_batch(engine, device, doc, utcnow(), settings, nonce=True)
        count_events(answer["results"])
        # Serialised here, not by FastAPI's jsonable_encoder (a walk of every result).
        return orjson.dumps(answer)
    return Response(await run_in_threadpool(run), media_type="application/json")


@router.get("/config", openapi_extra=SIGNED)
async def get_config(request: Request):
    """The device's window configuration; 304 when ``If-None-Match`` is current."""
    device = await _device(request)

    def run():
        with read(request.app.state.engine) as conn:
            return device_config.build(conn, device, request.app.state.settings)
    body = await run_in_threadpool(run)
    etag = f'"{body["etag"]}"'
    sent = [t.strip() for t in request.headers.get("if-none-match", "").split(",")]
    if etag in sent or body["etag"] in sent:
        return Response(status_code=304, headers={"ETag": etag})
    return JSONResponse(body, headers={"ETag": etag})


@router.get("/photos/{sha256}", openapi_extra=SIGNED)
async def get_photo(sha256: str, request: Request):
    """A staff photo by its SHA-256 (content-addressed, cacheable forever)."""
    await _device(request)

    def run():
        with read(request.app.state.engine) as conn:
            return conn.execute(select(photos.c.content_type, photos.c.data)
                                .where(photos.c.sha256 == sha256.lower())).first()
    row = await run_in_threadpool(run)
    if row is None:
        raise NotFound(f"no photo {sha256[:64]!r}", field="sha256")
    return Response(row.data, media_type=row.content_type,
                    headers={"Cache-Control": "public, max-age=31536000, immutable"})


@router.post("/heartbeat", openapi_extra={**SIGNED, "requestBody": {
    "required": True, "content": {"application/json": {"schema": {"type": "object"}}}}})
async def post_heartbeat(request: Request):
    """Device health: backlog, disk, clock offset, last error."""
    body = await read_capped(request, 64 * 1024)
    device = await _device(request, body)
    doc = _json_object(body)
    kept = fleet.check_heartbeat(doc)   # the documented fields only: unknown keys are not kept
    # The boot whose clock this request's skew measures: the signed body's, else X-Boot-Id's.
    boot_id = doc.get("boot_id") or device.get("boot_id")
    # and that boot's monotonic clock (the signed body's, else X-Mono-Ns when it is that boot's)
    mono_ns = doc.get("mono_ns")
    if mono_ns is None and boot_id == device.get("boot_id"):
        mono_ns = device.get("mono_ns")
    if boot_id is not None and not BOOT_ID.fullmatch(boot_id):
        raise BadRequest(f"boot_id must be 1 to 128 visible ASCII characters (the Linux boot "
                         f"id), got {boot_id[:64]!r}", field="boot_id")
    settings = request.app.state.settings
    now = utcnow()

    def run():
        with write(request.app.state.engine) as conn:
            conn.execute(update(devices).where(devices.c.id == device["id"]).values(
                last_seen_at=now, last_heartbeat=fleet.heartbeat_json(kept),
                app_version=(doc.get("app_version") or device["app_version"])))
            if boot_id is not None:
                boot_clocks.record(conn, device["id"], boot_id, device["skew_s"], now, mono_ns,
                                   device.get("mono_at"))
            offset = doc.get("clock_offset_s")
            if offset is not None and abs(offset) > settings.clock_alert_seconds:
                # one a day of the site's calendar; apart from ingest's "events in the future"
                day = local_day(now, settings.timezone_offset_hours)
                raise_alert(conn, AL_CLOCK, f"{device['id']}:offset:{day}",
                            f"device {device['id']} clock is {offset:+.0f} s off",
                            now, device_id=device["id"], window_id=device["window_id"],
                            # the offset is what the kiosk adds to its clock: > 0 is behind
                            args={"msg": "clock_behind" if offset > 0 else "clock_ahead",
                                  "device": device["id"], "seconds": round(abs(offset))})
            return take_sync_now(conn, device["id"], now)
    answer = {"server_time": now.isoformat()}
    if await run_in_threadpool(run):
        answer["sync_now"] = True  # asked for on the dashboard; delivered once
    return answer
