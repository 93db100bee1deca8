"""Daily rollups of ratings, updated in the same transaction as the ratings themselves.

One row per day × window × unit × staff × service item × level × flagged, holding the
count, the sum of stars and how many of the ratings answered an invitation. ``not_rated``
is a pseudo-level counting invitations that timed out. Dashboards read only these rows.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable

from sqlalchemy.engine import Connection

from . import constants as C
from .db import upsert_add
from .schema import rollup_daily

KEYS = ("day", "window_id", "unit_id", "staff_id", "service_item", "level", "flagged")
MEASURES = ("count", "stars_sum", "invited")


def rating_key(r: dict) -> tuple:
    return (r["day"], r["window_id"], r.get("unit_id") or "", r.get("staff_id") or "",
            r.get("service_item") or "", r["level"], 1 if r.get("flagged") else 0)


def add(conn: Connection, ratings: Iterable[dict] = (), not_rated: Iterable[dict] = ()) -> int:
    """Count ``ratings`` (rows of the ratings table) and ``not_rated`` (dicts with day,
    window_id, unit_id, staff_id, service_item) into the rollups. Returns rows touched."""
    acc: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0])
    for r in ratings:
        m = acc[rating_key(r)]
        m[0] += 1
        m[1] += int(r["stars"])
        m[2] += 1 if r.get("invitation_id") else 0
    for r in not_rated:
        m = acc[rating_key({**r, "level": C.NOT_RATED, "flagged": False})]
        m[0] += 1
    rows = [dict(zip(KEYS, k)) | dict(zip(MEASURES, v)) for k, v in acc.items()]
    upsert_add(conn, rollup_daily, rows, KEYS, MEASURES)
    return len(rows)
