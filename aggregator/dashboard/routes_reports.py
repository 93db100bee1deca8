"""Overview, rankings and bulletins (with XLSX/CSV export and a print page), drill-down."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import select

from ..db import read
from ..errors import Forbidden, NotFound
from ..schema import regions, units, windows
from . import charts, drill, export_scope, exports, overview, rankings, scope
from .periods import Period, recent
from .web import PREFIX, Ctx, current, render

router = APIRouter(prefix=PREFIX, include_in_schema=False)
WEEKDAYS = {"zh_CN": ["周一", "周二", "周三", "周四", "周五", "周六", "周日"],
            "en": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]}


def _period(request: Request, ctx: Ctx) -> Period:
    return Period.parse(request.query_params.get("period"), ctx.today)


def _flagged(request: Request) -> bool:
    return request.query_params.get("include_flagged") in ("1", "true", "on")


def _report(request: Request, ctx: Ctx, conn, group_by: str | None = None) -> dict:
    app_settings = request.app.state.settings
    q = request.query_params
    return rankings.ranking(
        conn, ctx.user, group_by or q.get("group", "unit"), _period(request, ctx),
        prior=app_settings.smoothing_prior, target=ctx.settings.target_rate,
        include_flagged=_flagged(request), region=q.get("region") or None,
        unit=q.get("unit") or None, none_name=ctx.t("none_recorded"))


@router.get("/")
def overview_page(request: Request, ctx: Ctx = Depends(current)):
    period = _period(request, ctx)
    with read(request.app.state.engine) as conn:
        data = overview.build(conn, ctx.user, ctx.allowed, period, ctx.today, ctx.now,
                              prior=request.app.state.settings.smoothing_prior,
                              target=ctx.settings.target_rate,
                              silent_hours=request.app.state.settings.silent_hours,
                              include_flagged=_flagged(request))
    t = ctx.t
    chart = charts.trend(data["trend"], ctx.settings.target_rate,
                         labels={"rate": t("rate"), "volume": t("rated"), "target": t("target")})
    return render(request, "overview.html", ctx, data=data, chart=chart, period=period,
                  periods=recent(ctx.today), nav="overview")


@router.get("/rankings")
def rankings_page(request: Request, ctx: Ctx = Depends(current)):
    printing = bool(request.query_params.get("print"))
    with read(request.app.state.engine) as conn:
        report = _report(request, ctx, conn)
        # the per-rating export form's picker: the regions and units of the user's scope
        picker = None if printing else export_scope.choices(conn, ctx.user, ctx.allowed)
    template = "bulletin.html" if printing else "rankings.html"
    return render(request, template, ctx, report=report, periods=recent(ctx.today),
                  nav="rankings", export_choices=picker)


@router.get("/rankings.{fmt}")
def rankings_export(fmt: str, request: Request, ctx: Ctx = Depends(current)):
    if fmt not in ("xlsx", "csv"):
        raise NotFound(f"no export format {fmt!r}; use xlsx or csv")
    with read(request.app.state.engine) as conn:
        report = _report(request, ctx, conn)
    t = ctx.t
    name = f"ranking-{report['group_by']}-{report['period'].key}.{fmt}"
    title = t("bulletin_heading", period=report["period"].label(ctx.lang),
              group=t("group_" + report["group_by"]))
    if fmt == "csv":
        body, kind = exports.to_csv(report, t), "text/csv; charset=utf-8"
    else:
        body = exports.to_xlsx(report, t, title)
        kind = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return Response(body, media_type=kind,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/api/rankings")
def rankings_json(request: Request, ctx: Ctx = Depends(current)):
    with read(request.app.state.engine) as conn:
        report = _report(request, ctx, conn)
    report["period"] = report["period"].key
    report["previous"] = report["previous"].key
    return report


@router.get("/regions/{region_id:path}")
def region_page(region_id: str, request: Request, ctx: Ctx = Depends(current)):
    with read(request.app.state.engine) as conn:
        region = conn.execute(select(regions).where(regions.c.id == region_id)).mappings().first()
        if region is None:
            raise NotFound(f"region {region_id!r} does not exist")
        ok = scope.allowed_regions(conn, ctx.user)
        if ok is not None and region_id not in ok:
            raise Forbidden(f"region {region_id!r} is outside your scope")
        period = _period(request, ctx)
        common = dict(prior=request.app.state.settings.smoothing_prior,
                      target=ctx.settings.target_rate, include_flagged=_flagged(request))
        subregions = rankings.ranking(conn, ctx.user, "region", period, region=region_id,
                                      **common)
        unit_report = rankings.ranking(conn, ctx.user, "unit", period, region=region_id,
                                       **common)
    return render(request, "region.html", ctx, region=dict(region), sub=subregions,
                  report=unit_report, period=period, periods=recent(ctx.today), nav="rankings")


def _unit_data(request: Request, ctx: Ctx, conn, unit_id: str, window_id: str | None = None,
               rated_in: list[str] | None = None):
    """A unit page's figures, or (``window_id``) a window page's under ``unit_id``.
    ``rated_in``: the units of the user's scope the window's ratings of the period were made
    in, when more than one (a window moved to another unit mid-month): its row is then the
    one of the user's window ranking, and its staff, items and drill-down count its ratings
    in all of them."""
    period = _period(request, ctx)
    unit = conn.execute(select(units).where(units.c.id == unit_id)).mappings().first()
    common = dict(prior=request.app.state.settings.smoothing_prior,
                  target=ctx.settings.target_rate, include_flagged=_flagged(request),
                  none_name=ctx.t("none_recorded"))
    several = window_id is not None and len(rated_in or ()) > 1
    # the unit's windows, or the window's row in the user's own ranking of windows
    win_report = rankings.ranking(conn, ctx.user, "window", period,
                                  unit=None if several else unit_id, **common)
    # A window page's staff and items count the ratings made at that window: it showed a
    # person's figures at every window of the unit, and no one who had moved away since.
    staff_report = rankings.ranking(conn, ctx.user, "staff", period,
                                    unit=None if several else unit_id, window=window_id,
                                    **common)
    item_report = rankings.ranking(conn, ctx.user, "service_item", period,
                                   unit=None if several else unit_id, window=window_id,
                                   **common)
    if window_id:
        win_report["rows"] = [r for r in win_report["rows"] if r["key"] == window_id]
    found = drill.patterns(conn, rated_in if several else unit_id, period.start,
                           min(period.end, ctx.today),
                           tz_hours=request.app.state.settings.timezone_offset_hours,
                           window_id=window_id, include_flagged=_flagged(request))
    # The breadcrumb names the unit's region, and links it only for those who may open it
    # (a unit manager got a link to a 403 page, labelled with the region's id).
    region = conn.execute(select(regions.c.id, regions.c.name)
                          .where(regions.c.id == unit["region_id"])).mappings().first()
    visible = scope.allowed_regions(conn, ctx.user)
    region = dict(region, linked=visible is None or region["id"] in visible) if region else None
    # What each table's places are ranked among, named on the page: W-001 read "名次 3" (in
    # its unit) on the window page opened from the district ranking that put it 11th.
    t = ctx.t
    places = {"windows": t("rank_in_scope") if several else t("rank_in_unit"),
              "staff": t("rank_at_window") if window_id else t("rank_in_unit"),
              "items": t("rank_at_window") if window_id else t("rank_in_unit")}
    return dict(unit=dict(unit), region=region, period=period, windows_report=win_report,
                staff_report=staff_report, items_report=item_report, patterns=found,
                place_labels=places)


@router.get("/units/{unit_id:path}")
def unit_page(unit_id: str, request: Request, ctx: Ctx = Depends(current)):
    with read(request.app.state.engine) as conn:
        scope.check_unit(conn, ctx.user, unit_id)
        data = _unit_data(request, ctx, conn, unit_id)
    return _render_unit(request, ctx, data, None)


# ``:path`` (and in the region and unit routes): an id with a "/" (allowed before ids were
# checked) comes encoded (%2F) in the link, and the server decodes it before routing; a plain
# parameter stopped at that "/" (404). As on the phone page (``qr_page.rate_page``).
@router.get("/windows/{window_id:path}")
def window_page(window_id: str, request: Request, ctx: Ctx = Depends(current)):
    """A window's figures of the period: its ratings in the units the user may see, where
    they were made. The page read the window's unit today: after W-001 moved from U-01 to
    U-02 its November page showed the 32 ratings made in U-02 (the ranking it was opened
    from, 721), its October page none (668 made in U-01), and the old unit's manager, whose
    ranking linked it, got a 403."""
    with read(request.app.state.engine) as conn:
        window = conn.execute(select(windows).where(windows.c.id == window_id)) \
            .mappings().first()
        if window is None:
            raise NotFound(f"window {window_id!r} does not exist")
        period = _period(request, ctx)
        rated_in = rankings.window_units(conn, ctx.user, window, period)
        mine = window["unit_id"] in ctx.allowed
        if not rated_in and not mine:
            raise Forbidden(f"window {window_id!r} is outside your scope")
        # the page sits under its unit today if the user may see it, else under the unit
        # its ratings were made in
        home = window["unit_id"] if mine and (window["unit_id"] in rated_in
                                              or len(rated_in) != 1) else rated_in[0]
        data = _unit_data(request, ctx, conn, home, window_id, rated_in)
        if rated_in and rated_in != [window["unit_id"]]:
            names = dict(conn.execute(select(units.c.id, units.c.name)
                                      .where(units.c.id.in_(rated_in))).all())
            data["rated_in"] = [{"id": u, "name": names.get(u, u)} for u in rated_in]
    return _render_unit(request, ctx, data, dict(window))


def _render_unit(request: Request, ctx: Ctx, data: dict, window: dict | None):
    reason_names = ctx.t.reason_names
    grid = data["patterns"]["grid"]
    # Office hours Monday to Saturday, widened to every hour and day that has ratings: a hall
    # open on Sundays or in the evening had those ratings left out of the chart.
    hours = [h for _, h in grid] + [8, 18]
    days = 7 if any(day == 6 for day, _ in grid) else 6
    heat = charts.heatmap(grid, range(min(hours), max(hours) + 1), WEEKDAYS[ctx.lang][:days])
    reasons = charts.hbars([(reason_names.get(k, k), n) for k, n in data["patterns"]["reasons"]])
    return render(request, "unit.html", ctx, **data, window=window, heat=heat,
                  reasons_chart=reasons, periods=recent(ctx.today), nav="rankings")


@router.get("/api/units/{unit_id:path}")
def unit_json(unit_id: str, request: Request, ctx: Ctx = Depends(current)):
    with read(request.app.state.engine) as conn:
        scope.check_unit(conn, ctx.user, unit_id)
        data = _unit_data(request, ctx, conn, unit_id)
    return {"unit": data["unit"], "period": data["period"].key,
            "windows": data["windows_report"]["rows"], "staff": data["staff_report"]["rows"],
            "service_items": data["items_report"]["rows"],
            "reasons": dict(data["patterns"]["reasons"]), "levels": data["patterns"]["levels"]}


