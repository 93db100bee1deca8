"""The account list for admins and supervisors (``user_admin.py``)."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request

from ..db import read, write
from . import audit, scope, user_admin
from .web import PREFIX, Ctx, current, posted, redirect, render

router = APIRouter(prefix=PREFIX, include_in_schema=False)


def _page(request: Request, ctx: Ctx, status: int = 200, **extra):
    with read(request.app.state.engine) as conn:
        rows = user_admin.list_for(conn, ctx.user, ctx.allowed)
    return render(request, "users.html", ctx, status=status, rows=rows, nav="users", **extra)


@router.get("/users")
def users_page(request: Request, ctx: Ctx = Depends(current)):
    scope.require_role(ctx.user, "supervisor")
    done = request.query_params.get("done")
    who = request.query_params.get("u", "")[:64]
    with read(request.app.state.engine) as conn:
        rows = user_admin.list_for(conn, ctx.user, ctx.allowed)
    # Only about an account on the list: any text in a crafted link (?u=…) was shown as
    # the page's own word ("账号 … 已停用").
    shown = done in ("activated", "deactivated") and who in {r["username"] for r in rows}
    message = ctx.t(f"user_{done}", u=who) if shown else None
    return render(request, "users.html", ctx, rows=rows, nav="users", message=message)


@router.post("/users/active")
def set_active(request: Request, ctx: Ctx = Depends(posted), username: str = Form(...),
               active: str = Form(...)):
    scope.require_role(ctx.user, "supervisor")
    on = active == "1"
    try:
        with write(request.app.state.engine) as conn:
            user_admin.set_active(conn, ctx.user, username, on, ctx.allowed, ctx.now, ip=ctx.ip)
            audit.record(conn, ctx.user, "activate_user" if on else "deactivate_user",
                         ctx.now, target=username, ip=ctx.ip)
    except user_admin.Refused as exc:
        return _page(request, ctx, 409 if exc.key != "cannot_manage_user" else 403,
                     error=ctx.t(exc.key))
    done = "activated" if on else "deactivated"
    return redirect(f"{PREFIX}/users?done={done}&u={quote(username, safe='')}")
