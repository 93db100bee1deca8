"""The audit log: every case change and every view of a case's details, never deleted."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select
from sqlalchemy.engine import Connection

from .tables import audit_log


def record(conn: Connection, user: dict | None, action: str, now: dt.datetime, *,
           case_id: int | None = None, target: str | None = None,
           detail: dict | None = None, ip: str | None = None) -> None:
    conn.execute(audit_log.insert().values(
        at=now, user_id=user["id"] if user else None,
        username=user["username"] if user else None, action=action, case_id=case_id,
        target=target, detail=json.dumps(detail, ensure_ascii=False) if detail else None,
        ip=ip))


def for_case(conn: Connection, case_id: int) -> list[dict]:
    rows = conn.execute(select(audit_log).where(audit_log.c.case_id == case_id)
                        .order_by(audit_log.c.id)).mappings().all()
    return [dict(r, detail=json.loads(r["detail"]) if r["detail"] else {}) for r in rows]


def collapse_views(history: list[dict]) -> list[dict]:
    """A case's history with each run of views by one user as one entry (the latest, with
    ``count``): every opening of a case is audited, and a case opened fifty times buried its
    transitions under fifty lines. The audit log keeps every view.

    >>> [(h["action"], h["count"]) for h in collapse_views([
    ...     {"action": "view", "user_id": 1}, {"action": "view", "user_id": 1},
    ...     {"action": "verify", "user_id": 1}, {"action": "view", "user_id": 2}])]
    [('view', 2), ('verify', 1), ('view', 1)]
    """
    out: list[dict] = []
    for entry in history:
        last = out[-1] if out else None
        if last and entry["action"] == last["action"] == "view" \
                and entry["user_id"] == last["user_id"]:
            out[-1] = dict(entry, count=last["count"] + 1)
        else:
            out.append(dict(entry, count=1))
    return out
