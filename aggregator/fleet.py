"""The fleet as ``aggregator devices`` prints it: one line per device of a unit or of all
units, from the dashboard's device list (``dashboard.devices.list_devices``), times in the
hall's local time.

>>> print(table([], 8))
device  unit  window  status  last seen (UTC+8)  backlog  version
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.engine import Connection

from .errors import NotFound
from .settings import Settings

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
        lines.append((d["id"], d["unit_id"] or "-", d["window_id"] or "-", status,
                      d["last_seen_local"] or "never",
                      "-" if d["backlog"] is None else str(d["backlog"]),
                      d["app_version"] or "-"))
    widths = [max(_width(line[k]) for line in lines) for k in range(len(COLUMNS))]
    return "\n".join("  ".join(cell + " " * (w - _width(cell)) for cell, w in zip(line, widths))
                     .rstrip() for line in lines)


def _width(text: str) -> int:
    """Columns ``text`` takes in a terminal (a Chinese character takes two)."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
