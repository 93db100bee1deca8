"""Devices (health, enrolment codes, revoke), roster, pledges and service items, settings."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request, UploadFile
from sqlalchemy import case, or_, select
from starlette.concurrency import run_in_threadpool

from .. import enroll, org, roster
from ..db import read, write
from ..errors import BadRequest, NotFound
from ..proxy import is_https
from ..schema import devices, enroll_codes, staff, units, windows
from . import audit, cases, code_view, config, items, scope
from . import devices as device_health
from .web import PREFIX, Ctx, current, posted, redirect, render

router = APIRouter(prefix=PREFIX, include_in_schema=False)
MAX_ROSTER = 5 * 1024 * 1024
SHOWN_PROBLEMS = 50  # of a roster file, on the page


def _windows(conn, allowed):
    return [dict(r) for r in conn.execute(
        select(windows.c.id, windows.c.name, windows.c.unit_id, units.c.name.label("unit_name"))
        .join(units, units.c.id == windows.c.unit_id)
        .where(windows.c.unit_id.in_(sorted(allowed))).order_by(windows.c.id)).mappings()]


def _devices_page(request: Request, ctx: Ctx, code=None, for_device: str | None = None,
                  code_gone: bool = False):
    with read(request.app.state.engine) as conn:
        rows = device_health.list_devices(conn, ctx.allowed, ctx.now,
                                          request.app.state.settings.silent_hours)
        wins = _windows(conn, ctx.allowed)
    chosen = next((d for d in rows if d["id"] == for_device), None)
    response = render(request, "devices.html", ctx, rows=rows, windows=wins, code=code,
                      qr=device_health.qr_svg(code["code"]) if code else None,
                      for_device=chosen, code_gone=code_gone,
                      ttl_default=request.app.state.settings.enroll_ttl_hours, nav="devices")
    if code:   # a credential on the page: not for the back button's cache, nor a proxy's
        response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/devices")
def devices_page(request: Request, ctx: Ctx = Depends(current), device: str | None = None):
    """``?device=ID`` opens the code form for that kiosk (to move it, or to give it a new key)."""
    return _devices_page(request, ctx, for_device=device)


# A kiosk the server knows can only be enrolled again with a code made for it (a code for "a
# new kiosk" would let anyone take over any device id); the dashboard had no way to make one, so
# moving a kiosk to another window needed the server's command line.
@router.post("/devices/enroll-code")
def enroll_code(request: Request, window_id: str = Form(...), ttl_hours: float | None = Form(None),
                device_id: str = Form(""), ctx: Ctx = Depends(posted)):
    scope.require_role(ctx.user, "unit_manager")
    if ttl_hours is None:
        ttl_hours = request.app.state.settings.enroll_ttl_hours
    with write(request.app.state.engine) as conn:
        scope.window_unit(conn, ctx.user, window_id)
        if device_id:
            known = conn.execute(select(devices.c.unit_id, devices.c.revoked_at)
                                 .where(devices.c.id == device_id)).first()
            if known is None or known.unit_id not in ctx.allowed:
                raise NotFound(f"device {device_id!r} does not exist", field="device_id")
            if known.revoked_at is not None:  # undoing a revocation takes whoever may revoke
                scope.require_role(ctx.user, "supervisor")
        code = enroll.create_code(conn, window_id, ctx.now, ttl_hours, device_id=device_id or None)
        audit.record(conn, ctx.user, "enroll_code", ctx.now, target=window_id, ip=ctx.ip,
                     detail={"device_id": device_id} if device_id else None)
    # Post, redirect, get: the code was shown in this POST's answer, and reloading it made
    # another code (each one a credential). The page the browser lands on shows this code
    # again from a sealed cookie only this session can open (code_view); never from the URL.
    view = code_view.new_view_id()
    response = redirect(code_view.cookie_path(PREFIX, view))
    response.set_cookie(code_view.COOKIE, code_view.seal(
        request.app.state.settings.secret, ctx.session, view, code),
        max_age=max(60, int(min(ttl_hours * 3600, code_view.SHOWN_SECONDS))),
        path=code_view.cookie_path(PREFIX, view), httponly=True, samesite="strict",
        secure=is_https(request))
    return response


@router.get("/devices/codes/{view}")
def enroll_code_page(view: str, request: Request, ctx: Ctx = Depends(current)):
    """The code just made by this session (``code_view``), as often as the page is loaded;
    a code that is no longer shown (another session, signed out, after an hour) is not made
    again: the page says so and offers the form."""
    scope.require_role(ctx.user, "unit_manager")
    code = code_view.unseal(request.app.state.settings.secret, ctx.session, view,
                            request.cookies.get(code_view.COOKIE))
    if code is not None:
        with read(request.app.state.engine) as conn:
            scope.window_unit(conn, ctx.user, code["window_id"])   # still in the scope
            row = conn.execute(select(enroll_codes.c.used_at, enroll_codes.c.expires_at)
                               .where(enroll_codes.c.code_hash
                                      == enroll.code_hash(code["code"]))).first()
        code["used"] = bool(row and row.used_at)
        code["expired"] = row is None or row.expires_at <= ctx.now
    return _devices_page(request, ctx, code=code, code_gone=code is None)


@router.post("/devices/{device_id:path}/revoke")  # an id with "/" comes as %2F (devices.sync_now)
def revoke(device_id: str, request: Request, ctx: Ctx = Depends(posted)):
    scope.require_role(ctx.user, "supervisor")
    with write(request.app.state.engine) as conn:
        unit_id = conn.execute(select(devices.c.unit_id).where(devices.c.id == device_id)).scalar()
        if unit_id is None or unit_id not in ctx.allowed:
            raise NotFound(f"device {device_id!r} does not exist")
        enroll.revoke(conn, device_id, ctx.now)
        audit.record(conn, ctx.user, "revoke_device", ctx.now, target=device_id, ip=ctx.ip)
    return redirect(f"{PREFIX}/devices")


def every_unit(user: dict) -> bool:
    """Whether ``user``'s scope is every unit (``scope.allowed_units``: an admin, or a viewer
    without a unit or region). Only they see the staff stored without a unit, who are in no
    unit's scope: a unit manager must not see a person of another unit whose unit was removed,
    and without this no one saw them at all."""
    return user["role"] in ("admin", "viewer") and not user.get("unit_id") \
        and not user.get("region_id")


def _roster(conn, allowed, without_unit: bool = False):
    """The staff of the ``allowed`` units, and those of no unit first when ``without_unit``."""
    in_scope = staff.c.unit_id.in_(sorted(allowed))
    q = (select(staff, windows.c.name.label("window_name"), units.c.name.label("unit_name"))
         .outerjoin(windows, windows.c.id == staff.c.window_id)
         .outerjoin(units, units.c.id == staff.c.unit_id)
         .where(or_(in_scope, staff.c.unit_id.is_(None)) if without_unit else in_scope)
         .order_by(case((staff.c.unit_id.is_(None), 0), else_=1), staff.c.unit_id, staff.c.id))
    rows = [dict(r) for r in conn.execute(q).mappings()]
    for r in rows:
        r.pop("pin_hash", None)
    return rows


@router.get("/roster")
def roster_page(request: Request, ctx: Ctx = Depends(current)):
    return roster_view(request, ctx)


def roster_view(request: Request, ctx: Ctx, status: int = 200, **extra):
    """The roster page, with ``extra`` for the template: ``errors`` (``roster.Problem``s, or
    text already in the page's language) under ``errors_title`` (default: nothing imported),
    ``editing`` (a staff form sent back with what was typed), ``message``, an item conflict…"""
    with read(request.app.state.engine) as conn:
        data = dict(staff_rows=_roster(conn, ctx.allowed, every_unit(ctx.user)),
                    items=items.list_for(conn, ctx.allowed), windows=_windows(conn, ctx.allowed),
                    version=org.config_version(conn))
        # whoever may see several units places a person in one of them (and one of no unit)
        data["units"] = [dict(r) for r in conn.execute(
            select(units.c.id, units.c.name).where(units.c.id.in_(sorted(ctx.allowed)))
            .order_by(units.c.id)).mappings()] if len(ctx.allowed) > 1 or every_unit(ctx.user) \
            else []
    return render(request, "roster.html", ctx, status=status, **data,
                  **{"errors": None, "errors_more": 0, "errors_title": None, "editing": None,
                     "message": None} | extra, nav="roster")


@router.post("/roster/staff/{staff_id}")
def save_staff(staff_id: str, request: Request, ctx: Ctx = Depends(posted),
               name: str = Form(...), staff_no: str = Form(""), post: str = Form(""),
               pledge: str = Form(""), stars: int = Form(0), window_id: str = Form(""),
               party_member: str = Form(""), active: str = Form(""),
               unit_id: str | None = Form(None)):
    """Save what the staff form shows (``org.save_staff``: the badge, PIN, photo and the rest
    stay as stored). ``unit_id`` comes from the forms of whoever sees several units: it
    places a person of no unit, or moves one to another unit of the scope."""
    scope.require_role(ctx.user, "unit_manager")
    typed = {"name": name, "staff_no": staff_no, "post": post, "pledge": pledge, "stars": stars,
             "window_id": window_id or None, "party_member": bool(party_member),
             "active": bool(active)}
    if unit_id is not None and unit_id.strip():   # blank: as stored (never out of a unit)
        typed["unit_id"] = org.id_form(unit_id)
    row = None
    try:
        with write(request.app.state.engine) as conn:
            row = conn.execute(select(staff).where(staff.c.id == staff_id)).mappings().first()
            if row is None or not (row["unit_id"] in ctx.allowed or (
                    row["unit_id"] is None and every_unit(ctx.user))):
                raise NotFound(f"staff {staff_id!r} does not exist")
            unit = typed.get("unit_id", row["unit_id"])
            if unit != row["unit_id"]:
                _check_unit_move(ctx, unit)
            if window_id:
                if scope.window_unit(conn, ctx.user, window_id) != unit:
                    raise BadRequest("the window belongs to another unit", field="window_id",
                                     detail_args={"msg": "window_not_of_unit",
                                                  "field": "window_id", "value": window_id})
            org.save_staff(conn, typed | {"id": staff_id})
            moved = {"unit_id": [row["unit_id"], unit]} if unit != row["unit_id"] else None
            audit.record(conn, ctx.user, "edit_staff", ctx.now, target=staff_id, ip=ctx.ip,
                         detail=moved)
    except BadRequest as exc:
        # Back to the roster with the form open and what was typed (the bare error page said
        # it in English, and going back to fix it lost the page).
        who = row["name"] if row else staff_id
        return roster_view(request, ctx, 400, errors=[exc], editing=typed | {"id": staff_id},
                           errors_title=ctx.t("staff_not_saved", name=who))
    return redirect(f"{PREFIX}/roster#staff-{staff_id}")


def _check_unit_move(ctx: Ctx, unit: str) -> None:
    """A person placed in, or moved to, a unit of the scope."""
    if unit not in ctx.allowed:
        # as the roster file says it; to an admin, whose scope is every unit, it is no unit
        if every_unit(ctx.user):
            raise org.refused(f"unit_id {unit!r} does not exist", "unit_id", "missing_ref",
                              value=unit)
        raise org.refused(f"unit {unit!r} is outside your scope", "unit_id",
                          "unit_outside_scope", value=unit)


@router.post("/roster/import")
async def import_roster(request: Request, file: UploadFile, ctx: Ctx = Depends(posted)):
    scope.require_role(ctx.user, "unit_manager")
    data = await file.read(MAX_ROSTER + 1)
    name = file.filename or ""
    # A file of the wrong type, unreadable or too big comes back to the roster page saying
    # so (it was the bare error page, and the user lost the page they were on).
    if len(data) > MAX_ROSTER:
        return await run_in_threadpool(_file_refused, request, ctx, name, "import_too_large")
    try:
        # off the event loop: reading an XLSX and hashing its PINs (~18 ms each) held every
        # other request of the worker, kiosks' uploads too (a login waited 9.7 s beside a
        # 600-row file)
        parsed = await run_in_threadpool(roster.parse, name, data)
    except BadRequest as exc:
        problem = {"file_type": "import_file_type", "not_text_file": "import_not_text"}.get(
            exc.detail_args.get("msg"), "import_unreadable")
        return await run_in_threadpool(_file_refused, request, ctx, name, problem)
    rows, errors, columns = parsed.rows, list(parsed.problems), parsed.columns
    ids = [row["id"] for _, row in rows if isinstance(row.get("id"), str)]

    def owners() -> dict:  # the unit each existing staff id belongs to now
        with read(request.app.state.engine) as conn:
            return dict(conn.execute(select(staff.c.id, staff.c.unit_id)
                                     .where(staff.c.id.in_(ids))).all()) if ids else {}
    owner = await run_in_threadpool(owners)
    for number, row in rows:
        # a file without the unit column leaves each person's unit as it is
        unit = row["unit_id"] if "unit_id" in row else owner.get(row["id"])
        if unit not in ctx.allowed:
            errors.append(roster.Problem.of(
                f"row {number}: unit {unit!r} is outside your scope",
                "unit_outside_scope" if unit else "unit_missing", number, "unit_id",
                columns, value=unit))
        elif owner.get(row.get("id")) is not None and owner[row["id"]] not in ctx.allowed:
            # A manager could take another unit's staff member over by naming their id with
            # a unit of their own (the edit form refused it; the import did not). One stored
            # without a unit is no one's: refusing them kept them off every roster for good.
            errors.append(roster.Problem.of(
                f"row {number}: staff {row['id']!r} belongs to a unit outside your scope",
                "staff_outside_scope", number, "id", columns, value=row["id"]))
    total = len(errors)
    if not errors:
        def run():
            with write(request.app.state.engine) as conn:
                out = roster.import_roster(conn, name, parsed)
                audit.record(conn, ctx.user, "import_roster", ctx.now, target=file.filename,
                             detail=out, ip=ctx.ip)
                return out
        try:
            out = await run_in_threadpool(run)
        except BadRequest as exc:
            errors = roster.problems_of(exc)
            total = exc.detail_args.get("count", len(errors))
        else:
            # a pledge longer than a kiosk shows, or a name its font cannot draw, is taken,
            # and the page says so
            warnings = [ctx.t("pledge_long_row", row=w.args["row"], length=w.args["length"],
                              shown=w.args["shown"]) if w.args["msg"] == "pledge_long" else
                        ctx.t("font_missing_row", row=w.args["row"],
                              column=w.args["column"] or w.args["field"], chars=w.args["chars"])
                        for w in parsed.warnings]
            return await run_in_threadpool(roster_view, request, ctx,
                                           message=str(out["imported"]), warnings=warnings)
    # The page lists the first problems and says how many more there are (a file with 300
    # bad rows listed 50 and looked as if those were all).
    shown = errors[:SHOWN_PROBLEMS]
    return await run_in_threadpool(roster_view, request, ctx, errors=shown,
                                   errors_more=max(0, total - len(shown)))


def _file_refused(request: Request, ctx: Ctx, name: str, problem: str):
    message = ctx.t(problem, file=name or "?", types=ctx.t("p_list").join(roster.ACCEPTED),
                    mb=MAX_ROSTER // (1024 * 1024))
    return roster_view(request, ctx, 400, errors=[message])


@router.get("/settings")
def settings_page(request: Request, ctx: Ctx = Depends(current)):
    scope.require_role(ctx.user, "admin")
    return render(request, "settings.html", ctx, s=ctx.settings, help=config.HELP,
                  ranges=config.RANGES, nav="settings",
                  saved=request.query_params.get("saved") == "1")


@router.post("/settings")
def save_settings(request: Request, ctx: Ctx = Depends(posted), target_percent: float = Form(...),
                  first_contact_days: int = Form(...), answer_days: int = Form(...),
                  holidays: str = Form(""), workdays: str = Form("")):
    # The target is typed as every page shows it, in per cent (the form showed "0.8" and
    # refused 80).
    scope.require_role(ctx.user, "admin")
    s = config.DashboardSettings.from_dict({
        **vars(ctx.settings), "target_rate": round(target_percent / 100, 6),
        "first_contact_days": first_contact_days, "answer_days": answer_days,
        "holidays": holidays.split(), "workdays": workdays.split()})
    with write(request.app.state.engine) as conn:
        before = config.load(conn)
        config.save(conn, s)
        audit.record(conn, ctx.user, "settings", ctx.now, detail=vars(s), ip=ctx.ip)
        # Deadlines are dated when a case opens: holidays entered later move those of the
        # cases still open, in this transaction, or they stay overdue on a holiday (new
        # numbers of days are for new cases: ``cases.reschedule``).
        calendar = ("holidays", "workdays")
        if any(getattr(before, k) != getattr(s, k) for k in calendar):
            moved = cases.reschedule(conn, before, s, ctx.now)
            audit.record(conn, ctx.user, "reschedule_cases", ctx.now, ip=ctx.ip,
                         detail={"cases": moved} | {k: getattr(s, k) for k in calendar})
    return redirect(f"{PREFIX}/settings?saved=1")
