"""The overview of a user's scope: rate and volume against the target, the daily trend,
bad ratings, overdue cases, offline devices and open alerts."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.engine import Connection

from ..schema import alerts, devices, windows
from . import queue, rankings
from .periods import Period


def offline_devices(conn: Connection, allowed: set[str], now: dt.datetime,
                    silent_hours: int) -> list[dict]:
    cut = now - dt.timedelta(hours=silent_hours)
    q = (select(devices.c.id, devices.c.window_id, devices.c.last_seen_at)
         .where(devices.c.unit_id.in_(sorted(allowed)), devices.c.revoked_at.is_(None),
                or_(devices.c.last_seen_at.is_(None), devices.c.last_seen_at < cut))
         .order_by(devices.c.last_seen_at))
    return [dict(r) for r in conn.execute(q).mappings()]


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
        "cases": queue.open_counts(conn, allowed, today),
        "offline": offline_devices(conn, allowed, now, silent_hours),
        "alerts": open_alerts(conn, allowed, limit=8),
        "alert_count": count_open_alerts(conn, allowed),
        "below": [r for r in report["rows"] if r["below_target"]],
    }
