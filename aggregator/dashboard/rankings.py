"""Rankings and bulletins (通报) of units, windows, staff and service items in a user's scope,
from ``stats.compute`` (ordered by the Bayesian-smoothed satisfaction rate, ``score``), with the
change against the previous period."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from .. import stats
from ..constants import MIN_VOLUME
from ..schema import regions, rollup_unit_daily, service_items, staff, units, windows
from . import scope
from .periods import Period

GROUPS = ("unit", "window", "staff", "service_item", "region")


def _in_scope(group_by: str, rows: list[dict], allowed: set[str]) -> list:
    """Belt and braces: drop rows outside the scope even if the source filter missed. A window
    or staff row is judged by the units its ratings were made in (``stats.compute``'s
    ``units``), not by the unit it belongs to today: a window or person moved to another unit
    mid-month vanished from the old unit's ranking (and appeared in the new unit's with no
    figures of its own), so the rows no longer added up to the unit's total."""
    if group_by == "unit":
        return [r for r in rows if r["key"] in allowed]
    if group_by in ("window", "staff"):
        return [r for r in rows if set(r["units"]) <= allowed]
    return rows


def _name_units(conn: Connection, group_by: str, rows: list[dict]) -> None:
    """Window, staff and item names with their unit's when the ranking spans several units:
    every hall has a "民政窗口", and a district's window bulletin listed it four times with
    nothing to tell which hall ranked first."""
    table = {"window": windows, "staff": staff, "service_item": service_items}.get(group_by)
    if table is None or not rows:
        return
    key = table.c.code if group_by == "service_item" else table.c.id
    unit_of = dict(conn.execute(select(key, table.c.unit_id)
                                .where(key.in_([r["key"] for r in rows if r["key"]]))).all())
    # the unit the ratings were made in, where it is one (a window moved since keeps the
    # name of the hall it served then)
    unit_of |= {r["key"]: r["units"][0] for r in rows if len(r.get("units") or ()) == 1}
    if len({unit_of.get(r["key"]) for r in rows} - {None}) < 2:
        return
    unit_name = dict(conn.execute(select(units.c.id, units.c.name)).all())
    for r in rows:
        name = unit_name.get(unit_of.get(r["key"]))
        if name:
            r["name"] = f"{r['name']} · {name}"


def _silent(conn: Connection, group_by: str, rows: list[dict], allowed: set[str],
            narrow: dict) -> list[dict]:
    """Rows for the units or windows in scope without a rating in the period, last: a unit
    whose kiosks were dead, or whose results were frozen, was simply missing from the ranking
    and the bulletin."""
    if group_by not in ("unit", "window"):
        return []
    wanted = set(allowed)
    if "unit" in narrow:
        wanted &= {narrow["unit"]}
    elif "region" in narrow:
        tree = scope.region_subtree(conn, narrow["region"])
        wanted &= set(conn.execute(select(units.c.id).where(units.c.region_id.in_(tree)))
                      .scalars())
    table = units if group_by == "unit" else windows
    q = select(table.c.id, table.c.name, *([] if group_by == "unit" else [table.c.unit_id]))
    q = q.where((table.c.id if group_by == "unit" else table.c.unit_id).in_(sorted(wanted)))
    if narrow.get("window"):
        q = q.where(table.c.id == narrow["window"])
    seen = {r["key"] for r in rows}
    out = []
    for found in conn.execute(q.order_by(table.c.id)).all():
        if found.id in seen:
            continue
        row = {"key": found.id, "name": found.name, "rate": None, "mean": None,
               "smoothed": None, "score": None, "response_rate": None, "no_ratings": True,
               **dict.fromkeys(("rated", "satisfied", "bad", "stars_sum", "flagged",
                                "not_rated", "invited"), 0)}
        if group_by == "window":
            row["units"] = [found.unit_id]
        out.append(row)
    return out


def ranking(conn: Connection, user: dict, group_by: str, period: Period, *, prior: float,
            target: float, include_flagged: bool = False, region: str | None = None,
            unit: str | None = None, none_name: str = "(none)",
            window: str | None = None) -> dict:
    """The ranking of ``group_by`` in ``period`` for ``user``; rows get ``rank`` (None for a
    row that is not ``ranked``), ``below_target``, ``too_few``, ``prev_rate``, ``rate_change``
    and ``prev_rank`` (among the previous period's ranked rows). ``none_name``: the row of
    ratings without a service item or staff member, in the page's language. ``window``: only
    the ratings made at that window, e.g. its staff as a window page lists them (a person's
    figures at every window of the unit were shown as the window's), in ``unit`` or, without
    it, in every unit of the user's scope (a window moved to another unit).

    A row takes a place only from ``MIN_VOLUME`` counted ratings on (``too_few`` below that):
    windows of 10 ratings, all 5★, ranked above windows of 700, and a unit of 9 ratings was
    6th. Rows equal on the sort key share a place (1, 1, 3)."""
    if group_by not in GROUPS:
        group_by = "unit"
    allowed = scope.allowed_units(conn, user)
    narrow = scope.stats_filter(user)
    if unit:
        scope.check_unit(conn, user, unit)
        narrow = {"unit": unit}
    elif region:
        regions_ok = scope.allowed_regions(conn, user)
        if regions_ok is not None and region not in regions_ok:
            from ..errors import Forbidden
            raise Forbidden(f"region {region!r} is outside your scope")
        narrow = {"region": region}
    if window:
        narrow["window"] = window
    if group_by == "region" and "unit" in narrow:
        group_by = "unit"
    with_units = group_by in ("window", "staff")

    def takes_place(row: dict) -> bool:
        return stats.ranked(row, MIN_VOLUME)

    common = dict(prior=prior, include_flagged=include_flagged, with_units=with_units,
                  min_volume=MIN_VOLUME, **narrow)
    now = stats.compute(conn, group_by, period.start, period.end, **common)
    prev_period = period.previous()
    before = stats.compute(conn, group_by, prev_period.start, prev_period.end, **common)
    # the previous rank among the rows this user sees, as this period's rank is
    before_rows = {r["key"]: r for r in _in_scope(group_by, before["rows"], allowed)}
    stats.place(list(before_rows.values()), takes_place)
    rows = _in_scope(group_by, now["rows"], allowed)
    rows += _silent(conn, group_by, rows, allowed, narrow)
    # The rows without a place last, rank None: those of fewer than MIN_VOLUME ratings, then
    # "（未登记）" (it has ratings), then the rows without any; they are listed, never ranked,
    # held to the target or counted in "达标 x / y".
    placed = [r for r in rows if takes_place(r)]
    rows = placed + sorted((r for r in rows if not takes_place(r)),
                           key=lambda r: (not r["rated"], r["key"] is None))
    stats.place(rows, takes_place)
    _name_units(conn, group_by, rows)
    for r in rows:
        if r["key"] is None:
            r["name"] = none_name
        p = before_rows.get(r["key"])
        r["prev_rate"] = p["rate"] if p else None
        r["prev_rank"] = p["rank"] if p else None
        r["rate_change"] = (round(r["rate"] - p["rate"], 6)
                            if p and p["rate"] is not None and r["rate"] is not None else None)
        # The change of the two rates as shown (cut to 2 places of their percentage), as the
        # CSV and XLSX hold it (``exports.shown_shares``); the page wrote the exact change to
        # one place ("-0.2" beside "-0.24%" in the file). Cut on the counts, in integers: the
        # same figures as ``exports.cut_share`` at a thousandth of its cost per row.
        r["change_shown"] = (round((r["satisfied"] * 10_000 // r["rated"]
                                    - p["satisfied"] * 10_000 // p["rated"]) / 10_000, 4)
                             if r["rate_change"] is not None else None)
        # on the exact counts: the rate rounded to 6 places met a target it missed
        r["below_target"] = takes_place(r) and stats.below(r["satisfied"], r["rated"], target)
        r["too_few"] = r["key"] is not None and 0 < r["rated"] < MIN_VOLUME
    total = dict(now["total"])
    total["prev_rate"] = before["total"]["rate"]
    return {"group_by": group_by, "period": period, "previous": prev_period, "rows": rows,
            "total": total, "target": target, "global_mean": now["global_mean"],
            "global_rate": now["global_rate"],
            "prior_weight": prior, "include_flagged": include_flagged,
            # the filter the ranking was asked for (a page's links and files carry it)
            "region": None if unit else region, "unit": unit,
            "filter_name": _filter_name(conn, region, unit), "min_volume": MIN_VOLUME,
            "meeting_target": sum(1 for r in rows if r["rank"] and not r["below_target"]),
            # the ranked rows: "达标 x / y" counts among them; the rest are listed
            "rated_rows": sum(1 for r in rows if r["rank"])}


def _filter_name(conn: Connection, region: str | None, unit: str | None) -> str | None:
    """The name of the unit or region a ranking was narrowed to (None: the user's scope)."""
    if unit:
        return conn.execute(select(units.c.name).where(units.c.id == unit)).scalar() or unit
    if region:
        return conn.execute(select(regions.c.name).where(regions.c.id == region)).scalar() \
            or region
    return None


def window_units(conn: Connection, user: dict, window: dict, period: Period) -> list[str]:
    """The units of ``user``'s scope where ``window`` (its ``windows`` row) has ratings in
    ``period`` (flagged or not): the units its page counts. A window moved to another unit
    keeps its ratings in the unit they were made in, and the old unit's ranking lists and
    links it."""
    allowed = scope.allowed_units(conn, user)
    narrow = {**scope.stats_filter(user), "window": window["id"]}
    found = stats.compute(conn, "window", period.start, period.end, with_units=True,
                          include_flagged=True, **narrow)
    return sorted({u for r in found["rows"] for u in r["units"]} & allowed, key=str)


def daily_trend(conn: Connection, allowed: set[str], day_from: dt.date, day_to: dt.date,
                include_flagged: bool = False, unit_ids: set[str] | None = None) -> list[dict]:
    """Per day: rated, satisfied, bad, for the allowed units, from ``rollup_unit_daily`` (one
    row per day × unit × level × flagged, whatever the number of windows, staff and items)."""
    from .. import constants as C

    r = rollup_unit_daily.c
    units_in = sorted(allowed if unit_ids is None else allowed & unit_ids)
    q = (select(r.day, r.level, func.sum(r.count))
         .where(r.day >= day_from.isoformat(), r.day <= day_to.isoformat(),
                r.unit_id.in_(units_in), r.level != C.NOT_RATED)
         .group_by(r.day, r.level))
    if not include_flagged:
        q = q.where(r.flagged == 0)
    days: dict = {}
    for day, level, n in conn.execute(q).all():
        d = days.setdefault(day, {"day": day, "rated": 0, "satisfied": 0, "bad": 0})
        d["rated"] += int(n)
        d["satisfied"] += int(n) if C.STARS[level] >= C.SATISFIED_STARS else 0
        d["bad"] += int(n) if C.STARS[level] <= C.BAD_STARS else 0
    out, day = [], day_from
    while day <= day_to:
        d = days.get(day.isoformat(), {"day": day.isoformat(), "rated": 0, "satisfied": 0,
                                       "bad": 0})
        d["rate"] = d["satisfied"] / d["rated"] if d["rated"] else None
        out.append(d)
        day += dt.timedelta(days=1)
    return out
