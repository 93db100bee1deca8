"""Service items (事项) on the roster page: add, edit, retire, restore (``items.py``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request

from ..db import write
from . import audit, items, scope
from .routes_admin import roster_view
from .web import PREFIX, Ctx, posted, redirect

router = APIRouter(prefix=PREFIX, include_in_schema=False)


@router.post("/roster/items")
def save_item(request: Request, ctx: Ctx = Depends(posted), code: str = Form(...),
              name: str = Form(...), time_limit: str = Form(""), unit_id: str = Form(...),
              mode: str = Form("new"), overwrite: str = Form("")):
    """``mode=new`` (the add form) never overwrites an item silently: a code that exists
    brings the page back with both versions and asks; ``overwrite=1`` is the answer.
    ``mode=edit`` (the form of a listed item) changes that item."""
    scope.require_role(ctx.user, "unit_manager")
    try:
        with write(request.app.state.engine) as conn:
            scope.check_unit(conn, ctx.user, unit_id)
            out = items.save(conn, {"code": code, "name": name, "time_limit": time_limit,
                                    "unit_id": unit_id}, mode, overwrite == "1", ctx.allowed)
            before = out["before"]
            audit.record(conn, ctx.user, "add_item" if before is None else "edit_item",
                         ctx.now, target=out["item"]["code"], ip=ctx.ip,
                         detail=_change(before, out["item"]))
    except items.Exists as exc:
        return roster_view(request, ctx, 409, conflict={"stored": exc.item, "asked": exc.asked})
    return redirect(f"{PREFIX}/roster#items")


def _change(before: dict | None, after: dict) -> dict:
    """What the audit log keeps of an item saved: its fields before (if any) and after."""
    def fields(row):
        return {"name": row["name"], "time_limit": row["time_limit"],
                "unit_id": row["unit_id"], "retired": row.get("retired_at") is not None}
    return {"before": fields(before) if before else None, "after": fields(after)}


def _set_retired(request: Request, ctx: Ctx, code: str, retired: bool):
    scope.require_role(ctx.user, "unit_manager")
    with write(request.app.state.engine) as conn:
        items.set_retired(conn, code, retired, ctx.allowed, ctx.now)
        audit.record(conn, ctx.user, "retire_item" if retired else "restore_item", ctx.now,
                     target=code, ip=ctx.ip)
    return redirect(f"{PREFIX}/roster#items")


@router.post("/roster/items/retire")
def retire_item(request: Request, ctx: Ctx = Depends(posted), code: str = Form(...)):
    """Kiosks stop offering the item; past ratings keep its name (nothing is deleted)."""
    return _set_retired(request, ctx, code, True)


@router.post("/roster/items/restore")
def restore_item(request: Request, ctx: Ctx = Depends(posted), code: str = Form(...)):
    return _set_retired(request, ctx, code, False)
