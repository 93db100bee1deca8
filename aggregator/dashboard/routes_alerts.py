"""The integrity alerts of a user's scope (``/dashboard/alerts``) and their resolution.

The hourly scan resolves the alerts whose condition it can see end (``seq_gap``,
``device_silent``, ``backlog_stuck``); every other kind stays open until a person who may judge
it says why it is settled: a supervisor or an administrator whose scope holds it, never the
manager of the unit it accuses (DESIGN "Integrity is law": units must not be able to
manipulate results). The reason is kept in the audit log (``resolve_alert``, target the
alert's id), from where the page reads it back; the alert itself only gets ``resolved_at``.
"""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import APIRouter, Depends, Form, Request
from sqlalchemy import and_, case, func, select, update
from sqlalchemy.engine import Connection

from .. import constants as C
from ..db import read, write
from ..errors import BadRequest, Conflict, Forbidden, NotFound
from ..schema import alerts, devices, units, windows
from . import audit
from .overview import SEVERITY_ORDER, alerts_in_scope
from .tables import audit_log, users
from .web import MAX_PAGE, PREFIX, Ctx, RowId, came_from, current, posted, redirect, render

router = APIRouter(prefix=PREFIX, include_in_schema=False)
PAGE = 50
TABS = ("open", "resolved", "all")
SEVERITIES = ("high", "medium", "low")
RESOLVERS = ("admin", "supervisor")   # a unit manager must not dismiss what accuses their unit
ACTION = "resolve_alert"
NOTE_MAX = 500


def _choice(value: str | None, allowed) -> str | None:
    return value if value in allowed else None


def _filters(request: Request) -> dict:
    """The page's filters from its query; a value it does not know is no filter (as the
    case queue does with an unknown tab)."""
    q = request.query_params
    return {"kind": _choice(q.get("kind"), C.ALERT_KINDS),
            "severity": _choice(q.get("severity"), SEVERITIES),
            "device": (q.get("device") or "").strip()[:200] or None}


def _where(allowed: set[str], state: str, kind: str | None, severity: str | None,
           device: str | None) -> list:
    where = [alerts_in_scope(allowed)]
    if state == "open":
        where.append(alerts.c.resolved_at.is_(None))
    elif state == "resolved":
        where.append(alerts.c.resolved_at.is_not(None))
    if kind:
        where.append(alerts.c.kind == kind)
    if severity:
        where.append(alerts.c.severity == severity)
    if device:
        where.append(alerts.c.device_id == device)
    return where


def list_alerts(conn: Connection, allowed: set[str], *, state: str = "open",
                kind: str | None = None, severity: str | None = None,
                device: str | None = None, limit: int = PAGE,
                offset: int = 0) -> tuple[list[dict], int]:
    """One page of the scope's alerts of a tab, the most serious first, then the newest, with
    the window's name (for the detail, ``i18n_alerts``) and the unit's; and how many in all."""
    where = _where(allowed, state, kind, severity, device)
    total = conn.execute(select(func.count()).select_from(alerts).where(and_(*where))).scalar()
    unit_id = func.coalesce(windows.c.unit_id, devices.c.unit_id)
    q = (select(alerts, windows.c.name.label("window_name"), unit_id.label("unit_id"),
                units.c.name.label("unit_name"))
         .outerjoin(windows, windows.c.id == alerts.c.window_id)
         .outerjoin(devices, devices.c.id == alerts.c.device_id)
         .outerjoin(units, units.c.id == unit_id)
         .where(*where)
         .order_by(SEVERITY_ORDER, alerts.c.created_at.desc(), alerts.c.id.desc())
         .limit(limit).offset(offset))
    rows = [dict(r) for r in conn.execute(q).mappings()]
    done = resolutions(conn, [r["id"] for r in rows if r["resolved_at"] is not None])
    for r in rows:
        r["resolution"] = done.get(r["id"])
    return rows, total


def tab_counts(conn: Connection, allowed: set[str], *, kind: str | None = None,
               severity: str | None = None, device: str | None = None) -> dict:
    """How many alerts each tab lists under the other filters."""
    is_open = case((alerts.c.resolved_at.is_(None), 1), else_=0)
    n_all, n_open = conn.execute(
        select(func.count(), func.coalesce(func.sum(is_open), 0)).select_from(alerts)
        .where(*_where(allowed, "all", kind, severity, device))).one()
    return {"open": int(n_open), "resolved": int(n_all) - int(n_open), "all": int(n_all)}


def resolutions(conn: Connection, alert_ids: list[int]) -> dict[int, dict]:
    """Who resolved each of ``alert_ids`` and why, from the audit log; an alert resolved
    without such a row was resolved by the scan."""
    if not alert_ids:
        return {}
    q = (select(audit_log.c.target, audit_log.c.at, audit_log.c.username, audit_log.c.detail,
                users.c.display_name)
         .outerjoin(users, users.c.id == audit_log.c.user_id)
         .where(audit_log.c.action == ACTION,
                audit_log.c.target.in_([str(i) for i in alert_ids]))
         .order_by(audit_log.c.id))
    out = {}
    for r in conn.execute(q).mappings():
        detail = json.loads(r["detail"]) if r["detail"] else {}
        out[int(r["target"])] = {"at": r["at"], "username": r["username"],
                                 "name": r["display_name"] or r["username"],
                                 "note": detail.get("note")}
    return out


def check_note(note: str) -> str:
    """The reason for resolving an alert, as stored: required, at most ``NOTE_MAX`` characters
    with its line breaks counted as the browser's field counts them (one each)."""
    note = note.replace("\r\n", "\n").strip()
    if not note:
        raise BadRequest("note: resolving an alert needs a reason (what was checked and done), "
                         "got an empty note", field="note",
                         detail_args={"msg": "alert_note_required"})
    if len(note) > NOTE_MAX:
        raise BadRequest(f"note: at most {NOTE_MAX} characters, got {len(note)}", field="note",
                         detail_args={"msg": "alert_note_too_long", "limit": NOTE_MAX,
                                      "length": len(note)})
    return note


def resolve(conn: Connection, alert_id: int, user: dict, allowed: set[str], note: str,
            now: dt.datetime, ip: str | None = None, tz: dt.tzinfo = dt.timezone.utc) -> dict:
    """Resolve an open alert of the scope with a reason; audited. Refused to any role but
    supervisor and admin (403), for an alert outside the scope or unknown (404, as a case:
    its existence is not revealed), already resolved (409), or without a reason (400)."""
    if user["role"] not in RESOLVERS:
        raise Forbidden(f"only a supervisor or an administrator resolves an alert, not a "
                        f"{user['role']}: the manager of the unit an alert accuses must not "
                        f"dismiss it", detail_args={"msg": "alert_resolver_role"})
    row = conn.execute(select(alerts).where(alerts.c.id == alert_id, alerts_in_scope(allowed))) \
        .mappings().first()
    if row is None:
        raise NotFound(f"alert {alert_id} does not exist")
    if row["resolved_at"] is not None:
        raise _resolved_already(alert_id, row["resolved_at"], tz)
    note = check_note(note)
    done = conn.execute(update(alerts).where(alerts.c.id == alert_id,
                                             alerts.c.resolved_at.is_(None))
                        .values(resolved_at=now))
    if done.rowcount != 1:   # the scan or another supervisor resolved it meanwhile
        when = conn.execute(select(alerts.c.resolved_at).where(alerts.c.id == alert_id)).scalar()
        raise _resolved_already(alert_id, when or now, tz)
    audit.record(conn, user, ACTION, now, target=str(alert_id), ip=ip, detail={
        "note": note, "kind": row["kind"], "severity": row["severity"],
        "device_id": row["device_id"], "window_id": row["window_id"]})
    return dict(row, resolved_at=now)


def _resolved_already(alert_id: int, when: dt.datetime, tz: dt.tzinfo) -> Conflict:
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return Conflict(f"alert {alert_id} was resolved already, at {when.isoformat()}",
                    detail_args={"msg": "alert_resolved_already", "id": alert_id,
                                 "at": when.astimezone(tz).strftime("%Y-%m-%d %H:%M")})


def _tz(request: Request) -> dt.tzinfo:
    return dt.timezone(dt.timedelta(hours=request.app.state.settings.timezone_offset_hours))


@router.get("/alerts")
def alert_list(request: Request, ctx: Ctx = Depends(current)):
    state = request.query_params.get("state", "open")
    state = state if state in TABS else "open"
    try:
        page = min(MAX_PAGE, max(1, int(request.query_params.get("page", "1"))))
    except ValueError:
        page = 1
    f = _filters(request)
    with read(request.app.state.engine) as conn:
        rows, total = list_alerts(conn, ctx.allowed, state=state, **f, limit=PAGE,
                                  offset=(page - 1) * PAGE)
        counts = tab_counts(conn, ctx.allowed, **f)
        just = _just_resolved(request, conn, ctx)
    filter_q = urlencode([(k, v) for k, v in f.items() if v])
    return render(request, "alerts.html", ctx, rows=rows, total=total, counts=counts,
                  state=state, tabs=TABS, page=page, pages=max(1, -(-total // PAGE)), nav="alerts",
                  filters=f, filter_q=f"&{filter_q}" if filter_q else "", kinds=C.ALERT_KINDS,
                  severities=SEVERITIES, may_resolve=ctx.role in RESOLVERS, just=just,
                  note_max=NOTE_MAX)


def _just_resolved(request: Request, conn: Connection, ctx: Ctx) -> int | None:
    """The alert of ``?resolved=<id>`` (after the form), when it is of the scope and resolved."""
    asked = request.query_params.get("resolved", "")
    if not (asked.isascii() and asked.isdigit() and len(asked) < 19):
        return None
    found = conn.execute(select(alerts.c.id).where(
        alerts.c.id == int(asked), alerts.c.resolved_at.is_not(None),
        alerts_in_scope(ctx.allowed))).scalar()
    return found


@router.post("/alerts/{alert_id}/resolve")
def alert_resolve(alert_id: RowId, request: Request, note: str = Form(""),
                  ctx: Ctx = Depends(posted)):
    with write(request.app.state.engine) as conn:
        resolve(conn, alert_id, ctx.user, ctx.allowed, note, ctx.now, ctx.ip, _tz(request))
    return redirect(_back(request, alert_id))


def _back(request: Request, alert_id: int) -> str:
    """The alerts page the form was sent from, with its tab and filters, saying which alert was
    resolved; the open tab when it cannot be told."""
    page = came_from(request) or ""
    parts = urlsplit(page)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "resolved"] \
        if parts.path == PREFIX + "/alerts" else []
    return f"{PREFIX}/alerts?" + urlencode(query + [("resolved", str(alert_id))])
