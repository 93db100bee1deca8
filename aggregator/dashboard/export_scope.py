"""Which part of a user's scope the per-rating export covers: one unit, one region (and the
regions below it), or the whole scope; the choices of the export form's picker, and the check
of a chosen unit or region (never outside the scope: 404 for an unknown code, 403 for
another's). The dashboard route and ``aggregator export-ratings`` both resolve through here.

>>> Part.parse("region:R-1"), Part.parse("unit:U-01"), Part.parse("")
(Part(kind='region', id='R-1'), Part(kind='unit', id='U-01'), None)
>>> Part("unit", "U-01").value
'unit:U-01'
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Connection

from ..errors import BadRequest
from ..schema import regions, units
from . import scope


@dataclass(frozen=True)
class Part:
    """A unit or a region chosen for an export (None is the whole scope)."""

    kind: str   # "unit" or "region"
    id: str

    @property
    def value(self) -> str:
        """The picker's option value."""
        return f"{self.kind}:{self.id}"

    @classmethod
    def parse(cls, value: str | None) -> "Part | None":
        """The picker's ``scope`` value: ``unit:ID``, ``region:ID`` or empty (everything)."""
        if not value:
            return None
        kind, sep, ident = value.partition(":")
        if not sep or kind not in ("unit", "region") or not ident:
            raise BadRequest(f"scope must be unit:ID or region:ID, got {value!r:.60}",
                             field="scope")
        return cls(kind, ident)

    @classmethod
    def of(cls, unit: str | None, region: str | None, picked: str | None = None
           ) -> "Part | None":
        """One part from ``unit=``, ``region=`` (links, the command line) or the picker's
        ``scope=``; more than one of them is refused rather than one silently winning."""
        given = [p for p in (cls("unit", unit) if unit else None,
                             cls("region", region) if region else None,
                             cls.parse(picked)) if p is not None]
        if len({p.value for p in given}) > 1:
            raise BadRequest("choose one unit or one region, not "
                             + " and ".join(p.value for p in given), field="scope")
        return given[0] if given else None


def units_of(conn: Connection, user: dict, allowed: set, part: Part | None) -> tuple:
    """The unit ids an export of ``part`` covers, sorted; refuses a part outside the scope
    (``user``'s region or unit; ``allowed`` is their units)."""
    if part is None:
        return tuple(sorted(allowed))
    if part.kind == "unit":
        scope.check_unit(conn, user, part.id)
        return (part.id,)
    scope.check_region(conn, user, part.id)
    tree = scope.region_subtree(conn, part.id)
    inside = conn.execute(select(units.c.id).where(units.c.region_id.in_(sorted(tree))))
    return tuple(sorted(set(inside.scalars()) & allowed))


def choices(conn: Connection, user: dict, allowed: set) -> list[dict]:
    """The picker's groups, in region-tree order: ``{"label": region path or None, "region":
    the region's own option or None, "units": [{"id", "name"}], "loose": units of no
    region}``. Only regions and units
    inside the scope; a unit-scoped user gets their one unit and no region."""
    unit_rows = conn.execute(select(units.c.id, units.c.name, units.c.region_id)
                             .where(units.c.id.in_(sorted(allowed)))
                             .order_by(units.c.id)).all() if allowed else []
    by_region: dict = {}
    for u in unit_rows:
        by_region.setdefault(u.region_id, []).append({"id": u.id, "name": u.name or u.id})
    ok = scope.allowed_regions(conn, user)
    if ok is not None and not ok:   # a unit's manager (or viewer): no region to choose
        return [{"label": None, "region": None, "units": [u for us in by_region.values()
                                                         for u in us]}]
    rows = conn.execute(select(regions.c.id, regions.c.name, regions.c.parent_id)
                        .order_by(regions.c.id)).all()
    names = {r.id: r.name or r.id for r in rows}
    children: dict = {}
    for r in rows:
        children.setdefault(r.parent_id if r.parent_id in names else None, []).append(r.id)
    groups, seen = [], set()

    def walk(region_id: str, path: list[str]) -> None:
        if region_id in seen:   # a cycle in the region table must not hang the page
            return
        seen.add(region_id)
        inside = ok is None or region_id in ok
        path = [*path, names[region_id]] if inside else path   # not the regions above it
        own = region_id != user.get("region_id")   # the whole scope is the first option
        if inside and (own or by_region.get(region_id)):   # no empty group
            groups.append({"label": " › ".join(path), "units": by_region.get(region_id, []),
                           "region": {"id": region_id, "name": names[region_id]}
                           if own else None})
        for child in children.get(region_id, []):
            walk(child, path)

    for root in children.get(None, []):
        walk(root, [])
    loose = [u for rid, us in by_region.items() if rid not in seen for u in us]
    if loose:   # units of no region (or of one the table no longer has): admins see them
        groups.append({"label": None, "region": None, "units": loose, "loose": True})
    return groups
