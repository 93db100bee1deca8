"""The account list (账号管理): who may see which accounts, and switching them on and off.

An admin sees and manages every account; a supervisor those scoped inside their region
(unit managers, viewers and staff of its units, accounts of its sub-regions) and may switch
on and off only the roles below their own. Nobody deactivates themselves, and the last
active admin is never deactivated: no one could manage the system after that (the CLI's
``activate-user`` on the server remains the way back).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from ..errors import Forbidden, NotFound
from ..schema import staff
from . import accounts, scope
from .assessment_tables import staff_users
from .tables import users

COLUMNS = ("id", "username", "display_name", "role", "region_id", "unit_id", "language",
           "active", "created_at", "last_login_at")


def _visible(viewer: dict, row: dict, allowed: set[str], regions: set[str] | None) -> bool:
    if viewer["role"] == "admin":
        return True
    if viewer["role"] != "supervisor" or row["role"] == "admin":
        return False
    if row["unit_id"]:
        return row["unit_id"] in allowed
    return bool(row["region_id"]) and regions is not None and row["region_id"] in regions


def may_manage(viewer: dict, row: dict) -> bool:
    """Whether ``viewer`` may switch the (visible) account ``row`` on and off."""
    if viewer["role"] == "admin":
        return True
    return viewer["role"] == "supervisor" and row["role"] in ("unit_manager", "viewer", "staff")


def list_for(conn: Connection, viewer: dict, allowed: set[str]) -> list[dict]:
    """The accounts ``viewer`` may see, by role then user name, with the staff member's name
    for staff accounts."""
    regions = scope.allowed_regions(conn, viewer)
    staff_of = dict(conn.execute(select(staff_users.c.user_id, staff.c.name)
                                 .join(staff, staff.c.id == staff_users.c.staff_id)).all())
    rows = _following_staff(conn, conn.execute(select(*(users.c[c] for c in COLUMNS)))
                            .mappings())
    order = {role: n for n, role in enumerate(accounts.ROLES)}
    out = []
    for r in sorted(rows, key=lambda r: (order.get(r["role"], 9), r["username"])):
        if _visible(viewer, r, allowed, regions):
            out.append(r | {"staff_name": staff_of.get(r["id"]),
                            "manageable": may_manage(viewer, r) and r["id"] != viewer["id"]})
    return out


def _following_staff(conn: Connection, rows) -> list[dict]:
    """Account rows as dicts, a staff account's unit the one its staff member is in now
    (``accounts.staff_units``): the supervisor of that unit sees and manages it."""
    units_now = accounts.staff_units(conn)
    return [dict(r) | ({"unit_id": units_now.get(r["id"], r["unit_id"])}
                       if r["role"] == "staff" else {}) for r in rows]


class Refused(Forbidden):
    """A change of an account that the rules forbid; ``key`` names the message."""

    def __init__(self, key: str, detail: str):
        super().__init__(detail, code=key)
        self.key = key


def set_active(conn: Connection, viewer: dict, username: str, active: bool,
               allowed: set[str], now: dt.datetime, ip: str | None = None) -> dict:
    """Switch an account on or off, within the rules above; returns the account."""
    if not active:
        # Two admins deactivating each other at the same moment each counted the other as
        # still active, and on PostgreSQL no active admin was left. Locking the active admin
        # rows first serialises them: the second one sees the first one's change. (SQLite
        # has one writer at a time; it ignores FOR UPDATE.)
        conn.execute(select(users.c.id).where(users.c.role == "admin",
                                              users.c.active.is_(True)).with_for_update())
    found = _following_staff(conn, conn.execute(select(*(users.c[c] for c in COLUMNS))
                                                .where(users.c.username == username)).mappings())
    row = found[0] if found else None
    if row is None or not _visible(viewer, row, allowed,
                                   scope.allowed_regions(conn, viewer)):
        raise NotFound(f"user {username!r} does not exist")
    if not may_manage(viewer, row):
        raise Refused("cannot_manage_user", f"you may not change the account {username!r}")
    if not active and row["id"] == viewer["id"]:
        raise Refused("cannot_deactivate_self", "you cannot deactivate your own account")
    if not active and row["role"] == "admin" and row["active"]:
        others = conn.execute(select(func.count()).select_from(users).where(
            users.c.role == "admin", users.c.active.is_(True), users.c.id != row["id"])).scalar()
        if not others:
            raise Refused("cannot_deactivate_last_admin",
                          "the last active admin cannot be deactivated")
    return accounts.set_active(conn, username, active, now, actor=viewer, ip=ip)
