"""Drill-down figures that the rollups cannot give: ratings by hour and weekday and the
reasons of bad ratings, read from the ratings table for one unit (or window) and period
(indexed by unit and day). Only counts leave this module, never individual ratings."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.engine import Connection

from .. import constants as C
from ..ratings import rated_time
from ..schema import ratings


def _rows(conn: Connection, unit_ids: list[str], day_from: dt.date, day_to: dt.date,
          window_id: str | None, staff_id: str | None, include_flagged: bool):
    q = (select(ratings.c.rated_at, ratings.c.device_time, ratings.c.server_time,
                ratings.c.stars, ratings.c.reasons, ratings.c.level, ratings.c.day)
         .where(ratings.c.unit_id.in_(unit_ids) if len(unit_ids) > 1
                else ratings.c.unit_id == unit_ids[0],
                ratings.c.day >= day_from.isoformat(), ratings.c.day <= day_to.isoformat()))
    if window_id:
        q = q.where(ratings.c.window_id == window_id)
    if staff_id:
        q = q.where(ratings.c.staff_id == staff_id)
    if not include_flagged:
        q = q.where(ratings.c.flagged.is_(False))
    return conn.execute(q)


def patterns(conn: Connection, unit_id: str | Collection[str], day_from: dt.date,
             day_to: dt.date, *, tz_hours: int = 8, window_id: str | None = None,
             staff_id: str | None = None, include_flagged: bool = False) -> dict:
    """{"grid": {(weekday, hour): (n, bad)}, "reasons": [(code, n)], "levels": {level: n}}
    of the ratings made in ``unit_id``, or in any of several units (a window page: the
    ratings of a window moved to another unit were made in both)."""
    unit_ids = [unit_id] if isinstance(unit_id, str) else sorted(unit_id)
    if not unit_ids:
        return {"grid": {}, "reasons": [], "levels": {}}
    tz = dt.timezone(dt.timedelta(hours=tz_hours))
    grid: dict = {}
    reasons: Counter = Counter()
    levels: Counter = Counter()
    for rated_at, device_time, server_time, stars, reason_json, level, day in _rows(
            conn, unit_ids, day_from, day_to, window_id, staff_id, include_flagged):
        # The hour the citizen rated: the device time corrected for its kiosk's clock
        # (``rated_at``, docs/aggregator.md "Ingest"); the hour of the raw device clock put
        # every rating of a kiosk whose clock was 8 h off 8 hours off in the staffing grid.
        # The weekday is that of the day the rating is counted on (``rated_at``'s own date;
        # for a rating stored before migration 49, the corrected day beside the clock's hour).
        local = rated_time(rated_at, device_time, server_time).astimezone(tz)
        key = (dt.date.fromisoformat(day).weekday(), local.hour)
        n, bad = grid.get(key, (0, 0))
        grid[key] = (n + 1, bad + (stars <= C.BAD_STARS))
        levels[level] += 1
        if stars <= C.BAD_STARS and reason_json:
            reasons.update(json.loads(reason_json))
    return {"grid": grid, "reasons": reasons.most_common(), "levels": dict(levels)}
