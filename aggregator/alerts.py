"""Integrity alerts: raised cheaply during ingest, and periodically by ``scan``.

An alert has a ``dedupe_key`` so the same condition is raised once, however often it is seen.
Its ``detail`` is an English sentence (logs, the API, the command line); its ``detail_args``
(migration 46) the message name and values the sentence was made of, from which the dashboard
tells the detail in the page's language (``dashboard/i18n_alerts.py``).

>>> from aggregator.db import make_engine, write, utcnow
>>> from aggregator.migrations import migrate
>>> engine = make_engine("sqlite://"); _ = migrate(engine)
>>> with write(engine) as conn:
...     scan(conn, utcnow())
[]
"""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import and_, case, func, select
from sqlalchemy.engine import Connection

from . import boot_clocks
from . import constants as C
from .db import insert_ignore
from .schema import alerts, devices, rollup_daily, streams
from .settings import Settings

SEVERITY = {
    C.AL_CONFLICT: "high", C.AL_CHAIN_BREAK: "high", C.AL_SEQ_GAP: "medium",
    C.AL_NEW_STREAM: "medium", C.AL_DB_RECOVERED: "medium", C.AL_CLOCK: "low",
    C.AL_NO_STAFF: "low", C.AL_BURST: "medium", C.AL_ZERO_BAD: "high", C.AL_SILENT: "medium",
    C.AL_AFTER_REVOCATION: "medium",
}


def raise_alert(conn: Connection, kind: str, key: str, detail: str, now: dt.datetime,
                device_id: str | None = None, window_id: str | None = None, *,
                args: dict | None = None) -> bool:
    """Record an alert unless one with the same kind and key exists; True when new.

    ``args`` are the values of ``detail`` for the dashboard's templates: ``msg`` names the
    template (``alertd_<msg>``; the kind when absent), the rest are its fields, e.g.
    ``{"msg": "clock_behind", "device": "kiosk-W-004", "seconds": 845}``.
    """
    row = {"kind": kind, "severity": SEVERITY.get(kind, "medium"),
           "dedupe_key": f"{kind}:{key}"[:300], "device_id": device_id,
           "window_id": window_id, "detail": detail,
           "detail_args": json.dumps(args, ensure_ascii=False, default=_plain) if args else None,
           "created_at": now, "resolved_at": None}
    return bool(insert_ignore(conn, alerts, [row], returning="id"))


def _plain(value) -> str | int:
    """A value of ``args`` JSON cannot hold as it is: times as ISO text, numbers as numbers
    (a PostgreSQL sum is a Decimal)."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return int(value) if hasattr(value, "as_integer_ratio") and value == int(value) else str(value)


def list_alerts(conn: Connection, kind: str | None = None, device_id: str | None = None,
                limit: int = 200) -> list[dict]:
    q = select(alerts).order_by(alerts.c.id.desc()).limit(limit)
    if kind:
        q = q.where(alerts.c.kind == kind)
    if device_id:
        q = q.where(alerts.c.device_id == device_id)
    out = []
    for r in conn.execute(q).mappings():
        d = dict(r)
        d["created_at"] = d["created_at"].isoformat()
        d["resolved_at"] = d["resolved_at"].isoformat() if d["resolved_at"] else None
        d["detail_args"] = json.loads(d["detail_args"]) if d["detail_args"] else None
        out.append(d)
    return out


def scan(conn: Connection, now: dt.datetime, settings: Settings | None = None) -> list[dict]:
    """Raise the periodic alerts (open gaps, silent devices, implausibly zero bad ratings),
    and forget the boot clocks no longer needed (``boot_clocks.forget_old``).

    Returns the alerts raised now (not those already open).
    """
    s = settings or Settings()
    raised: list[dict] = []

    def add(kind, key, detail, device_id=None, window_id=None, args=None):
        if raise_alert(conn, kind, key, detail, now, device_id, window_id, args=args):
            raised.append({"kind": kind, "key": key, "detail": detail,
                           "device_id": device_id, "window_id": window_id})

    gap_cut = now - dt.timedelta(hours=s.gap_alert_hours)
    for r in conn.execute(select(streams).where(and_(
            streams.c.gap_since.is_not(None), streams.c.gap_since < gap_cut))).mappings():
        add(C.AL_SEQ_GAP, f"{r['device_id']}:{r['stream_id']}:{r['high_water']}",
            f"device {r['device_id']} stream {r['stream_id']}: events after seq "
            f"{r['high_water']} missing for more than {s.gap_alert_hours} h "
            f"(highest seq seen {r['max_seq']})", device_id=r["device_id"],
            args={"device": r["device_id"], "stream": r["stream_id"], "after": r["high_water"],
                  "hours": s.gap_alert_hours, "max_seq": r["max_seq"]})

    silent_cut = now - dt.timedelta(hours=s.silent_hours)
    for r in conn.execute(select(devices).where(devices.c.revoked_at.is_(None))).mappings():
        seen = r["last_seen_at"] or r["enrolled_at"]
        if seen < silent_cut:
            add(C.AL_SILENT, f"{r['id']}:{seen.isoformat()}",
                f"device {r['id']} (window {r['window_id']}) silent since {seen.isoformat()}",
                device_id=r["id"], window_id=r["window_id"],
                args={"device": r["id"], "window": r["window_id"], "since_at": seen})

    tz = dt.timezone(dt.timedelta(hours=s.timezone_offset_hours))
    today = now.astimezone(tz).date()
    first = (today - dt.timedelta(days=29)).isoformat()
    q = (select(rollup_daily.c.window_id,
                func.sum(rollup_daily.c.count).label("n"),
                func.sum(case((rollup_daily.c.level.in_(C.BAD_LEVELS), rollup_daily.c.count),
                              else_=0)).label("bad"))
         .where(rollup_daily.c.day >= first, rollup_daily.c.day <= today.isoformat(),
                rollup_daily.c.level != C.NOT_RATED, rollup_daily.c.flagged == 0)
         .group_by(rollup_daily.c.window_id))
    for r in conn.execute(q).mappings():
        if r["n"] >= s.zero_bad_min_ratings and not r["bad"]:
            add(C.AL_ZERO_BAD, f"{r['window_id']}:{today.isoformat()[:7]}",
                f"window {r['window_id']}: {r['n']} ratings in the 30 days to {today} "
                f"and not one bad rating", window_id=r["window_id"],
                args={"window": r["window_id"], "n": r["n"], "to": today, "days": 30})
    boot_clocks.forget_old(conn, now)   # housekeeping of the same hourly job
    return raised
