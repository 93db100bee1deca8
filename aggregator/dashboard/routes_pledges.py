"""Correcting and withdrawing pledges (践诺, ``pledges.py``); both are audited with what the
pledge said before, and both reach the kiosks through the config version."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from ..db import write
from ..errors import BadRequest
from . import audit, pledges, scope
from .web import PREFIX, Ctx, RowId, posted, redirect

router = APIRouter(prefix=PREFIX, include_in_schema=False)


@router.post("/pledges/{pledge_id}/correct")
async def correct_pledge(pledge_id: RowId, request: Request, ctx: Ctx = Depends(posted)):
    """Form: ``title``, ``item-<id>`` per item (its corrected text), ``added`` (new items,
    one per line)."""
    scope.require_role(ctx.user, "unit_manager")
    form = await request.form()
    texts = {}
    for name, value in form.multi_items():
        if name.startswith("item-"):
            try:
                texts[int(name[5:])] = str(value)
            except ValueError:
                raise BadRequest(f"unknown field {name!r:.40}", field=name) from None

    def run():
        with write(request.app.state.engine) as conn:
            before = pledges.snapshot(conn, pledge_id)
            pledges.correct(conn, pledge_id, str(form.get("title") or ""), texts,
                            str(form.get("added") or "").splitlines(), ctx.allowed, ctx.now)
            audit.record(conn, ctx.user, "correct_pledge", ctx.now, target=str(pledge_id),
                         detail={"before": before, "after": pledges.snapshot(conn, pledge_id)},
                         ip=ctx.ip)
    await run_in_threadpool(run)
    return redirect(f"{PREFIX}/pledges#pledge-{pledge_id}")


@router.post("/pledges/{pledge_id}/withdraw")
def withdraw_pledge(pledge_id: RowId, request: Request, ctx: Ctx = Depends(posted)):
    scope.require_role(ctx.user, "unit_manager")
    with write(request.app.state.engine) as conn:
        before = pledges.snapshot(conn, pledge_id)
        pledges.withdraw(conn, pledge_id, ctx.allowed)
        audit.record(conn, ctx.user, "withdraw_pledge", ctx.now, target=str(pledge_id),
                     detail=before, ip=ctx.ip)
    return redirect(f"{PREFIX}/pledges")
