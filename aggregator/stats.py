"""Satisfaction statistics from the daily rollups (never from raw ratings).

Per group: ``rated`` ratings, ``satisfied`` (levels 3–5), ``bad`` (levels 1–2), satisfaction
``rate`` = satisfied / rated, ``mean`` stars, and the ranking's ``score``, a Bayesian-smoothed
satisfaction rate::

    score = (satisfied + C · p0) / (rated + C)

with ``p0`` the satisfaction rate of all groups in the query (``global_rate``) and ``C`` the
prior weight (``Settings.smoothing_prior``, default 20, as if each group had 20 more ratings
at the overall rate): a window with 3 ratings, all satisfied, does not outrank one with 3,000
at 99.9 %. Rankings sort by ``score``: they sorted by smoothed mean stars (``smoothed``, still
given for the assessment's citizens part), and a unit at 97.47 % with the most 差评 ranked
first, one at 97.77 % fourth. A group without a counted rating
(all flagged, or only timed-out invitations) has no score, and it and the group of nobody (no
staff member or service item) are listed last with ``rank`` None (``ranked``; with
``min_volume`` so are the groups with fewer counted ratings). Groups equal on the sort key
(the same counted and satisfied ratings) share a place (1, 1, 3: ``place``). Flagged ratings are excluded
unless ``include_flagged``; ``flagged`` always says how many there were. In invited mode the
``response_rate`` is invited ratings / (invited ratings + not rated).

The range is read from a monthly rollup for every month it covers (a month also counts as
covered when the days it leaves out hold no rollup rows at all, e.g. "this month so far"), and
from ``rollup_daily`` for the rest, so a month's ranking costs the same whatever the number of
days and ratings. Grouped by window, unit or region (the filters, ``region`` and ``unit``, are
by unit too) the monthly rollup is ``rollup_window_monthly``: one row per window × level ×
flagged (≈ 8 per window-month); grouped by staff or service item it is ``rollup_monthly``, one
row per window × staff × item × level × flagged (≈ 108 per window-month, docs/scaling.md). All
of them give the same sums.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from fractions import Fraction

from sqlalchemy import case, func, null, select
from sqlalchemy.engine import Connection

from . import constants as C
from .errors import BadRequest
from .schema import (
    regions,
    rollup_daily,
    rollup_monthly,
    rollup_window_monthly,
    service_items,
    staff,
    units,
    windows,
)

GROUPS = ("region", "unit", "window", "staff", "service_item")
COLUMN = {"unit": "unit_id", "window": "window_id", "staff": "staff_id",
          "service_item": "service_item", "region": "unit_id"}
# Key columns rollup_window_monthly holds (it has no staff or service item).
WINDOW_MONTH_COLUMNS = {"window_id", "unit_id"}
SATISFIED = {k for k, stars in C.LEVELS if stars >= C.SATISFIED_STARS}
BAD = set(C.BAD_LEVELS)


def parse_day(value: str | None, name: str, default: dt.date) -> dt.date:
    if value is None or value == "":
        return default
    try:
        day = dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise BadRequest(f"{name} must be a date YYYY-MM-DD, got {value!r:.40}",
                         field=name) from None
    if not C.MIN_YEAR <= day.year <= C.MAX_YEAR:  # 9999-12-31 overflowed the month steps: a 500
        raise BadRequest(f"{name} must be a date in the years {C.MIN_YEAR}–{C.MAX_YEAR}, "
                         f"got {value!r:.40}", field=name)
    return day


def _region_tree(conn: Connection) -> tuple[dict, dict]:
    rows = {r["id"]: dict(r) for r in conn.execute(select(regions)).mappings()}
    return rows, {rid: r["parent_id"] for rid, r in rows.items()}


def _child_under(region_id: str | None, top: str | None, parents: dict) -> str | None:
    """The ancestor of ``region_id`` (itself included) whose parent is ``top``; ``top`` itself
    for a unit that sits directly in it (a town's own service centre)."""
    seen = set()
    while region_id is not None and region_id not in seen:
        seen.add(region_id)
        if region_id == top or parents.get(region_id) == top:
            return region_id
        region_id = parents.get(region_id)
    return None



def ranked(row: dict, min_volume: int = 1) -> bool:
    """Whether ``row`` takes a place in a ranking and is held to the target: a unit, window,
    person or item with at least ``min_volume`` counted ratings (at least one). The row of
    ratings without a staff member or service item (QR ratings, a kiosk with nobody signed in)
    is listed last without a rank: it is nobody, and was ranked 7th of 7 and named "未达标" in
    a bulletin whose six staff all met the target. A row without a counted rating has no
    figure to rank by. The dashboard asks for ``constants.MIN_VOLUME`` (10): windows of 10
    ratings, all 5★, ranked above windows of 700, and a window of 4 ratings (75 %) was named
    未达标 in a bulletin; rates cluster near 100 %, and a handful of ratings says little."""
    return row["key"] is not None and row["rated"] >= max(1, min_volume)


def below(satisfied: int, rated: int, target: float) -> bool:
    """Whether ``satisfied`` of ``rated`` is below ``target``, on the exact counts.

    The rate was rounded to 6 places first: 1,600,000 of 2,000,001 (79.99996 %) became
    0.8 and met a target of 80 %. ``target`` is taken as the decimal it was set as (0.8 is
    4/5, not the binary fraction just above it).

    >>> below(1_600_000, 2_000_001, 0.8), below(8, 10, 0.8), below(855, 1000, 0.855)
    (True, False, False)
    """
    goal = Fraction(repr(float(target)))
    return satisfied * goal.denominator < goal.numerator * rated


def place(rows: list[dict], takes_place) -> None:
    """Number ``rows`` (the ranked ones first, in ranking order) in ``rank``: rows equal on
    the ranking's sort key (the same counted and satisfied ratings, hence the same score)
    share a place and the next row takes the place after them (1, 1, 3); rows for which
    ``takes_place(row)`` is false get None. Two windows of identical figures were ranked 1 and
    2 by their ids."""
    count, last_key, last_place = 0, None, None
    for row in rows:
        if not takes_place(row):
            row["rank"] = None
            continue
        count += 1
        key = (row["rated"], row["satisfied"])
        if key != last_key:
            last_key, last_place = key, count
        row["rank"] = last_place


def compute(conn: Connection, group_by: str, day_from: dt.date, day_to: dt.date, *,
            region: str | None = None, unit: str | None = None, window: str | None = None,
            include_flagged: bool = False, prior: float = 20.0,
            with_units: bool = False, min_volume: int = 1) -> dict:
    """Ranking rows of ``group_by`` over the days ``day_from`` … ``day_to`` (inclusive).
    ``with_units``: each row also lists as ``units`` the units its ratings were made in (the
    rating's unit, not the window's or staff member's unit today). ``window``: only the
    ratings made at that window (a window page's staff and service items). ``min_volume``:
    the counted ratings a row needs for a place (``ranked``); the rows with fewer are listed
    after the ranked ones with ``rank`` None. ``rate`` is the exact ratio (not rounded: a rate
    rounded to 6 places read 80.00 % for 79.99996 %, 100.00 % for one bad rating in 3
    million)."""
    if group_by not in GROUPS:
        raise BadRequest(f"group_by must be one of {', '.join(GROUPS)}, got {group_by!r:.40}",
                         field="group_by")
    if day_to < day_from:
        raise BadRequest(f"to ({day_to}) is before from ({day_from})", field="to")
    region_rows, parents = _region_tree(conn)
    unit_region = dict(conn.execute(select(units.c.id, units.c.region_id)).all())
    if region is not None and region not in region_rows:
        raise BadRequest(f"region {region!r:.64} does not exist", field="region")
    groups: dict[str, dict] = defaultdict(lambda: dict.fromkeys(
        ("rated", "satisfied", "bad", "stars_sum", "flagged", "not_rated", "invited"), 0))
    by_region = region is not None or group_by == "region"
    units_of: dict[str, set] = defaultdict(set)
    for key, unit_id, not_rated, flagged, rated, satisfied, bad, stars, invited in \
            _rollup_rows(conn, COLUMN[group_by], day_from, day_to, unit,
                         by_unit=by_region or with_units, include_flagged=include_flagged,
                         window=window):
        if by_region:
            child = _child_under(unit_region.get(unit_id), region, parents)
            if child is None:
                continue  # outside the region asked for
            key = child if group_by == "region" else key
        g = groups[key]
        if with_units:
            units_of[key].add(unit_id)
        g["not_rated"] += int(not_rated)
        g["flagged"] += int(flagged)
        g["rated"] += int(rated)
        g["stars_sum"] += int(stars)
        g["invited"] += int(invited)
        g["satisfied"] += int(satisfied)
        g["bad"] += int(bad)
    total_n = sum(g["rated"] for g in groups.values())
    total_stars = sum(g["stars_sum"] for g in groups.values())
    m = total_stars / total_n if total_n else 0.0
    total_sat = sum(g["satisfied"] for g in groups.values())
    p0 = total_sat / total_n if total_n else 0.0
    names = _names(conn, group_by, region_rows)
    rows, scores = [], []
    for key, g in groups.items():
        n = g["rated"]
        asked = g["invited"] + g["not_rated"]
        # No counted rating, no score: the prior alone (m) ranked a unit whose every
        # rating was flagged, or a row of timed-out invitations, above real ones.
        stars = (prior * m + g["stars_sum"]) / (prior + n) if n else None
        score = (g["satisfied"] + prior * p0) / (n + prior) if n else None
        rows.append({
            "key": key or None, "name": names.get(key, key or "(none)"), **g,
            "rate": g["satisfied"] / n if n else None,
            "mean": round(g["stars_sum"] / n, 6) if n else None,
            "smoothed": round(stars, 6) if n else None,
            "score": round(score, 6) if n else None,
            # every invitation answered is a response rate of 100 %, not "unknown"
            "response_rate": round(g["invited"] / asked, 6) if asked else None,
        })
        scores.append(score or 0.0)
        if with_units:
            rows[-1]["units"] = sorted(units_of[key], key=str)
    # Sorted on the unrounded score: rounded to 6 places, two rows of 3 million ratings a
    # rating apart compared equal and were told apart by their ids.
    order = sorted(range(len(rows)), key=lambda i: (
        not ranked(rows[i], min_volume), not rows[i]["rated"], rows[i]["key"] is None,
        -scores[i], -rows[i]["rated"], -rows[i]["satisfied"], str(rows[i]["key"])))
    rows = [rows[i] for i in order]
    place(rows, lambda row: ranked(row, min_volume))
    return {
        "group_by": group_by, "from": day_from.isoformat(), "to": day_to.isoformat(),
        "region": region, "unit": unit, "include_flagged": include_flagged,
        "prior_weight": prior, "min_volume": max(1, min_volume), "global_mean": round(m, 6),
        "global_rate": round(p0, 6),
        "total": {"rated": total_n, "satisfied": total_sat,
                  "bad": sum(g["bad"] for g in groups.values()),
                  "flagged": sum(g["flagged"] for g in groups.values()),
                  "not_rated": sum(g["not_rated"] for g in groups.values()),
                  "rate": total_sat / total_n if total_n else None},
        "rows": rows,
    }


def _months(day_from: dt.date, day_to: dt.date) -> list[tuple[dt.date, dt.date]]:
    """(first, last) day of every calendar month that meets ``day_from`` … ``day_to``."""
    out = []
    first = day_from.replace(day=1)
    while first <= day_to:
        nxt = (first + dt.timedelta(days=32)).replace(day=1)
        out.append((first, nxt - dt.timedelta(days=1)))
        first = nxt
    return out


def _no_daily_rows(conn: Connection, lo: dt.date, hi: dt.date) -> bool:
    """Whether no daily rollup row lies in ``lo`` … ``hi`` (one index probe)."""
    r = rollup_daily.c
    return conn.execute(select(r.day).where(r.day >= lo.isoformat(), r.day <= hi.isoformat())
                        .limit(1)).first() is None


def plan(conn: Connection, day_from: dt.date, day_to: dt.date
         ) -> tuple[list[str], list[tuple[dt.date, dt.date]]]:
    """(months read from ``rollup_monthly``, day ranges read from ``rollup_daily``) covering
    ``day_from`` … ``day_to`` exactly (days outside the range hold no rows where a month is
    used for a partly covered month)."""
    months, days = [], []
    for first, last in _months(day_from, day_to):
        lo, hi = max(first, day_from), min(last, day_to)
        whole = (lo == first or _no_daily_rows(conn, first, lo - dt.timedelta(days=1))) and \
            (hi == last or _no_daily_rows(conn, hi + dt.timedelta(days=1), last))
        if whole:
            months.append(first.isoformat()[:7])
        elif days and days[-1][1] + dt.timedelta(days=1) == lo:
            days[-1] = (days[-1][0], hi)
        else:
            days.append((lo, hi))
    return months, days


def _rollup_rows(conn: Connection, column: str, day_from: dt.date, day_to: dt.date,
                 unit: str | None, *, by_unit: bool, include_flagged: bool,
                 window: str | None = None):
    """Rows (key, unit_id, not_rated, flagged, rated, satisfied, bad, stars, invited) summed
    over the range, flagged ratings counted in ``flagged`` and, unless ``include_flagged``,
    left out of the rest. Summed in SQL to one row per key (per key × unit with ``by_unit``,
    which the region filter and grouping need; unit_id is None otherwise), not one per level
    and flag as stored: a window ranking fetches and counts 1,000 rows, not 2,000 (8,000
    before the levels were summed in SQL). Whole months come from ``rollup_window_monthly``
    when ``column`` is one it holds, else from ``rollup_monthly``."""
    months, days = plan(conn, day_from, day_to)
    queries = []
    if months:
        m = (rollup_window_monthly if column in WINDOW_MONTH_COLUMNS else rollup_monthly).c
        where = [m.month.in_(months)] if len(months) > 1 else [m.month == months[0]]
        queries.append((m, where))
    for lo, hi in days:
        d = rollup_daily.c
        queries.append((d, [d.day >= lo.isoformat(), d.day <= hi.isoformat()]))
    for r, where in queries:
        key_col = r[column]
        rated = r.level != C.NOT_RATED
        counted = rated if include_flagged else (rated & (r.flagged == 0))
        group = (key_col, r.unit_id) if by_unit else (key_col,)
        q = (select(key_col.label("key"), r.unit_id if by_unit else null(),
                    _sum_when(r.level == C.NOT_RATED, r.count).label("not_rated"),
                    _sum_when(rated & (r.flagged != 0), r.count).label("flagged"),
                    _sum_when(counted, r.count).label("count"),
                    _sum_when(counted & r.level.in_(sorted(SATISFIED)), r.count).label("satisfied"),
                    _sum_when(counted & r.level.in_(sorted(BAD)), r.count).label("bad"),
                    _sum_when(counted, r.stars_sum).label("stars"),
                    _sum_when(counted, r.invited).label("invited"))
             .where(*where).group_by(*group))
        if unit is not None:
            q = q.where(r.unit_id == unit)
        if window is not None:
            q = q.where(r.window_id == window)
        yield from conn.execute(q)


def _sum_when(condition, value):
    return func.sum(case((condition, value), else_=0))


def _names(conn: Connection, group_by: str, region_rows: dict) -> dict:
    if group_by == "region":
        return {k: v["name"] for k, v in region_rows.items()}
    table, key = {"unit": (units, units.c.id), "window": (windows, windows.c.id),
                  "staff": (staff, staff.c.id),
                  "service_item": (service_items, service_items.c.code)}[group_by]
    return dict(conn.execute(select(key, table.c.name)).all())
