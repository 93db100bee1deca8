"""The fleet: what a kiosk's heartbeat may say and what of it is kept (``check_heartbeat``,
``stored_heartbeat``), and the fleet as ``aggregator devices`` prints it: one line per device
of a unit or of all units, from the dashboard's device list
(``dashboard.devices.list_devices``), times in the hall's local time.

>>> print(table([], 8))
device  unit  window  status  last seen (UTC+8)  backlog  version
"""

from __future__ import annotations

import datetime as dt
import json
import math

from sqlalchemy import select
from sqlalchemy.engine import Connection

from .errors import BadRequest, NotFound
from .settings import Settings

# The heartbeat's fields (docs/protocol.md §3, ``POST /api/v1/heartbeat``) and their types.
HEARTBEAT_FIELDS = {"app_version": str, "pending": int, "oldest_pending_age_s": (int, float),
                    "disk_free_bytes": int, "clock_offset_s": (int, float),
                    "last_error": str, "db_bytes": int, "config_version": int, "boot_id": str,
                    "mono_ns": int, "moved_aside_pending": int, "moved_aside_skipped": int}
HEARTBEAT_TEXT = {"app_version": 32, "last_error": 2000,  # app_version: the devices column
                  "boot_id": 128}


def _problem(name: str, value) -> str | None:
    """Why ``value`` cannot be the heartbeat's ``name``, or None."""
    if not isinstance(value, HEARTBEAT_FIELDS[name]) or isinstance(value, bool):
        return f"{name} has the wrong type: {value!r:.80}"
    if isinstance(value, str) and len(value) > HEARTBEAT_TEXT[name]:
        return f"{name} is {len(value)} characters, over {HEARTBEAT_TEXT[name]}"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{name} must be a finite number, got {value!r}"
    if name != "clock_offset_s" and not isinstance(value, str) and value < 0:
        return f"{name} must not be negative, got {value!r}"
    return None


def check_heartbeat(doc: dict) -> dict:
    """The heartbeat fields of ``doc`` to keep (the documented ones it has), or a 400 naming
    the first wrong one. Unknown keys are allowed and not kept.

    >>> check_heartbeat({"pending": 3, "notes": "x" * 9000, "last_error": None})
    {'pending': 3}
    """
    kept = {}
    for name in HEARTBEAT_FIELDS:
        value = doc.get(name)
        if value is None:
            continue
        problem = _problem(name, value)
        if problem:
            raise BadRequest(problem, field=name)
        kept[name] = value
    return kept


def heartbeat_json(kept: dict) -> str:
    """What ``devices.last_heartbeat`` stores of a checked heartbeat: whole JSON, never cut.

    A heartbeat was stored as its JSON cut at 8,000 characters: an unknown key of 9,000
    characters, or a 2,000-character ``last_error`` of control characters (each escaped to six),
    left invalid JSON, and the device list answered 500 to everyone whose scope held the kiosk.
    The documented fields are bounded (at most ~13,000 characters), so nothing needs cutting.
    """
    return json.dumps(kept, ensure_ascii=False)


def stored_heartbeat(text: str | None) -> dict | None:
    """A device's stored heartbeat, its documented fields of the right type only; None when
    there is none or it cannot be read (rows stored before ``heartbeat_json`` may be cut JSON,
    and one bad row must not fail every page that lists devices).

    >>> stored_heartbeat('{"pending": 3, "last_error": "disk full", "notes": "x"}')
    {'pending': 3, 'last_error': 'disk full'}
    >>> stored_heartbeat('{"pending": 3, "last_error": "cut he') is None
    True
    """
    try:
        beat = json.loads(text) if text else None
    except (ValueError, RecursionError):
        return None
    if not isinstance(beat, dict):
        return None
    return {k: v for k, v in beat.items() if k in HEARTBEAT_FIELDS and _problem(k, v) is None}


# What a kiosk whose database cannot be written puts first in its heartbeat's last_error
# (sync/heartbeat.py, sent from a read-only view while no rating can be recorded), followed
# by the store's own error (kiosk/store.py: StoreFullError "…: disk full while …", a
# read-only file system, a corrupt file).
CANNOT_WRITE = "the kiosk database cannot be written:"
# SQLite's and the kiosk store's words for a full disk, wherever they come in last_error.
DISK_FULL_WORDS = ("database or disk is full", "disk full while", ": disk full:")
# Free space under which a kiosk cannot record: its store takes an I/O error with less than
# this free as a full disk (kiosk/store.py FULL_BELOW_BYTES, 1 MiB), and a WAL commit of one
# rating needs a few pages more than the rating.
FAULT_DISK_FREE_BYTES = 1 << 20
# The faults, most specific first: the dashboard explains each (i18n ``fault_<key>``).
FAULTS = ("disk_full", "read_only", "corrupt", "cannot_write")


def recording_fault(beat: dict | None) -> str | None:
    """Why the kiosk whose (stored, checked) heartbeat is ``beat`` cannot record a rating, as
    a key of ``FAULTS``; None when it says nothing of the kind.

    Its citizens' presses get "please try again" and nothing is recorded, while the kiosk
    still heartbeats: its device list row read "online" and no alert was raised.

    >>> recording_fault({"disk_free_bytes": 0, "last_error": "the kiosk database cannot be "
    ...                  "written: /k/kiosk.db: database or disk is full"})
    'disk_full'
    >>> recording_fault({"last_error": "the kiosk database cannot be written: /k/kiosk.db: "
    ...                  "read-only (the file system or the file cannot be written): x"})
    'read_only'
    >>> recording_fault({"disk_free_bytes": 300_000})
    'disk_full'
    >>> recording_fault({"disk_free_bytes": 8 * 2**30, "last_error": "heartbeat: timed out"})
    """
    if not beat:
        return None
    error = beat.get("last_error") or ""
    low = error.lower()
    if any(w in low for w in DISK_FULL_WORDS):
        return "disk_full"
    if low.startswith(CANNOT_WRITE):
        if "read-only" in low or "readonly" in low:
            return "read_only"
        if "malformed" in low or "not a database" in low or "corrupt" in low:
            return "corrupt"
        return "cannot_write"
    free = beat.get("disk_free_bytes")
    if isinstance(free, int) and free < FAULT_DISK_FREE_BYTES:
        return "disk_full"
    return None

COLUMNS = ("device", "unit", "window", "status", "last seen (UTC{:+d})", "backlog", "version")


def devices(conn: Connection, now: dt.datetime, settings: Settings,
            unit: str | None = None) -> list[dict]:
    """The devices of ``unit`` (all units when None), as the dashboard lists them, each with
    ``last_seen_local`` and ``revoked_at_local`` (the hall's clock, or None)."""
    from .dashboard.devices import list_devices
    from .schema import units

    known = set(conn.execute(select(units.c.id)).scalars())
    if unit is not None and unit not in known:
        raise NotFound(f"no unit {unit!r}" + (f" (units: {', '.join(sorted(known)[:20])})"
                                              if known else " (no units yet)"))
    rows = list_devices(conn, {unit} if unit else known, now, settings.silent_hours)
    for d in rows:
        d["last_seen_local"] = _local(d["last_seen_at"], settings)
        d["revoked_at_local"] = _local(d["revoked_at"], settings)
    return rows


def _local(when: dt.datetime | None, settings: Settings) -> str | None:
    if when is None:
        return None
    zone = dt.timezone(dt.timedelta(hours=settings.timezone_offset_hours))
    return when.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def table(rows: list[dict], tz_hours: int) -> str:
    """``rows`` as aligned text columns (``COLUMNS``; times at UTC+``tz_hours``)."""
    lines = [tuple(c.format(tz_hours) for c in COLUMNS)]
    for d in rows:
        status = d["status"]
        if d["revoked_at_local"]:
            status = f"revoked {d['revoked_at_local']}"   # the status word itself
        elif status == "fault":   # heard from, but it cannot record: why (``FAULTS``' key)
            status = f"fault:{d['fault']}"
        lines.append((d["id"], d["unit_id"] or "-", d["window_id"] or "-", status,
                      d["last_seen_local"] or "never",
                      _backlog(d),
                      d["app_version"] or "-"))
    widths = [max(_width(line[k]) for line in lines) for k in range(len(COLUMNS))]
    return "\n".join("  ".join(cell + " " * (w - _width(cell)) for cell, w in zip(line, widths))
                     .rstrip() for line in lines)


def _backlog(d: dict) -> str:
    """The backlog cell: the outbox's count, then what databases moved aside as corrupt
    still hold and how many of them only a technician's USB export can send.

    >>> _backlog({"backlog": 0, "moved_aside_pending": 340, "moved_aside_skipped": 1})
    '0 (+340 moved aside; 1 file to export by USB)'
    """
    cell = "-" if d["backlog"] is None else str(d["backlog"])
    more = []
    if d.get("moved_aside_pending"):
        more.append(f"+{d['moved_aside_pending']} moved aside")
    if d.get("moved_aside_skipped"):
        n = d["moved_aside_skipped"]
        more.append(f"{n} file{'s' if n > 1 else ''} to export by USB")
    return f"{cell} ({'; '.join(more)})" if more else cell


def _width(text: str) -> int:
    """Columns ``text`` takes in a terminal (a Chinese character takes two)."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
