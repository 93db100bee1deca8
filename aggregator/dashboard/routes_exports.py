"""The per-rating export (``rating_export``) and the case ledger (``case_export``) as
downloads: ``/dashboard/ratings/export`` and ``/dashboard/cases/export``.

Who may: every dashboard role but staff, within their scope, as for the ranking exports
(staff accounts are refused by ``mount.not_staff`` before this runs, and by ``require_role``
here). The phone number is never in a file, so a viewer gets what a supervisor gets.
"""

from __future__ import annotations

import tempfile
from contextlib import contextmanager
from typing import BinaryIO, Iterator

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from ..db import read, write
from . import audit, case_export, cases, export_scope, rating_export, scope
from .web import PREFIX, Ctx, current

router = APIRouter(prefix=PREFIX, include_in_schema=False)
CHUNK = 64 * 1024
MEDIA = {"csv": "text/csv; charset=utf-8",
         "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def _scope_name(user: dict) -> str:
    return user.get("unit_id") or user.get("region_id") or "all"


@router.get("/ratings/export")
def ratings_export(request: Request, ctx: Ctx = Depends(current)):
    """``?from=YYYY-MM-DD&to=YYYY-MM-DD`` (or ``period=2026-05``) ``&target=national|provincial
    &format=csv|xlsx[&unit=U-01 | &region=R-1 | &scope=unit:U-01|region:R-1]
    [&include_flagged=1]`` (``scope`` is the form's picker)."""
    scope.require_role(ctx.user, "viewer")
    q = request.query_params
    target = rating_export.parse_target(q.get("target"))
    fmt = rating_export.parse_format(q.get("format") or "csv")
    first, last = rating_export.parse_days(q.get("period"), q.get("from"), q.get("to"),
                                           ctx.today)
    part = export_scope.Part.of(q.get("unit"), q.get("region"), q.get("scope"))
    engine = request.app.state.engine
    tz_hours = request.app.state.settings.timezone_offset_hours
    with _spool() as out:
        with read(engine) as conn:
            units = export_scope.units_of(conn, ctx.user, ctx.allowed, part)
            sel = rating_export.Selection(first, last, units, target,
                                          q.get("include_flagged") in ("1", "true", "on"),
                                          ctx.now, part.id if part else None)
            n = rating_export.count(conn, sel)
            rating_export.check_size(fmt, n)
            rating_export.write_file(conn, sel, fmt, ctx.t, tz_hours, out)
        with write(engine) as conn:
            audit.record(conn, ctx.user, "export_ratings", ctx.now, target=f"{first}/{last}",
                         detail=rating_export.audit_detail(sel, fmt, n, part,
                                                           _scope_name(ctx.user)),
                         ip=ctx.ip)
    return _download(out, fmt, sel.file_name(fmt), {"X-Rating-Count": str(n)})


@router.get("/cases/export")
def cases_export(request: Request, ctx: Ctx = Depends(current)):
    """The case ledger: ``?state=<queue tab>&format=csv|xlsx[&unit=U-01][&from=YYYY-MM-DD]
    [&to=YYYY-MM-DD]`` (the rating days); every case of the tab, not a page of it."""
    scope.require_role(ctx.user, "viewer")
    q = request.query_params
    fmt = rating_export.parse_format(q.get("format") or "csv")
    ledger = case_export.Ledger.parse(q)
    engine = request.app.state.engine
    with write(engine) as conn:   # the cases the list would open first (``routes_cases._sync``)
        cases.sync_cases(conn, ctx.now, ctx.settings)
    with _spool() as out:
        with read(engine) as conn:
            if ledger.unit_id:
                scope.check_unit(conn, ctx.user, ledger.unit_id)
            where = ledger.where(ctx.allowed, ctx.today, ctx.user)
            n = case_export.count(conn, where)
            rating_export.check_size(fmt, n, "cases")
            case_export.write_file(conn, where, ctx.today, fmt, ctx.t,
                                   request.app.state.settings.timezone_offset_hours, out)
        with write(engine) as conn:
            audit.record(conn, ctx.user, "export_cases", ctx.now, target=ledger.state,
                         detail=ledger.audit_detail(fmt, n), ip=ctx.ip)
    return _download(out, fmt, ledger.file_name(fmt), {"X-Case-Count": str(n)})


@contextmanager
def _spool() -> Iterator[BinaryIO]:
    """A temporary file to write a download into before it is sent, closed if writing fails
    (``_download`` closes it once sent). Written first, then sent: the read transaction lasts
    as long as the database takes, not as long as a slow client (on SQLite an open reader
    holds back the WAL checkpoint), and memory holds one batch of rows, never the month."""
    out = tempfile.TemporaryFile()
    try:
        yield out
    except BaseException:
        out.close()
        raise


def _download(out: BinaryIO, fmt: str, name: str, extra: dict) -> StreamingResponse:
    """The file written to ``out`` as an attachment named ``name``."""
    size = out.tell()
    out.seek(0)

    def chunks():
        with out:
            while data := out.read(CHUNK):
                yield data

    return StreamingResponse(chunks(), media_type=MEDIA[fmt], headers={
        "Content-Disposition": f'attachment; filename="{name}"',
        "Content-Length": str(size), **extra})
