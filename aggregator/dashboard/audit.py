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
