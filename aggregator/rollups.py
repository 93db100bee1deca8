"""Daily and monthly rollups of ratings, updated in the same transaction as the ratings.

One daily row per day × window × unit × staff × service item × level × flagged, holding the
count, the sum of stars and how many of the ratings answered an invitation. ``not_rated``
is a pseudo-level counting invitations that timed out. ``rollup_monthly`` holds the same rows
summed per month (``YYYY-MM`` of the day); ``add`` writes both, so a month row is always the
sum of that month's day rows (``check_monthly`` verifies it). Dashboards read only these rows.

Write rollups only through ``add`` (or call ``rebuild_monthly`` after writing daily rows by
other means), or the monthly rows fall out of step with the daily ones.

Each call sends one batched upsert per table, in key order (daily, then monthly), so
concurrent transactions lock rollup rows in one global order (no deadlocks on PostgreSQL).
"""

from __future__ import annotations

from typing import Iterable

from sqlalchemy.engine import Connection

from . import constants as C
from .db import upsert_add_rows
from .schema import rollup_daily, rollup_monthly

KEYS = ("day", "window_id", "unit_id", "staff_id", "service_item", "level", "flagged")
MONTH_KEYS = ("month",) + KEYS[1:]
MEASURES = ("count", "stars_sum", "invited")


def rating_key(r: dict) -> tuple:
    return (r["day"], r["window_id"], r.get("unit_id") or "", r.get("staff_id") or "",
            r.get("service_item") or "", r["level"], 1 if r.get("flagged") else 0)


def add(conn: Connection, ratings: Iterable[dict] = (), not_rated: Iterable[dict] = ()) -> int:
    """Count ``ratings`` (rows of the ratings table) and ``not_rated`` (dicts with day,
    window_id, unit_id, staff_id, service_item) into the rollups. Returns daily rows touched."""
    acc: dict[tuple, list[int]] = {}
    for r in ratings:
        k = rating_key(r)
        m = acc.get(k)
        if m is None:
            m = acc[k] = [0, 0, 0]
        m[0] += 1
        m[1] += int(r["stars"])
        if r.get("invitation_id"):
            m[2] += 1
    for r in not_rated:
        k = rating_key({**r, "level": C.NOT_RATED, "flagged": False})
        m = acc.get(k)
        if m is None:
            m = acc[k] = [0, 0, 0]
        m[0] += 1
    if not acc:
        return 0
    months: dict[tuple, list[int]] = {}
    for k, v in acc.items():
        mk = (k[0][:7],) + k[1:]
        m = months.get(mk)
        if m is None:
            months[mk] = list(v)
        else:
            m[0] += v[0]
            m[1] += v[1]
            m[2] += v[2]
    upsert_add_rows(conn, rollup_daily, KEYS, MEASURES, [(*k, *v) for k, v in acc.items()])
    upsert_add_rows(conn, rollup_monthly, MONTH_KEYS, MEASURES,
                    [(*k, *v) for k, v in months.items()])
    return len(acc)


_MONTH_OF_DAILY = (
    'SELECT substr(day, 1, 7) AS month, window_id, unit_id, staff_id, service_item, level, '
    'flagged, SUM("count") AS c, SUM(stars_sum) AS s, SUM(invited) AS i FROM rollup_daily '
    'GROUP BY substr(day, 1, 7), window_id, unit_id, staff_id, service_item, level, flagged')


def rebuild_monthly(conn: Connection) -> None:
    """Recompute every monthly row from the daily rows (after writing daily rows directly)."""
    conn.exec_driver_sql("DELETE FROM rollup_monthly")
    conn.exec_driver_sql(
        'INSERT INTO rollup_monthly (month, window_id, unit_id, staff_id, service_item, level, '
        f'flagged, "count", stars_sum, invited) {_MONTH_OF_DAILY}')


def check_monthly(conn: Connection) -> list[tuple]:
    """The monthly rows that differ from their daily rows summed (empty when consistent)."""
    daily = {tuple(r[:7]): tuple(int(x) for x in r[7:])
             for r in conn.exec_driver_sql(_MONTH_OF_DAILY)}
    monthly = {tuple(r[:7]): tuple(int(x) for x in r[7:]) for r in conn.exec_driver_sql(
        'SELECT month, window_id, unit_id, staff_id, service_item, level, flagged, "count", '
        'stars_sum, invited FROM rollup_monthly')}
    return sorted((k, daily.get(k), monthly.get(k)) for k in daily.keys() | monthly.keys()
                  if daily.get(k) != monthly.get(k))
