"""Authentication of device requests (Ed25519 signatures, nonces, clock window) and of
the admin API (bearer token).

A device request is accepted when its headers are present, its timestamp is within the
clock window, the device is enrolled and not revoked, the signature over
``sync.protocol.signing_string`` verifies with the stored public key, and its nonce is new.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hmac
import re
import threading
import time

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey
from sqlalchemy import delete
from sqlalchemy.engine import Engine

from sync.protocol import (
    HEADER_BOOT,
    HEADER_CLOCK_OFFSET,
    HEADER_DEVICE,
    HEADER_MONO,
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    MAX_BOOT_ID,
    MAX_CLOCK_OFFSET_SECONDS,
    MAX_MONO_NS,
    signing_string,
)

from .db import driver_time, read, sql, write
from .errors import BadRequest, Unauthorized
from .schema import nonces
from .validation import parse_time

NONCE = re.compile(r"^[0-9a-f]{32}$")
BOOT_ID = re.compile(r"[!-~]{1,%d}" % MAX_BOOT_ID)
PRUNE_EVERY_SECONDS = 60

_prune_lock = threading.Lock()
_last_prune = [0.0]


def load_public_key(b64: str) -> VerifyKey:
    """An Ed25519 key from base64 of its raw 32 bytes; ValueError when malformed."""
    try:
        raw = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("public_key is not valid base64") from None
    if len(raw) != 32:
        raise ValueError(f"public_key must be 32 raw bytes, got {len(raw)}")
    return VerifyKey(raw)


_DEVICE_SQL = ("SELECT id, window_id, unit_id, staff_id, staff_name, app_version, public_key, "
               "revoked_at, last_skew_s FROM devices WHERE id = ?")


def authenticate_device(engine: Engine, method: str, path: str, headers, body: bytes,
                        now: dt.datetime, clock_window: int, *,
                        record_nonce: bool = True) -> dict:
    """The device row of a signed request, or raise ``Unauthorized`` with the reason.

    ``record_nonce=False``: the caller records the nonce (``remember_nonce(conn, device, now)``)
    in its own write transaction, which then fails as ``replayed`` when the nonce was seen;
    the batch endpoint does so, saving a transaction (a commit) per batch. The returned
    row carries the nonce as ``"nonce"`` either way.
    """
    device_id = headers.get(HEADER_DEVICE)
    timestamp = headers.get(HEADER_TIMESTAMP)
    nonce = headers.get(HEADER_NONCE)
    signature = headers.get(HEADER_SIGNATURE)
    missing = [h for h, v in ((HEADER_DEVICE, device_id), (HEADER_TIMESTAMP, timestamp),
                              (HEADER_NONCE, nonce), (HEADER_SIGNATURE, signature)) if not v]
    if missing:
        raise Unauthorized(f"missing header {missing[0]}", field=missing[0],
                           code="missing_header")
    sent = parse_time(timestamp)
    if sent is None:
        raise Unauthorized(f"{HEADER_TIMESTAMP} {timestamp[:64]!r} is not an RFC 3339 time "
                           "with an offset", field=HEADER_TIMESTAMP, code="bad_timestamp")
    skew = (sent - now).total_seconds()
    if abs(skew) > clock_window:
        raise Unauthorized(f"{HEADER_TIMESTAMP} is {skew:+.0f} s from server time "
                           f"(allowed ±{clock_window} s)", code="clock_skew",
                           extra={"server_time": now.isoformat()})
    offset = _clock_offset(headers.get(HEADER_CLOCK_OFFSET))
    boot_id = _boot_id(headers.get(HEADER_BOOT))
    mono_ns = _mono_ns(headers.get(HEADER_MONO))
    if not NONCE.match(nonce):
        raise Unauthorized(f"{HEADER_NONCE} must be 32 lower-case hex digits",
                           field=HEADER_NONCE, code="bad_nonce")
    with read(engine) as conn:  # every request: the few columns used, at driver level
        device = sql(conn, _DEVICE_SQL, (device_id,)).mappings().first()
    if device is None:
        raise Unauthorized(f"device {device_id[:64]!r} is not enrolled", code="unknown_device")
    if device["revoked_at"] is not None:
        raise Unauthorized(f"device {device_id!r} was revoked", code="device_revoked")
    try:
        sig = base64.b64decode(signature, validate=True)
        load_public_key(device["public_key"]).verify(
            signing_string(method, path, device_id, timestamp, nonce, body), sig)
    except (BadSignatureError, ValueError, binascii.Error):
        raise Unauthorized("signature does not verify", field=HEADER_SIGNATURE,
                           code="bad_signature") from None
    # X-Timestamp was corrected by the device's known offset: its raw clock is off by both.
    # ``boot_id``: the boot that clock belongs to (X-Boot-Id), None from a kiosk that does not
    # say it (before 2026-12): its skew then dates every event of its batch, as it did.
    # ``mono_ns`` (X-Mono-Ns) with ``mono_at`` (server time now): the reference pair of that
    # boot's monotonic clock (boot_clocks); None from a kiosk that does not send it.
    row = dict(device) | {"skew_s": skew - offset, "nonce": nonce, "boot_id": boot_id,
                          "mono_ns": mono_ns, "mono_at": now}
    if record_nonce:
        with write(engine) as conn:
            remember_nonce(conn, row, now)
    _maybe_prune(engine, now, clock_window)
    return row


def remember_nonce(conn, device: dict, now: dt.datetime) -> None:
    """Remember the nonce of ``device``'s request (``authenticate_device`` put it in the row)
    in the caller's transaction; raise ``Unauthorized`` (replayed) when it was seen before."""
    new = sql(conn, "INSERT INTO nonces (device_id, nonce, seen_at) VALUES (?, ?, ?) "
                    "ON CONFLICT DO NOTHING", (device["id"], device["nonce"],
                                               driver_time(conn, now))).rowcount
    if new != 1:
        raise Unauthorized(f"nonce {device['nonce']} was used before", code="replayed")



def _clock_offset(value: str | None) -> float:
    """The device's own clock correction (X-Clock-Offset), 0 when absent."""
    if value is None or value == "":
        return 0.0
    try:
        offset = float(value)
    except ValueError:
        offset = float("nan")
    if not (abs(offset) <= MAX_CLOCK_OFFSET_SECONDS):  # also refuses nan and inf
        raise BadRequest(f"{HEADER_CLOCK_OFFSET} must be seconds within ±{MAX_CLOCK_OFFSET_SECONDS}, "
                         f"got {value[:32]!r}", field=HEADER_CLOCK_OFFSET)
    return offset


def _boot_id(value: str | None) -> str | None:
    """The boot the device is in (X-Boot-Id), None when absent."""
    if value is None or value == "":
        return None
    if not BOOT_ID.fullmatch(value):
        raise BadRequest(f"{HEADER_BOOT} must be 1 to {MAX_BOOT_ID} visible ASCII characters "
                         f"(the Linux boot id), got {value[:64]!r}", field=HEADER_BOOT)
    return value


def _mono_ns(value: str | None) -> int | None:
    """The device's monotonic clock in ns (X-Mono-Ns), None when absent."""
    if value is None or value == "":
        return None
    if not (value.isascii() and value.isdigit() and len(value) <= 19
            and int(value) <= MAX_MONO_NS):
        raise BadRequest(f"{HEADER_MONO} must be an integer 0 to {MAX_MONO_NS} (the device's "
                         f"monotonic clock in ns), got {value[:32]!r}", field=HEADER_MONO)
    return int(value)


def _maybe_prune(engine: Engine, now: dt.datetime, clock_window: int) -> None:
    """Forget nonces older than twice the clock window (older requests fail the clock check)."""
    with _prune_lock:
        if time.monotonic() - _last_prune[0] < PRUNE_EVERY_SECONDS:
            return
        _last_prune[0] = time.monotonic()
    cut = now - dt.timedelta(seconds=2 * clock_window)
    with write(engine) as conn:
        conn.execute(delete(nonces).where(nonces.c.seen_at < cut))


def check_admin(token: str, authorization: str | None) -> None:
    """Raise ``Unauthorized`` unless ``authorization`` is ``Bearer <token>``."""
    if not token:
        raise Unauthorized("the admin API is disabled: set AGGREGATOR_ADMIN_TOKEN",
                           code="admin_disabled")
    given = (authorization or "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise Unauthorized("missing or wrong admin token (Authorization: Bearer …)",
                           code="bad_admin_token")
