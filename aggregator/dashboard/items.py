"""Service items (事项) on the roster page: add, edit, retire and restore.

Ratings keep only an item's code, and rankings and drill-downs of past months name it from
``service_items``; so an item is never deleted but retired (``retired_at``): the kiosks no
longer offer it (``device_config``), its name stays for history. Adding a code that exists
does not overwrite it unless the user confirmed it (``Exists``). Every change bumps the
config version the kiosks pull.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import or_, select, update
from sqlalchemy.engine import Connection

from .. import org
from ..errors import BadRequest, Conflict, Forbidden, NotFound
from ..schema import service_items

MODES = ("new", "edit")


class Exists(Conflict):
    """An item with this code exists; adding it again needs the user's confirmation."""

    code = "item_exists"

    def __init__(self, item: dict, asked: dict):
        super().__init__(f"service item {item['code']!r} already exists", field="code")
        self.item, self.asked = item, asked


def list_for(conn: Connection, allowed: set[str]) -> list[dict]:
    """Items of the units in scope and the shared ones (no unit); in use first."""
    rows = [dict(r) for r in conn.execute(
        select(service_items).where(or_(service_items.c.unit_id.in_(sorted(allowed)),
                                        service_items.c.unit_id.is_(None)))
        .order_by(service_items.c.unit_id, service_items.c.code)).mappings()]
    return sorted(rows, key=lambda r: r["retired_at"] is not None)


def _own(conn: Connection, code: str, allowed: set[str]) -> dict | None:
    """The stored item ``code`` (None when there is none), refused when it is another
    unit's or shared by all units (those are managed through the admin API)."""
    row = conn.execute(select(service_items).where(service_items.c.code == code)) \
        .mappings().first()
    if row is not None and row["unit_id"] not in allowed:
        # the add form, with a code another unit (or every unit: a shared item) uses
        raise Forbidden(f"service item {code!r} belongs to another unit",
                        detail_args={"msg": "item_other_unit", "value": code})
    return dict(row) if row is not None else None


def save(conn: Connection, data: dict, mode: str, overwrite: bool,
         allowed: set[str]) -> dict:
    """Add (``mode="new"``) or edit an item; returns ``{"item", "before"}``.

    A new item whose code exists raises ``Exists`` unless ``overwrite``; overwriting a
    retired item puts it back in use. Editing an item that is not there is NotFound."""
    if mode not in MODES:
        raise BadRequest(f"mode must be new or edit, got {mode!r:.20}", field="mode")
    row = org.clean("service_items", data)
    before = _own(conn, row["code"], allowed)
    if mode == "edit" and before is None:
        raise NotFound(f"service item {row['code']!r} does not exist")
    if mode == "new" and before is not None and not overwrite:
        raise Exists(before, row)
    org.check(conn, "service_items", row)
    if mode == "new" and before is not None:
        row["retired_at"] = None
    org.store(conn, "service_items", row)
    return {"item": row, "before": before}


def set_retired(conn: Connection, code: str, retired: bool, allowed: set[str],
                now: dt.datetime) -> dict:
    """Retire an item (kiosks stop offering it) or put it back in use; returns the item."""
    row = _own(conn, code, allowed)
    if row is None:
        raise NotFound(f"service item {code!r} does not exist")
    if (row["retired_at"] is not None) == retired:
        return row   # as it was: a second click bumped the config version of every kiosk
    conn.execute(update(service_items).where(service_items.c.code == code)
                 .values(retired_at=now if retired else None))
    org.bump_version(conn)
    return row
