"""The bad-rating case queue and case pages: state changes, assignment, callbacks."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from sqlalchemy import and_, or_, select

from ..db import read, write
from ..errors import BadRequest
from . import cases, queue, scope
from .tables import users
from .web import MAX_PAGE, PREFIX, Ctx, RowId, current, posted, redirect, render

router = APIRouter(prefix=PREFIX, include_in_schema=False)
PAGE = 50


def _sync(request: Request, ctx: Ctx) -> None:
    with write(request.app.state.engine) as conn:
        cases.sync_cases(conn, ctx.now, ctx.settings)


@router.get("/cases")
def case_list(request: Request, ctx: Ctx = Depends(current)):
    _sync(request, ctx)
    state = request.query_params.get("state", "open")
    state = state if state in queue.FILTERS else "open"
    try:
        page = min(MAX_PAGE, max(1, int(request.query_params.get("page", "1"))))
    except ValueError:
        page = 1
    unit_id = request.query_params.get("unit") or None
    with read(request.app.state.engine) as conn:
        if unit_id:
            scope.check_unit(conn, ctx.user, unit_id)
        rows, total = queue.list_cases(conn, ctx.allowed, ctx.today, state=state, user=ctx.user,
                                       unit_id=unit_id, limit=PAGE, offset=(page - 1) * PAGE)
        # the tabs count what the list shows: the unit's cases when it is filtered by unit
        counts = queue.counts(conn, {unit_id} if unit_id else ctx.allowed, ctx.today)
    return render(request, "cases.html", ctx, rows=rows, total=total, counts=counts,
                  state=state, page=page, pages=max(1, -(-total // PAGE)), nav="cases",
                  unit=unit_id, unit_q=f"&unit={quote(unit_id, safe='')}" if unit_id else "")


def _assignable(conn, case: dict) -> list[dict]:
    """Users who may handle the case: managers of its unit and supervisors above it; and the
    case's assignee whoever it is (a deactivated account, shown so): the picker had no option
    for it, the browser showed 未指派, and pressing 指派 unassigned the case unasked."""
    out = []
    for u in conn.execute(select(users).where(or_(
            and_(users.c.active.is_(True), users.c.role != "viewer"),
            users.c.id == case["assignee_id"])).order_by(users.c.username)).mappings():
        if u["id"] == case["assignee_id"] or \
                case["unit_id"] in scope.allowed_units(conn, dict(u)):
            out.append(dict(u))
    return out


@router.get("/cases/{case_id}")
def case_page(case_id: RowId, request: Request, ctx: Ctx = Depends(current)):
    with write(request.app.state.engine) as conn:
        case = cases.detail(conn, case_id, ctx.user, ctx.allowed, ctx.now, ctx.ip)
        assignable = _assignable(conn, case)
    case["overdue"] = cases.overdue(case, ctx.today)
    return render(request, "case.html", ctx, case=case, assignable=assignable,
                  actions=cases.case_actions(case, ctx.user),
                  results=cases.CALLBACK_RESULTS, nav="cases")


@router.get("/api/cases/{case_id}")
def case_json(case_id: RowId, request: Request, ctx: Ctx = Depends(current)):
    with write(request.app.state.engine) as conn:
        case = cases.detail(conn, case_id, ctx.user, ctx.allowed, ctx.now, ctx.ip)
    case["overdue"] = cases.overdue(case, ctx.today)
    return case


@router.post("/cases/{case_id}/action")
def case_action(case_id: RowId, request: Request, action: str = Form(...),
                note: str = Form(""), ctx: Ctx = Depends(posted)):
    with write(request.app.state.engine) as conn:
        cases.transition(conn, case_id, action, ctx.user, ctx.allowed, ctx.now, note, ctx.ip,
                         today=ctx.today)
    return redirect(f"{PREFIX}/cases/{case_id}")


@router.post("/cases/{case_id}/assign")
def case_assign(case_id: RowId, request: Request, assignee: str = Form(""),
                ctx: Ctx = Depends(posted)):
    with write(request.app.state.engine) as conn:
        target = None
        if assignee:
            row = conn.execute(select(users).where(users.c.id == int(assignee)
                                                   if assignee.isascii() and assignee.isdigit()
                                                   and len(assignee) < 19
                                                   else False)) \
                .mappings().first()
            case = cases.get_case(conn, case_id, ctx.allowed)
            if row is None:
                raise BadRequest("this user cannot handle cases of this unit", field="assignee",
                                 detail_args={"msg": "assignee_unknown", "value": assignee})
            # the assignee it has is kept as it is (``cases.assign``), deactivated or not
            if row["id"] != case["assignee_id"] and (
                    row["role"] == "viewer"
                    or case["unit_id"] not in scope.allowed_units(conn, dict(row))):
                raise BadRequest("this user cannot handle cases of this unit", field="assignee",
                                 detail_args={"msg": "assignee_out_of_scope",
                                              "name": row["display_name"] or row["username"],
                                              "value": row["username"],
                                              "unit": case["unit_id"]})
            target = dict(row)
        cases.assign(conn, case_id, target, ctx.user, ctx.allowed, ctx.now, ctx.ip)
    return redirect(f"{PREFIX}/cases/{case_id}")


@router.post("/cases/{case_id}/callback")
def case_callback(case_id: RowId, request: Request, day: str = Form(""), result: str = Form(""),
                  note: str = Form(""), ctx: Ctx = Depends(posted)):
    with write(request.app.state.engine) as conn:
        cases.add_callback(conn, case_id, day, result, note, ctx.user, ctx.allowed, ctx.now,
                           ctx.ip, today=ctx.today)
    return redirect(f"{PREFIX}/cases/{case_id}")
