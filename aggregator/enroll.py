"""Device enrolment with one-time, expiring codes (docs/protocol.md ``POST /api/v1/enroll``).

Codes look like ``K7Q-2MX-9TD`` and are stored only as a SHA-256 hash. The device sends its
Ed25519 public key; the server keeps only that key.

>>> normalize_code(" k7q-2mx 9td ")
'K7Q2MX9TD'
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets

from sqlalchemy import and_, select, update
from sqlalchemy.engine import Connection

from .auth import load_public_key
from .db import insert_ignore
from .errors import BadRequest, Conflict, Gone, NotFound
from .org import URL_BREAKING
from .schema import devices, enroll_codes, units, windows
from .settings import RANGES

# No 0/O, 1/I/L: codes are read off a screen and typed on a kiosk.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def normalize_code(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


def code_hash(code: str) -> str:
    return hashlib.sha256(normalize_code(code).encode()).hexdigest()


def new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(9))
    return f"{raw[:3]}-{raw[3:6]}-{raw[6:]}"


def window_row(conn: Connection, window_id: str) -> dict:
    row = conn.execute(select(windows.c.id, windows.c.unit_id, windows.c.name)
                       .where(windows.c.id == window_id)).mappings().first()
    if row is None:
        raise NotFound(f"window {window_id!r} does not exist", field="window_id",
                       code="unknown_window")
    return dict(row)


def create_code(conn: Connection, window_id: str, now: dt.datetime,
                ttl_hours: float = 24, device_id: str | None = None) -> dict:
    """A new one-time code for ``window_id``; the clear code is returned once, never stored.

    ``device_id``: the code is for that device only, and may enrol it again (a kiosk moved
    to another window, one whose key was lost, one revoked by mistake); a code without it
    enrols only a device id the server does not know.
    """
    window_row(conn, window_id)
    longest = RANGES["enroll_ttl_hours"][1]
    if not 0 < ttl_hours <= longest:
        raise BadRequest(f"ttl_hours must be more than 0 and at most {longest}, got {ttl_hours}",
                         field="ttl_hours")
    if device_id is not None and conn.execute(
            select(devices.c.id).where(devices.c.id == device_id)).first() is None:
        raise NotFound(f"device {device_id!r} does not exist; a new kiosk needs no --device",
                       field="device_id", code="unknown_device")
    code = new_code()
    expires = now + dt.timedelta(hours=ttl_hours)
    conn.execute(enroll_codes.insert().values(code_hash=code_hash(code), window_id=window_id,
                                              created_at=now, expires_at=expires,
                                              device_id=device_id))
    return {"code": code, "window_id": window_id, "device_id": device_id,
            "expires_at": expires.isoformat()}


# A device id that no HTTP header can carry (a newline, non-Latin-1 text) used up the one-time
# code for a device that could never sign a request.
DEVICE_ID = re.compile(r"[\x21-\x7e]{1,64}\Z")


def _check_new_id(device_id: str) -> None:
    """A 400 unless ``device_id`` can be a new device's id.

    The id is part of the dashboard's addresses (/dashboard/devices/<id>/revoke): a kiosk
    enrolled as "kiosk-W-001/revoke?" got a "Sync now" button that revoked kiosk-W-001, and
    one enrolled as "hall-2/kiosk-1" could not be revoked from the page. Devices enrolled
    before keep their ids (the page encodes them).
    """
    breaks = URL_BREAKING.search(device_id)
    if breaks or device_id in (".", ".."):
        what = f"contain {breaks.group()!r}" if breaks else "be '.' or '..'"
        raise BadRequest(f"device_id must not {what} (it is part of web addresses), got "
                         f"{device_id!r:.80}", field="device_id")


def _field(body: dict, name: str, limit: int, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise BadRequest(f"{name} must be a non-empty string of at most {limit} characters, "
                         f"got {value!r:.80}", field=name)
    return value


def enroll(conn: Connection, body, now: dt.datetime) -> dict:
    """Bind a device to the code's window; the answer of ``POST /api/v1/enroll``."""
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object", field="body")
    code = _field(body, "code", 64)
    device_id = _field(body, "device_id", 64)
    if not DEVICE_ID.match(device_id):  # it travels in the X-Device-Id header of every request
        raise BadRequest(f"device_id must be printable ASCII without spaces, got {device_id!r:.80}",
                         field="device_id")
    public_key = _field(body, "public_key", 64)
    app_version = _field(body, "app_version", 32, required=False)
    try:
        load_public_key(public_key)
    except ValueError as exc:
        raise BadRequest(str(exc), field="public_key") from None
    h = code_hash(code)
    row = conn.execute(select(enroll_codes).where(enroll_codes.c.code_hash == h)).mappings().first()
    if row is None:
        raise NotFound("unknown enrolment code", field="code", code="unknown_code")
    if row["used_at"] is not None:
        raise Gone("this enrolment code was already used", field="code", code="code_used")
    exists = conn.execute(select(devices.c.id, devices.c.revoked_at)
                          .where(devices.c.id == device_id)).first()
    if (exists and exists.revoked_at is not None and row["device_id"] == device_id
            and row["created_at"] <= exists.revoked_at):
        # ``revoke`` ends such codes; said apart from a plain expiry, so whoever holds one
        # knows a new code is needed (and who may make it).
        raise Gone(f"this enrolment code was made for device {device_id!r} before it was "
                   f"revoked at {exists.revoked_at.isoformat()}; revoking ended it: ask a "
                   f"supervisor for a new code", field="code", code="code_expired")
    if row["expires_at"] <= now:
        raise Gone(f"this enrolment code expired at {row['expires_at'].isoformat()}",
                   field="code", code="code_expired")
    if not exists:
        _check_new_id(device_id)
    if row["device_id"] is not None and row["device_id"] != device_id:
        raise Conflict(f"this enrolment code is for device {row['device_id']!r} only",
                       field="code", code="code_for_another_device")
    if exists and row["device_id"] != device_id:
        # Any code enrolled any known device id again, with a new key, in another window,
        # revoked or not: the real kiosk was locked out, and a revocation undone without a word.
        raise Conflict(f"device {device_id!r} is enrolled already; to enrol it again, make a "
                       f"code for it (dashboard: Devices, Enrol again) or: aggregator "
                       f"enroll-code --window {row['window_id']} --device {device_id}",
                       field="device_id", code="device_exists")
    claimed = conn.execute(update(enroll_codes).where(and_(
        enroll_codes.c.code_hash == h, enroll_codes.c.used_at.is_(None)))
        .values(used_at=now, device_id=device_id))
    if claimed.rowcount != 1:  # a concurrent enrolment won the race
        raise Gone("this enrolment code was already used", field="code", code="code_used")
    window = window_row(conn, row["window_id"])
    values = {"window_id": window["id"], "unit_id": window["unit_id"],
              "public_key": public_key, "app_version": app_version, "enrolled_at": now,
              "revoked_at": None, "last_seen_at": now}
    if exists:
        conn.execute(update(devices).where(devices.c.id == device_id).values(**values))
    elif not insert_ignore(conn, devices, [{"id": device_id, **values}], returning="id"):
        # Another request enrolled this new id with another code a moment ago (on PostgreSQL
        # both passed the lookup: a 500 UniqueViolation). Raising rolls this transaction back,
        # so this request's code is not used up.
        raise Conflict(f"device {device_id!r} was enrolled a moment ago by another request; "
                       f"to enrol it again, make a code for it (dashboard: Devices, Enrol "
                       f"again) or: aggregator enroll-code --window {row['window_id']} "
                       f"--device {device_id}", field="device_id", code="device_exists")
    unit = conn.execute(select(units.c.name).where(units.c.id == window["unit_id"])).first()
    return {"device_id": device_id, "window_id": window["id"], "unit_id": window["unit_id"],
            "unit_name": unit[0] if unit else None, "server_time": now.isoformat()}


def revoke(conn: Connection, device_id: str, now: dt.datetime) -> dict:
    """Stop a device; everything it sent stays."""
    row = conn.execute(select(devices.c.revoked_at).where(devices.c.id == device_id)).first()
    if row is None:
        raise NotFound(f"device {device_id!r} does not exist", field="device_id",
                       code="unknown_device")
    if row.revoked_at is not None:   # a second revocation kept no trace of when it was stopped
        return {"device_id": device_id, "revoked_at": row.revoked_at.isoformat()}
    conn.execute(update(devices).where(devices.c.id == device_id).values(revoked_at=now))
    # Its unused codes end now: an "Enrol again" code made just before (a unit manager may
    # make one for a kiosk not yet revoked) enrolled it after, with any key, and lifted the
    # revocation. ``used_at`` stays empty: an unused code is no window the device served.
    conn.execute(update(enroll_codes).where(
        enroll_codes.c.device_id == device_id, enroll_codes.c.used_at.is_(None),
        enroll_codes.c.expires_at > now).values(expires_at=now))
    return {"device_id": device_id, "revoked_at": now.isoformat()}
