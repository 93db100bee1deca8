"""What a user may see: the unit ids of their scope. Every dashboard query goes through here.

- admin: every unit; viewer without a scope: every unit (read only)
- supervisor (or viewer with a region): the units of their region and all regions below it
- unit_manager (or viewer with a unit): their one unit
- staff: no unit at all here (no ratings, no cases); they reach only the assessment pages,
  which check their own unit and staff id themselves (``assessment_routes``)
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import Connection

from ..errors import Forbidden, NotFound
from ..schema import regions, units, windows

RANK = {"viewer": 0, "unit_manager": 1, "supervisor": 2, "admin": 3}


def region_subtree(conn: Connection, region_id: str) -> set[str]:
    """``region_id`` and every region below it."""
    children: dict = {}
    for rid, parent in conn.execute(select(regions.c.id, regions.c.parent_id)).all():
        children.setdefault(parent, []).append(rid)
    out, todo = set(), [region_id]
    while todo:
        rid = todo.pop()
        if rid in out:
            continue
        out.add(rid)
        todo.extend(children.get(rid, ()))
    return out


def allowed_units(conn: Connection, user: dict) -> set[str]:
    """The unit ids ``user`` may see."""
    if user["role"] == "staff":
        return set()
    if user.get("unit_id"):
        return {user["unit_id"]}
    if user.get("region_id"):
        tree = region_subtree(conn, user["region_id"])
        return set(conn.execute(select(units.c.id).where(units.c.region_id.in_(tree))).scalars())
    if user["role"] in ("admin", "viewer"):
        return set(conn.execute(select(units.c.id)).scalars())
    return set()


def scope_name(conn: Connection, user: dict) -> str | None:
    """The name of the user's unit or region (None: every unit); pages showed the code."""
    if user.get("unit_id"):
        return conn.execute(select(units.c.name).where(units.c.id == user["unit_id"])).scalar()
    if user.get("region_id"):
        return conn.execute(select(regions.c.name)
                            .where(regions.c.id == user["region_id"])).scalar()
    return None


def allowed_regions(conn: Connection, user: dict) -> set[str] | None:
    """Region ids the user may drill into (None: all)."""
    if user.get("unit_id") or user["role"] == "staff":
        return set()
    if user.get("region_id"):
        return region_subtree(conn, user["region_id"])
    return None


def stats_filter(user: dict) -> dict:
    """Keyword arguments narrowing ``stats.compute`` to the user's scope at the source."""
    if user["role"] == "staff":
        return {"unit": "(staff account: no unit)"}  # matches no unit: staff see no ratings
    if user.get("unit_id"):
        return {"unit": user["unit_id"]}
    if user.get("region_id"):
        return {"region": user["region_id"]}
    return {}


def check_unit(conn: Connection, user: dict, unit_id: str) -> None:
    """Refuse a unit outside the scope (404 for an unknown unit, 403 for another's)."""
    if unit_id not in allowed_units(conn, user):
        exists = conn.execute(select(units.c.id).where(units.c.id == unit_id)).first()
        if exists is None:
            raise NotFound(f"unit {unit_id!r} does not exist")
        raise Forbidden(f"unit {unit_id!r} is outside your scope")


def check_region(conn: Connection, user: dict, region_id: str) -> None:
    """Refuse a region outside the scope (404 for an unknown region, 403 for another's)."""
    exists = conn.execute(select(regions.c.id).where(regions.c.id == region_id)).first()
    if exists is None:
        raise NotFound(f"region {region_id!r} does not exist")
    ok = allowed_regions(conn, user)
    if ok is not None and region_id not in ok:
        raise Forbidden(f"region {region_id!r} is outside your scope")


def window_unit(conn: Connection, user: dict, window_id: str) -> str:
    """The unit of a window the user may see (else 404/403)."""
    unit_id = conn.execute(select(windows.c.unit_id).where(windows.c.id == window_id)).scalar()
    if unit_id is None:
        raise NotFound(f"window {window_id!r} does not exist")
    check_unit(conn, user, unit_id)
    return unit_id


def require_role(user: dict, minimum: str) -> None:
    if RANK.get(user["role"], -1) < RANK[minimum] or (minimum != "viewer"
                                                      and user["role"] == "viewer"):
        raise Forbidden(f"this needs the role {minimum} or higher")
