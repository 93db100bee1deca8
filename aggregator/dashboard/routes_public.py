"""Public results per unit (no login): rates and volumes of completed months only, never
individual ratings nor the month under way."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import func, select

from .. import stats
from ..constants import MIN_VOLUME
from ..db import read, utcnow
from ..errors import NotFound
from ..schema import rollup_window_monthly, units
from . import assessment_store, pledges
from .periods import Period
from .web import local_today, pick_lang, render

router = APIRouter(prefix="/public", include_in_schema=False)


def _published(total: dict) -> dict:
    """A unit's figures of one month as the public page may show them: the rate and the bad
    count only from ``MIN_VOLUME`` ratings on (``too_few`` says they were withheld)."""
    if total["rated"] >= MIN_VOLUME or not total["rated"]:
        return dict(total, too_few=False)
    return dict(total, rate=None, satisfied=None, bad=None, too_few=True)


def _published_windows(rows: list[dict]) -> list[dict]:
    """Last month's windows as the public page may show them: a rate only from
    ``MIN_VOLUME`` ratings on, and none at all when the windows withheld hold fewer than
    ``MIN_VOLUME`` between them: the unit's month above less the windows shown would give
    theirs (40 ratings at 100 % shown, the unit 41 of 42: one of the other window's two
    citizens was dissatisfied)."""
    withheld = sum(r["rated"] for r in rows if r["rated"] < MIN_VOLUME)
    show = not 0 < withheld < MIN_VOLUME
    return [{"name": r["name"], "rated": r["rated"],
             "rate": r["rate"] if show and r["rated"] >= MIN_VOLUME else None,
             # enough ratings of its own, withheld for the others' sake (the page says so)
             "for_others": not show and r["rated"] >= MIN_VOLUME}
            for r in sorted(rows, key=lambda r: str(r["key"]))]


@router.get("/units")
def public_units(request: Request):
    with read(request.app.state.engine) as conn:
        rows = [dict(r) for r in conn.execute(select(units.c.id, units.c.name)
                                              .order_by(units.c.id)).mappings()]
    return render(request, "public_index.html", None, units=rows, lang=pick_lang(request))


@router.get("/units/{unit_id:path}")  # an older id with "/" comes as %2F
def public_unit(unit_id: str, request: Request):
    today = local_today(request, utcnow())
    prior = request.app.state.settings.smoothing_prior
    with read(request.app.state.engine) as conn:
        unit = conn.execute(select(units).where(units.c.id == unit_id)).mappings().first()
        if unit is None:
            raise NotFound(f"unit {unit_id!r} does not exist")
        # Completed months only: the month under way moved with each rating (382 ratings,
        # 7 bad → 383, 8), so a staff member who reloaded the page after serving someone
        # saw whether that citizen had rated them badly. It is named, without figures.
        month = Period("month", today.year, today.month)
        # The months before the unit's first rating are left out: they read "0 0 —" with an
        # empty bar, as if the hall had been open and no one had rated it.
        first = conn.execute(select(func.min(rollup_window_monthly.c.month))
                             .where(rollup_window_monthly.c.unit_id == unit_id)).scalar()
        months, p = [], month.previous()
        for _ in range(6):
            if first is None or p.key < first:
                months.append({"period": p, "not_started": True, "rated": 0, "rate": None,
                               "bad": None, "too_few": False})
            else:
                total = stats.compute(conn, "unit", p.start, p.end, unit=unit_id,
                                      prior=prior)["total"]
                months.append({"period": p, "not_started": False, **_published(total)})
            p = p.previous()
        last = month.previous()
        win = stats.compute(conn, "window", last.start, last.end, unit=unit_id, prior=prior)
        windows_rows = _published_windows(win["rows"])
        # 践诺 and the newest published assessment (star windows, 流动红旗): totals only.
        fulfilment = pledges.unit_fulfilment(conn, {unit_id})[unit_id]
        pledge_rows = pledges.list_for(conn, {unit_id})
        assessed = assessment_store.latest_published(conn, unit_id)
        frozen = assessment_store.published(conn, assessed, {unit_id}) if assessed else None
        star_windows = frozen["windows"] if frozen else []
    return render(request, "public_unit.html", None, unit=dict(unit), months=months,
                  windows=windows_rows, last=last, pending=month, lang=pick_lang(request),
                  min_volume=MIN_VOLUME, today=today, fulfilment=fulfilment,
                  pledges=pledge_rows, assessed=Period.parse(assessed) if assessed else None,
                  star_windows=star_windows)



