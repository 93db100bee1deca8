"""Storing ratings: the ratings table, their rollups and late attachments, in one place.

Every writer of ratings (batch ingest, the QR page, the demo) calls ``store`` inside its
transaction, so rollups can never disagree with the ratings. A follow-up or QR comment
whose rating has not arrived yet waits in ``pending_attachments`` and is attached by
``store`` when the rating comes.
"""

from __future__ import annotations

import datetime as dt
import json
import operator
from typing import Iterable

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection

from . import rollups
from .db import driver_time, insert_new, select_in
from .schema import pending_attachments, ratings

FOLLOW_UP = "follow_up"
COMMENT = "comment"


COLUMNS = tuple(c.name for c in ratings.columns)
_TZ: dict[int, dt.timezone] = {}


def _tz(hours: int) -> dt.timezone:
    tz = _TZ.get(hours)
    if tz is None:
        tz = _TZ[hours] = dt.timezone(dt.timedelta(hours=hours))
    return tz


def local_day(t: dt.datetime, tz_hours: int) -> str:
    """The YYYY-MM-DD of ``t`` in the site's local time."""
    return t.astimezone(_tz(tz_hours)).date().isoformat()


def from_payload(event_id: str, device: dict, payload: dict, device_time: dt.datetime,
                 now: dt.datetime, skew_s: float, tz_hours: int) -> dict:
    """A ratings row from a kiosk ``rating`` event.

    The day is taken from the device time corrected by the clock skew measured at this
    upload, and never later than server time (a kiosk has no battery clock).
    """
    when = device_time - dt.timedelta(seconds=skew_s) if skew_s else device_time
    if when > now:
        when = now
    get = payload.get
    flags = get("flags")
    if flags:
        flags = sorted(set(flags))
        flags_json = json.dumps(flags)
    else:
        flags_json = "[]"  # json.dumps([]) without its cost (the usual case)
    return {
        "id": event_id, "device_id": device["id"], "window_id": payload["window_id"],
        "unit_id": get("unit_id") or device.get("unit_id"),
        "staff_id": get("staff_id"), "staff_name": get("staff_name"),
        "service_item": get("service_item"), "case_no": get("case_no"),
        "invitation_id": get("invitation_id"),
        "channel": get("channel", 4), "level": payload["level"],
        "stars": payload["stars"], "scale": get("scale", 5),
        "reasons": None, "reasons_version": None, "comment": None, "phone": None,
        "callback_consent": False, "device_time": device_time, "server_time": now,
        "day": when.astimezone(_tz(tz_hours)).date().isoformat(),
        "flags": flags_json, "flagged": bool(flags),
    }


def store(conn: Connection, rows: list[dict], not_rated: Iterable[dict] = ()) -> set:
    """Insert new ratings (ignoring known ids), count them into the rollups and attach
    what was waiting for them. Returns the ids inserted now."""
    # A rating's id is its event's, new in this transaction (or a fresh one from the QR page):
    # expected absent, so no lookup unless a row did clash.
    inserted = insert_new(conn, ratings, COLUMNS, _tuples(conn, rows), "id",
                          absent=True) if rows else set()
    rollups.add(conn, [r for r in rows if r["id"] in inserted], not_rated)
    if inserted and _any_pending(conn, inserted):
        waiting = conn.execute(
            select(pending_attachments).where(pending_attachments.c.rating_id.in_(inserted))
            .order_by(pending_attachments.c.id)).mappings().all()
        for w in waiting:
            _apply(conn, w["rating_id"], w["kind"], json.loads(w["data"]))
        if waiting:
            conn.execute(delete(pending_attachments).where(
                pending_attachments.c.id.in_([w["id"] for w in waiting])))
    return inserted


_GET = operator.itemgetter(*COLUMNS)
_DT, _ST = COLUMNS.index("device_time"), COLUMNS.index("server_time")
_BOOLS = (COLUMNS.index("callback_consent"), COLUMNS.index("flagged"))


def _tuples(conn: Connection, rows: list[dict]) -> list[tuple]:
    """Rows in ``COLUMNS`` order, in driver form."""
    out = []
    dialect = conn.dialect.name
    times: dict = {}  # server_time is mostly one value per call
    for r in rows:
        try:
            v = list(_GET(r))
        except KeyError:
            v = list(_GET(dict.fromkeys(COLUMNS) | r))
        v[_DT] = driver_time(dialect, v[_DT])
        st = v[_ST]
        if st not in times:
            times[st] = driver_time(dialect, st)
        v[_ST] = times[st]
        for k in _BOOLS:
            v[k] = bool(v[k])
        out.append(tuple(v))
    return out


def _any_pending(conn: Connection, ids: set) -> bool:
    """Whether any of ``ids`` has an attachment waiting (cheap when none waits at all)."""
    if conn.exec_driver_sql("SELECT 1 FROM pending_attachments LIMIT 1").first() is None:
        return False
    return bool(select_in(conn, "SELECT 1 FROM pending_attachments WHERE rating_id {in}",
                          sorted(ids)))


def attach(conn: Connection, rating_id: str, kind: str, data: dict, now: dt.datetime) -> bool:
    """Attach a follow-up or comment to its rating; keep it pending when the rating is
    not here yet. Returns True when attached now."""
    if _apply(conn, rating_id, kind, data):
        return True
    conn.execute(pending_attachments.insert().values(
        rating_id=rating_id, kind=kind, data=json.dumps(data, ensure_ascii=False),
        created_at=now))
    return False


def _apply(conn: Connection, rating_id: str, kind: str, data: dict) -> bool:
    if kind == FOLLOW_UP:
        values = {"reasons": json.dumps(data.get("reasons") or []),
                  "reasons_version": data.get("reasons_version"),
                  "callback_consent": bool(data.get("callback_consent"))}
        if data.get("phone"):
            values["phone"] = data["phone"]
    else:
        values = {"comment": data.get("comment")}
        if data.get("phone") and data.get("callback_consent"):
            values |= {"phone": data["phone"], "callback_consent": True}
    result = conn.execute(update(ratings).where(ratings.c.id == rating_id).values(**values))
    return result.rowcount > 0
