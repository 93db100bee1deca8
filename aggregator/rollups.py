"""Daily and monthly rollups of ratings, updated in the same transaction as the ratings.

One daily row per day × window × unit × staff × service item × level × flagged, holding the
count, the sum of stars and how many of the ratings answered an invitation. ``not_rated``
is a pseudo-level counting invitations that timed out. ``rollup_monthly`` holds the same rows
summed per month (``YYYY-MM`` of the day), ``rollup_unit_daily`` (migration 40) the same rows
summed per day × unit × level × flagged (the dashboard's daily trend), ``rollup_window_monthly``
(migration 42) the same rows summed per month × window × unit × level × flagged (rankings by
window, unit or region); ``write`` (``add`` for rating dicts) writes all four from the daily
increments (``tally``), so a month row is always the sum of that
month's day rows, a unit-day row the sum of that unit's day rows and a window-month row the sum
of that window's day rows in the month (``check_monthly`` verifies all three). Dashboards read
only these rows. The tables are defined in ``schema.py`` (from the migrations).

A rating flagged after it was counted (an accepted appeal) moves with ``move``.

Write rollups only through ``add``, ``move`` or ``write(conn, tally(...))`` (or call ``rebuild_monthly``
after writing daily rows by other means), or the monthly, unit-day and window-month rows fall out of step with the daily
ones.

Each call sends one batched upsert per table, in key order (daily, then monthly, then
unit-daily, then window-monthly), so concurrent transactions lock rollup rows in one global
order (no deadlocks on PostgreSQL).
"""

from __future__ import annotations

from typing import Iterable

from sqlalchemy import Table
from sqlalchemy.engine import Connection

from . import constants as C
from .db import upsert_add_rows
from .schema import rollup_daily, rollup_monthly, rollup_unit_daily, rollup_window_monthly

KEYS = ("day", "window_id", "unit_id", "staff_id", "service_item", "level", "flagged")
MONTH_KEYS = ("month",) + KEYS[1:]
UNIT_KEYS = ("day", "unit_id", "level", "flagged")
WINDOW_MONTH_KEYS = ("month", "window_id", "unit_id", "level", "flagged")
MEASURES = ("count", "stars_sum", "invited")


def rating_key(r: dict) -> tuple:
    return (r["day"], r["window_id"], r.get("unit_id") or "", r.get("staff_id") or "",
            r.get("service_item") or "", r["level"], 1 if r.get("flagged") else 0)


def tally(counted: Iterable[tuple[tuple, int, bool]] = (), not_rated: Iterable[dict] = (),
          acc: dict[tuple, list[int]] | None = None) -> dict[tuple, list[int]]:
    """The daily rollup increments of ratings given as (``rating_key``, stars, invited) and of
    ``not_rated`` (dicts with day, window_id, unit_id, staff_id, service_item): daily key →
    [count, stars_sum, invited]; added to a copy of ``acc`` when given."""
    acc = {k: list(v) for k, v in acc.items()} if acc else {}
    for k, stars, invited in counted:
        m = acc.get(k)
        if m is None:
            m = acc[k] = [0, 0, 0]
        m[0] += 1
        m[1] += stars
        if invited:
            m[2] += 1
    for r in not_rated:
        k = rating_key({**r, "level": C.NOT_RATED, "flagged": False})
        m = acc.get(k)
        if m is None:
            m = acc[k] = [0, 0, 0]
        m[0] += 1
    return acc


def rows(acc: dict[tuple, list[int]]) -> list[tuple[Table, tuple, list[tuple]]]:
    """(table, key columns, rows of keys then measures) for each rollup table, in the order
    ``write`` upserts them, from daily increments (``tally``)."""
    months: dict[tuple, list[int]] = {}
    units: dict[tuple, list[int]] = {}
    window_months: dict[tuple, list[int]] = {}
    for k, v in acc.items():
        month = k[0][:7]
        for sums, key in ((months, (month,) + k[1:]), (units, (k[0], k[2], k[5], k[6])),
                          (window_months, (month, k[1], k[2], k[5], k[6]))):
            m = sums.get(key)
            if m is None:
                sums[key] = list(v)
            else:
                m[0] += v[0]
                m[1] += v[1]
                m[2] += v[2]
    return [(table, keys, [(*k, *v) for k, v in sums.items()])
            for table, keys, sums in ((rollup_daily, KEYS, acc),
                                      (rollup_monthly, MONTH_KEYS, months),
                                      (rollup_unit_daily, UNIT_KEYS, units),
                                      (rollup_window_monthly, WINDOW_MONTH_KEYS, window_months))]


def write(conn: Connection, acc: dict[tuple, list[int]]) -> int:
    """Add daily increments (``tally``) to all four rollup tables. Returns daily rows touched."""
    if not acc:
        return 0
    for table, keys, table_rows in rows(acc):
        upsert_add_rows(conn, table, keys, MEASURES, table_rows)
    return len(acc)


def add(conn: Connection, ratings: Iterable[dict] = (), not_rated: Iterable[dict] = ()) -> int:
    """Count ``ratings`` (rows of the ratings table) and ``not_rated`` (dicts with day,
    window_id, unit_id, staff_id, service_item) into the rollups. Returns daily rows touched."""
    return write(conn, tally(((rating_key(r), int(r["stars"]), bool(r.get("invitation_id")))
                              for r in ratings), not_rated))


def move(conn: Connection, r: dict, flagged: bool) -> None:
    """Move one counted rating (a row of the ratings table) to the ``flagged`` side of every
    rollup table, from the other side it was counted on: a server flag set or taken away
    after it was stored (``ratings.set_flag``). Both sides go through ``write``, in the same
    key order as ingest; a row left at zero is deleted, so the rollups stay equal to a recount
    of the ratings."""
    stars, invited = int(r["stars"]), 1 if r.get("invitation_id") else 0
    acc = {rating_key({**r, "flagged": not flagged}): [-1, -stars, -invited],
           rating_key({**r, "flagged": flagged}): [1, stars, invited]}
    write(conn, acc)
    for table, keys, table_rows in rows(acc):
        for row in table_rows:
            if row[len(keys)] < 0:  # the side the rating left
                conn.execute(table.delete().where(
                    *(table.c[k] == v for k, v in zip(keys, row)),
                    *(table.c[m] == 0 for m in MEASURES)))


_MONTH_OF_DAILY = (
    'SELECT substr(day, 1, 7) AS month, window_id, unit_id, staff_id, service_item, level, '
    'flagged, SUM("count") AS c, SUM(stars_sum) AS s, SUM(invited) AS i FROM rollup_daily '
    'GROUP BY substr(day, 1, 7), window_id, unit_id, staff_id, service_item, level, flagged')
_UNIT_OF_DAILY = (
    'SELECT day, unit_id, level, flagged, SUM("count") AS c, SUM(stars_sum) AS s, '
    'SUM(invited) AS i FROM rollup_daily GROUP BY day, unit_id, level, flagged')
_WINDOW_MONTH_OF_DAILY = (
    'SELECT substr(day, 1, 7) AS month, window_id, unit_id, level, flagged, SUM("count") AS c, '
    'SUM(stars_sum) AS s, SUM(invited) AS i FROM rollup_daily '
    'GROUP BY substr(day, 1, 7), window_id, unit_id, level, flagged')


def rebuild_monthly(conn: Connection) -> None:
    """Recompute every monthly, unit-day and window-month row from the daily rows (after writing
    daily rows directly)."""
    conn.exec_driver_sql("DELETE FROM rollup_monthly")
    conn.exec_driver_sql(
        'INSERT INTO rollup_monthly (month, window_id, unit_id, staff_id, service_item, level, '
        f'flagged, "count", stars_sum, invited) {_MONTH_OF_DAILY}')
    conn.exec_driver_sql("DELETE FROM rollup_unit_daily")
    conn.exec_driver_sql(
        'INSERT INTO rollup_unit_daily (day, unit_id, level, flagged, "count", stars_sum, '
        f'invited) {_UNIT_OF_DAILY}')
    conn.exec_driver_sql("DELETE FROM rollup_window_monthly")
    conn.exec_driver_sql(
        'INSERT INTO rollup_window_monthly (month, window_id, unit_id, level, flagged, "count", '
        f'stars_sum, invited) {_WINDOW_MONTH_OF_DAILY}')


def _differences(conn: Connection, of_daily: str, stored: str, width: int) -> list[tuple]:
    daily = {tuple(r[:width]): tuple(int(x) for x in r[width:])
             for r in conn.exec_driver_sql(of_daily)}
    kept = {tuple(r[:width]): tuple(int(x) for x in r[width:])
            for r in conn.exec_driver_sql(stored)}
    return sorted((k, daily.get(k), kept.get(k)) for k in daily.keys() | kept.keys()
                  if daily.get(k) != kept.get(k))


def check_monthly(conn: Connection) -> list[tuple]:
    """The monthly rows, then the unit-day rows, then the window-month rows, that differ from
    their daily rows summed, as (key, summed daily, stored) (empty when consistent)."""
    return _differences(conn, _MONTH_OF_DAILY, (
        'SELECT month, window_id, unit_id, staff_id, service_item, level, flagged, "count", '
        'stars_sum, invited FROM rollup_monthly'), 7) + _differences(conn, _UNIT_OF_DAILY, (
            'SELECT day, unit_id, level, flagged, "count", stars_sum, invited '
            'FROM rollup_unit_daily'), 4) + _differences(conn, _WINDOW_MONTH_OF_DAILY, (
                'SELECT month, window_id, unit_id, level, flagged, "count", stars_sum, invited '
                'FROM rollup_window_monthly'), 5)
