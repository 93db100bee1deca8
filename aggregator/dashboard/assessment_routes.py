"""The assessment pages (量化考核): the unit's assessment table with leader comments and
publishing, the XLSX export, the settings; for staff accounts only the peer-review form of
their own unit and their own results; pledges (践诺).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy import select

from ..constants import MIN_VOLUME  # the privacy minimum of the public page, for staff too
from ..db import read, write
from ..errors import BadRequest, Forbidden
from ..schema import units, windows
from . import (
    accounts,
    assessment_config,
    assessment_publish,
    assessment_store,
    audit,
    exports,
    pledges,
    scope,
)
from .periods import Period
from .web import PREFIX, TEMPLATES, Ctx, RowId, current, posted, redirect, render

router = APIRouter(prefix=PREFIX, include_in_schema=False)
HOME = PREFIX + "/assessment"
TEMPLATES.filters.setdefault("fmt1", lambda v: "—" if v is None else f"{v:.1f}")
TEMPLATES.filters.setdefault("part_name", lambda key, t: t("part_" + key))
# a threshold as set (62.5 read "62"), a weight's share of the sum as a percentage
TEMPLATES.filters.setdefault("num_g", lambda v: f"{v:g}")
TEMPLATES.filters.setdefault("share", lambda v: f"{round(v * 100, 1):g}%")


def _periods(ctx: Ctx, n: int = 12, ended: bool = False) -> list[Period]:
    """The picker's months, newest first: from this month, or (``ended``) from the last
    completed one."""
    out, p = [], Period("month", ctx.today.year, ctx.today.month)
    if ended:
        p = p.previous()
    for _ in range(n):
        out.append(p)
        p = p.previous()
    return out


def _period(request: Request, ctx: Ctx) -> Period:
    value = request.query_params.get("period")
    if not value:
        return Period("month", ctx.today.year, ctx.today.month).previous()
    return _month(value, ctx)


def _month(value: str | None, ctx: Ctx) -> Period:
    """A period of a form or link of the assessment: a month (``Period.parse`` also takes a
    quarter, which the rest of the dashboard reports on; the assessment does not)."""
    return assessment_store.check_month(Period.parse(value, ctx.today))


def _units(ctx: Ctx, conn, unit: str | None) -> set[str]:
    if unit:
        scope.check_unit(conn, ctx.user, unit)
        return {unit}
    return set(ctx.allowed)


def _staff_member(conn, ctx: Ctx) -> dict:
    """The staff row of a staff account (its unit is the user's unit)."""
    if ctx.role != "staff":
        raise Forbidden("only staff accounts review colleagues")
    member = assessment_store.staff_row(conn, ctx.user.get("staff_id") or "")
    if member is None or member["unit_id"] != ctx.user["unit_id"] or not member["active"]:
        # the staff member left the post, and the account still signs in
        raise Forbidden("your account is not linked to an active staff member of your unit",
                        detail_args={"msg": "staff_not_linked"})
    return member


def _table(request: Request, ctx: Ctx, conn, period: Period, unit: str | None) -> dict:
    scope.require_role(ctx.user, "viewer")
    unit_ids = _units(ctx, conn, unit)
    settings = assessment_config.load(conn)
    prior = request.app.state.settings.smoothing_prior
    frozen = assessment_store.published(conn, period.key, unit_ids)
    live = assessment_store.compute(conn, period, unit_ids, settings, prior)
    if frozen:  # published units show their frozen results, the others the live ones,
        # The award of a unit (or region) with published results is the published one: a
        # live row's provisional flag, reckoned with the published units' live rows, put
        # a second red flag in the region.
        group = "unit_id" if settings.award_scope == "unit" else "region_id"
        decided = {r[group] for r in frozen["windows"]}
        for r in live["windows"]:
            if r[group] in decided:
                r["award"] = False
        for kind in ("staff", "windows"):   # ranked together
            live[kind] = sorted(frozen[kind] + [r for r in live[kind]
                                                if r["unit_id"] not in frozen["units"]],
                                key=assessment_store.rank_key)
    return {"period": period, "settings": settings, "units": sorted(unit_ids),
            "published_units": sorted(frozen["units"]) if frozen else [],
            "staff_rows": live["staff"], "window_rows": live["windows"]}


def _assessment_page(request: Request, ctx: Ctx, period: Period, unit: str | None,
                     status: int = 200, refusal: Exception | None = None):
    """The unit's assessment table; after a refused form, with the refusal's own words."""
    with read(request.app.state.engine) as conn:
        data = _table(request, ctx, conn, period, unit)
        data["comments"] = assessment_store.comments(conn, set(data["units"]),
                                                     data["period"].key)
        data["fulfilment"] = pledges.unit_fulfilment(conn, set(data["units"]))
        data["open"] = data["period"].key in {p.key for p in
                                              assessment_store.open_periods(ctx.today)}
        # the unit picker names the units (it listed "U-01" …)
        unit_names = dict(conn.execute(select(units.c.id, units.c.name)
                                       .where(units.c.id.in_(sorted(ctx.allowed)))).all())
    mine = {(c["target_kind"], c["target_id"]): c for c in data["comments"]
            if c["author_id"] == ctx.user["id"]}
    # the comment list names whom a comment is about (it showed "S-002", "W-001")
    targets = {(kind, r["id"]): r for kind, rows in (("window", data["window_rows"]),
                                                     ("staff", data["staff_rows"]))
               for r in rows}
    return render(request, "assessment.html", ctx, status=status, **data, mine=mine,
                  targets=targets, unit_names=unit_names,
                  periods=_periods(ctx), nav="assessment", ended=ctx.today > period.end,
                  saved=request.query_params.get("saved"), refusal=refusal)


@router.get("/assessment")
def assessment_page(request: Request, ctx: Ctx = Depends(current)):
    if ctx.role == "staff":
        return redirect(f"{HOME}/me")
    return _assessment_page(request, ctx, _period(request, ctx),
                            request.query_params.get("unit"))


@router.get("/assessment.xlsx")
def assessment_export(request: Request, ctx: Ctx = Depends(current)):
    with read(request.app.state.engine) as conn:
        data = _table(request, ctx, conn, _period(request, ctx),
                      request.query_params.get("unit"))
    t = ctx.t
    title = f"{data['period'].label(ctx.lang)} {t('assessment_title')}"
    body = exports.assessment_xlsx(data, t, title, ctx.lang)
    return Response(body, media_type="application/vnd.openxmlformats-officedocument."
                    "spreadsheetml.sheet", headers={
                        "Content-Disposition":
                            f'attachment; filename="assessment-{data["period"].key}.xlsx"'})


@router.post("/assessment/comments")
def save_comment(request: Request, ctx: Ctx = Depends(posted), period: str = Form(...),
                 kind: str = Form(...), target_id: str = Form(...), score: float = Form(...),
                 comment: str = Form(...)):
    scope.require_role(ctx.user, "unit_manager")
    p = _month(period, ctx)
    try:
        with write(request.app.state.engine) as conn:
            before = assessment_store.save_comment(conn, p, ctx.user, kind, target_id, score,
                                                   comment, ctx.allowed, ctx.now, ctx.today)
            # the text too, and what it replaced: a comment saved again was gone from the
            # record (only the new score was kept)
            audit.record(conn, ctx.user, "leader_comment", ctx.now,
                         target=f"{kind}:{target_id}", detail={
                             "period": p.key, "score": score, "comment": comment.strip(),
                             "before": before}, ip=ctx.ip)
    except assessment_store.Refused as exc:
        return _assessment_page(request, ctx, p, None, exc.status, exc)
    return redirect(f"{HOME}?period={p.key}&saved=comment#{kind}-{target_id}")


@router.post("/assessment/publish")
def publish(request: Request, ctx: Ctx = Depends(posted), period: str = Form(...),
            unit: str = Form("")):
    return _publishing(request, ctx, period, unit, "publish")


@router.post("/assessment/unpublish")
def unpublish(request: Request, ctx: Ctx = Depends(posted), period: str = Form(...),
              unit: str = Form("")):
    """Take a published period back (撤回发布), e.g. the wrong unit, or published before the
    leaders had commented; audited like publishing."""
    return _publishing(request, ctx, period, unit, "unpublish")


def _publishing(request: Request, ctx: Ctx, period: str, unit: str, action: str):
    scope.require_role(ctx.user, "supervisor")
    p = _month(period, ctx)
    try:
        with write(request.app.state.engine) as conn:
            if unit:
                scope.check_unit(conn, ctx.user, unit)
            unit_ids = {unit} if unit else set(ctx.allowed)
            settings = assessment_config.load(conn)
            if action == "publish":   # the units not published yet (a published one stands)
                fresh = unit_ids - assessment_store.published_units(conn, p.key, unit_ids)
                n = assessment_publish.publish(
                    conn, p, unit_ids, ctx.user, settings,
                    request.app.state.settings.smoothing_prior, ctx.now, ctx.today)
                detail = {"units": sorted(fresh), "rows": n}
            else:
                n = assessment_publish.unpublish(conn, p, unit_ids, settings)
                detail = {"units": sorted(unit_ids), "unpublished": n}
            audit.record(conn, ctx.user, f"{action}_assessment", ctx.now, target=p.key,
                         detail=detail, ip=ctx.ip)
    except assessment_store.Refused as exc:
        return _assessment_page(request, ctx, p, unit or None, exc.status, exc)
    return redirect(f"{HOME}?period={p.key}&saved={action}ed" + (f"&unit={unit}" if unit else ""))


@router.post("/assessment/accounts")
def create_staff_account(request: Request, ctx: Ctx = Depends(posted),
                         staff_id: str = Form(...), username: str = Form(...),
                         password: str = Form(...)):
    """A unit manager gives a staff member of their unit a dashboard account (role staff).

    The manager chose its password, so the staff member must change it at the first sign-in:
    until then the account opens nothing else (no peer review in the staff member's name)."""
    scope.require_role(ctx.user, "unit_manager")
    with write(request.app.state.engine) as conn:
        assessment_store.check_staff_scope(conn, ctx.allowed, staff_id)
        user = accounts.create_user(conn, username, password, "staff", staff_id=staff_id,
                                    now=ctx.now, must_change_password=True)
        audit.record(conn, ctx.user, "create_staff_account", ctx.now, target=staff_id,
                     detail={"username": user["username"]}, ip=ctx.ip)
    return redirect(f"{HOME}/settings?saved=account")


@router.get("/assessment/settings")
def settings_page(request: Request, ctx: Ctx = Depends(current)):
    scope.require_role(ctx.user, "unit_manager")
    with read(request.app.state.engine) as conn:
        s = assessment_config.load(conn)
        staff_rows = [r for u in sorted(ctx.allowed) for r in assessment_store.colleagues(conn, u)]
    return render(request, "assessment_settings.html", ctx, s=s, help=assessment_config.help_for(ctx.lang),
                  staff_rows=staff_rows, nav="assessment",
                  saved=request.query_params.get("saved"))


@router.post("/assessment/settings")
def save_settings(request: Request, ctx: Ctx = Depends(posted), w_citizens: float = Form(...),
                  w_peers: float = Form(...), w_leaders: float = Form(...),
                  thresholds: str = Form(...), criteria: str = Form(...),
                  min_reviewers: int = Form(3), award_scope: str = Form("unit"),
                  award_min_ratings: int = Form(30)):
    scope.require_role(ctx.user, "admin")
    crit = []
    for line in criteria.splitlines():
        parts = [x.strip() for x in line.split("|")]
        if parts and parts[0]:
            crit.append({"code": parts[0], "zh": parts[1] if len(parts) > 1 else parts[0],
                         "en": parts[2] if len(parts) > 2 else parts[0]})
    try:
        cuts = [float(x) for x in thresholds.replace(",", " ").split()]
    except ValueError:
        raise BadRequest(f"thresholds must be numbers, got {thresholds!r:.60}",
                         field="thresholds", detail_args={
                             "msg": "thresholds", "field": "thresholds", "value": thresholds}
                         ) from None
    s = assessment_config.AssessmentSettings.from_dict({
        "weights": {"citizens": w_citizens, "peers": w_peers, "leaders": w_leaders},
        "thresholds": cuts, "criteria": crit, "min_reviewers": min_reviewers,
        "award_scope": award_scope, "award_min_ratings": award_min_ratings})
    with write(request.app.state.engine) as conn:
        assessment_config.save(conn, s)
        audit.record(conn, ctx.user, "assessment_settings", ctx.now, detail=vars(s), ip=ctx.ip)
    return redirect(f"{HOME}/settings?saved=settings")


# ---- staff: peer review and own results ---------------------------------------------------

@router.get("/assessment/review")
def review_page(request: Request, ctx: Ctx = Depends(current)):
    return _review_page(request, ctx, _period(request, ctx))


def _review_page(request: Request, ctx: Ctx, period: Period, status: int = 200,
                 refusal: Exception | None = None):
    """The peer-review form of the staff member's unit; after a refused review, with the
    refusal's own words."""
    with read(request.app.state.engine) as conn:
        me = _staff_member(conn, ctx)
        settings = assessment_config.load(conn)
        people = assessment_store.colleagues(conn, me["unit_id"])
        done = assessment_store.reviewed_by(conn, period.key, me["id"])
        closed = assessment_store.is_published(conn, period.key, me["unit_id"]) or \
            period.key not in {p.key for p in assessment_store.open_periods(ctx.today)}
    others = [p for p in people if p["id"] != me["id"]]
    myself = next((p for p in people if p["id"] == me["id"]), None)
    return render(request, "assessment_review.html", ctx, status=status, period=period, me=me,
                  others=others, myself=myself, done=done, closed=closed,
                  criteria=settings.criteria, periods=assessment_store.open_periods(ctx.today),
                  nav="peer_review", saved=request.query_params.get("saved"),
                  refusal=refusal)


@router.post("/assessment/review")
async def submit_review(request: Request, ctx: Ctx = Depends(posted)):
    form = await request.form()
    period = _month(str(form.get("period") or ""), ctx)
    reviewee = str(form.get("reviewee_id") or "")

    def run():
        try:
            with write(request.app.state.engine) as conn:
                me = _staff_member(conn, ctx)
                settings = assessment_config.load(conn)
                scores = {c["code"]: form.get(f"score_{c['code']}") for c in settings.criteria}
                assessment_store.submit_review(conn, period, me, reviewee, scores, settings,
                                               ctx.now, ctx.today)
                # No target: the audit log must not tell whom a reviewer reviewed.
                audit.record(conn, ctx.user, "peer_review", ctx.now,
                             detail={"period": period.key}, ip=ctx.ip)
        except assessment_store.Refused as exc:
            return _review_page(request, ctx, period, exc.status, exc)
        return redirect(f"{HOME}/review?period={period.key}&saved=1")

    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(run)


@router.get("/assessment/me")
def my_results(request: Request, ctx: Ctx = Depends(current)):
    period = _period(request, ctx)
    if period.end >= ctx.today:
        # Why: the month under way moved with every rating (the count +1 and the score with
        # it), so reloading the page after each citizen told the staff member that
        # citizen's choice; staff never see single ratings (as the public page: ended months).
        raise BadRequest(f"period {period.key} has not ended; your results of it are shown "
                         f"after {period.end.isoformat()}", field="period", detail_args={
                             "msg": "results_not_ended", "period": period.key,
                             "end": period.end.isoformat()})
    with read(request.app.state.engine) as conn:
        me = _staff_member(conn, ctx)
        settings = assessment_config.load(conn)
        unit_ids = {me["unit_id"]}
        mine, published = assessment_store.own_result(
            conn, period, me, settings, request.app.state.settings.smoothing_prior)
        # The month before this one takes reviews until the unit publishes it: while it
        # does, each new review moved the averages (and the composite they enter), and
        # the difference was that colleague's review.
        reviews_open = not published and period.key in {
            p.key for p in assessment_store.open_periods(ctx.today)}
        peer = {} if reviews_open else assessment_store.peer_parts(
            conn, period.key, unit_ids, settings).get(me["id"], {})
        own = assessment_store.peer_parts(conn, period.key, unit_ids, settings,
                                          self_review=True).get(me["id"], {})
        targets = [("staff", me["id"])] + ([("window", me["window_id"])]
                                           if me["window_id"] else [])
        notes = assessment_store.comments(conn, unit_ids, period.key, targets)
        window_name = conn.execute(select(windows.c.name).where(
            windows.c.id == me["window_id"])).scalar() if me["window_id"] else None
    return render(request, "assessment_me.html", ctx, period=period, me=me,
                  mine=_as_staff_sees(mine, reviews_open), peer=peer, own=own, notes=notes,
                  settings=settings, published=published, window_name=window_name,
                  periods=_periods(ctx, 6, ended=True), nav="my_results",
                  min_volume=MIN_VOLUME, reviews_open=reviews_open)


def _as_staff_sees(row: dict | None, reviews_open: bool = False) -> dict | None:
    """A staff member's own row as their page shows it: under ``MIN_VOLUME`` citizens'
    ratings not the citizens' part, and while colleagues may still review (``reviews_open``)
    not the peer part; then neither the composite they enter, nor its star level or the
    weights used (each would tell what the one or two citizens, or the last reviewer,
    chose; staff never see single ratings)."""
    if row is None:
        return row
    out = dict(row)
    if 0 < row["rated"] < MIN_VOLUME:
        out.update(citizens=None, citizens_withheld=True)
    if reviews_open:
        out.update(peers=None, reviewers=None, by_criterion={}, peers_withheld=True)
    if out.get("citizens_withheld") or out.get("peers_withheld"):
        out.update(composite=None, stars=None, weights_used={}, missing=[],
                   renormalised=False)
    return out


# ---- pledges -----------------------------------------------------------------------------

@router.get("/pledges")
def pledges_page(request: Request, ctx: Ctx = Depends(current)):
    scope.require_role(ctx.user, "viewer")
    with read(request.app.state.engine) as conn:
        rows = pledges.list_for(conn, ctx.allowed)
        rates = pledges.unit_fulfilment(conn, ctx.allowed)
        people = [r for u in sorted(ctx.allowed) for r in assessment_store.colleagues(conn, u)]
        wins = [dict(r) for r in conn.execute(select(windows.c.id, windows.c.name,
                                                     windows.c.unit_id).where(
            windows.c.unit_id.in_(sorted(ctx.allowed))).order_by(windows.c.id)).mappings()]
    return render(request, "pledges.html", ctx, pledges=rows, rates=rates, people=people,
                  windows=wins, statuses=pledges.STATUSES, nav="pledges")


@router.post("/pledges")
def create_pledge(request: Request, ctx: Ctx = Depends(posted), owner: str = Form(...),
                  title: str = Form(...), items: str = Form(...)):
    scope.require_role(ctx.user, "unit_manager")
    kind, _, owner_id = owner.partition(":")
    with write(request.app.state.engine) as conn:
        pid = pledges.create(conn, kind, owner_id, title, items.splitlines(), ctx.allowed,
                             ctx.now)
        # what was promised, as corrections and withdrawals keep what it said before
        audit.record(conn, ctx.user, "create_pledge", ctx.now, target=owner,
                     detail={"pledge": pid, **pledges.snapshot(conn, pid)}, ip=ctx.ip)
    return redirect(f"{PREFIX}/pledges#pledge-{pid}")


@router.post("/pledges/items/{item_id}")
def update_item(item_id: RowId, request: Request, ctx: Ctx = Depends(posted),
                status: str = Form(...), evidence: str = Form("")):
    scope.require_role(ctx.user, "unit_manager")
    with write(request.app.state.engine) as conn:
        change = pledges.set_item(conn, item_id, status, evidence, ctx.user, ctx.allowed,
                                  ctx.now)
        # status and evidence before and after: a change of either is on the record
        audit.record(conn, ctx.user, "pledge_item", ctx.now, target=str(item_id),
                     detail=change, ip=ctx.ip)
    return redirect(f"{PREFIX}/pledges#item-{item_id}")
