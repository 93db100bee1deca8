"""The overview of a user's scope: rate and volume against the target, the daily trend,
bad ratings, overdue cases, devices offline or unable to record, and open alerts."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.engine import Connection

from ..constants import MIN_VOLUME
from ..fleet import recording_fault, stored_heartbeat
from ..schema import alerts, devices, windows
from . import queue, rankings
from .periods import Period


def device_problems(conn: Connection, allowed: set[str], now: dt.datetime,
                    silent_hours: int) -> dict[str, list[dict]]:
    """The devices of the scope (not revoked) that lose ratings or may: ``offline`` (not
    heard from in ``silent_hours``, or never) and ``fault`` (heard from, but their last
    heartbeat says they cannot record: ``fleet.recording_fault``).

    Only offline ones were counted: a kiosk with a full disk kept heartbeating, so its
    manager's overview said 0 while every press there got "please try again"."""
    cut = now - dt.timedelta(hours=silent_hours)
    q = (select(devices.c.id, devices.c.window_id, devices.c.last_seen_at,
                devices.c.last_heartbeat)
         .where(devices.c.unit_id.in_(sorted(allowed)), devices.c.revoked_at.is_(None))
         .order_by(devices.c.last_seen_at, devices.c.id))
    out: dict[str, list[dict]] = {"offline": [], "fault": []}
    for r in conn.execute(q).mappings():
        d = dict(r)
        beat = stored_heartbeat(d.pop("last_heartbeat"))
        if d["last_seen_at"] is None or d["last_seen_at"] < cut:
            out["offline"].append(d)
        elif (fault := recording_fault(beat)) is not None:
            out["fault"].append(d | {"fault": fault})
    return out


SEVERITY_ORDER = case({"high": 0, "medium": 1}, value=alerts.c.severity, else_=2)


def alerts_in_scope(allowed: set[str]):
    """The condition on ``alerts`` of the units ``allowed``: the alert's window or its device
    is in one of them (the overview and the alerts page, ``routes_alerts``, share it)."""
    unit_windows = select(windows.c.id).where(windows.c.unit_id.in_(sorted(allowed)))
    unit_devices = select(devices.c.id).where(devices.c.unit_id.in_(sorted(allowed)))
    return or_(alerts.c.window_id.in_(unit_windows), alerts.c.device_id.in_(unit_devices))


def open_alerts(conn: Connection, allowed: set[str], limit: int = 20) -> list[dict]:
    """Unresolved alerts of devices or windows in the scope, the most serious first, then the
    newest (newest first alone: a backlog's eight low ``no_staff`` alerts hid a chain break)."""
    # the window's name, for the detail (i18n_alerts): "W-004" alone means little to a reader
    q = (select(alerts, windows.c.name.label("window_name"))
         .outerjoin(windows, windows.c.id == alerts.c.window_id)
         .where(alerts.c.resolved_at.is_(None), alerts_in_scope(allowed))
         .order_by(SEVERITY_ORDER, alerts.c.id.desc()).limit(limit))
    return [dict(r) for r in conn.execute(q).mappings()]


def count_open_alerts(conn: Connection, allowed: set[str]) -> int:
    return conn.execute(select(func.count()).select_from(alerts).where(and_(
        alerts.c.resolved_at.is_(None), alerts_in_scope(allowed)))).scalar()


def trend_range(start: dt.date, end: dt.date, today: dt.date) -> dict:
    """What the trend chart's caption says of its days: how many, the first and the last
    (month-day within today's year), and whether they end today.

    >>> trend_range(dt.date(2026, 11, 6), dt.date(2026, 12, 5), dt.date(2026, 12, 5))
    {'days': 30, 'start': '11-06', 'end': '12-05', 'to_today': True, 'min_volume': 10}
    """
    def short(day: dt.date) -> str:
        return day.isoformat()[5:] if day.year == today.year else day.isoformat()

    return {"days": (end - start).days + 1, "start": short(start), "end": short(end),
            "to_today": end == today, "min_volume": MIN_VOLUME}   # charts.trend's


def build(conn: Connection, user: dict, allowed: set[str], period: Period, today: dt.date,
          now: dt.datetime, *, prior: float, target: float, silent_hours: int,
          include_flagged: bool = False) -> dict:
    report = rankings.ranking(conn, user, "unit", period, prior=prior, target=target,
                              include_flagged=include_flagged)
    # The period's days up to today (a quarter's first month was cut off at 60 days); in a
    # period's first four weeks, the 30 days to today, so that there is something to compare.
    # A period that has not begun shows its own days, empty: it drew the last 30 days, under
    # the heading of a month to come.
    start, end = period.start, min(period.end, today)
    if period.start > today:
        end = period.end
    elif (end - start).days < 27:
        start = end - dt.timedelta(days=29)
    return {
        "report": report,
        "trend": rankings.daily_trend(conn, allowed, start, end, include_flagged),
        # the chart's caption: its days were unlabelled ("近 30 天（11-06 至 12-05）")
        "trend_range": trend_range(start, end, today),
        "cases": queue.open_counts(conn, allowed, today),
        "devices": device_problems(conn, allowed, now, silent_hours),
        "alerts": open_alerts(conn, allowed, limit=8),
        "alert_count": count_open_alerts(conn, allowed),
        "below": [r for r in report["rows"] if r["below_target"]],
    }
