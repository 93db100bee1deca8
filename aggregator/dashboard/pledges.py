"""Public pledges (承诺) of staff members and windows, their items and how each was kept
(践诺): status ``kept`` | ``in_progress`` | ``broken`` with evidence notes.

A unit's fulfilment rate is kept items ÷ all items of its active pledges, so an item left
"in progress" never counts as kept.

>>> fulfilment_rate({"kept": 3, "in_progress": 1, "broken": 0})
0.75
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection

from .. import org
from ..errors import BadRequest, NotFound
from ..schema import staff, units, windows
from .assessment_tables import pledge_items, pledges

STATUSES = ("kept", "in_progress", "broken")
OWNERS = ("staff", "window")
MAX_TITLE, MAX_ITEMS = 500, 20


def fulfilment_rate(counts: dict) -> float | None:
    total = sum(counts.get(s, 0) for s in STATUSES)
    return round(counts.get("kept", 0) / total, 4) if total else None


def _owner_unit(conn: Connection, kind: str, owner_id: str) -> str | None:
    table = staff if kind == "staff" else windows
    return conn.execute(select(table.c.unit_id).where(table.c.id == owner_id)).scalar()


def create(conn: Connection, kind: str, owner_id: str, title: str, items: list[str],
           allowed: set[str], now: dt.datetime) -> int:
    """A pledge of a staff member or window in the scope, with its items (in progress)."""
    if kind not in OWNERS:
        raise BadRequest(f"owner must be staff or window, got {kind!r:.20}", field="owner")
    unit_id = _owner_unit(conn, kind, owner_id)
    if unit_id is None or unit_id not in allowed:
        raise NotFound(f"no {kind} {owner_id!r} in your scope")
    title = _title(title)
    items = [i.strip() for i in items if i and i.strip()]
    if not items or len(items) > MAX_ITEMS:
        raise BadRequest("a pledge needs 1-20 items, one per line", field="items",
                         detail_args={"msg": "too_many_items", "max": MAX_ITEMS,
                                      "count": len(items)} if items
                         else {"msg": "required", "field": "items"})
    pledge_id = conn.execute(pledges.insert().values(
        unit_id=unit_id, owner_kind=kind, owner_id=owner_id, title=title, active=True,
        created_at=now)).inserted_primary_key[0]
    conn.execute(pledge_items.insert(), [
        {"pledge_id": pledge_id, "text": text[:1000], "status": "in_progress",
         "evidence": None, "updated_at": now, "updated_by": None} for text in items])
    _kiosks_pull(conn, kind)
    return pledge_id


def _kiosks_pull(conn: Connection, kind: str) -> None:
    """A new config version when a staff member's pledge changed: the kiosk shows it
    (``device_config.pledge_text``), and the page said it would while no kiosk ever had it."""
    if kind == "staff":
        org.bump_version(conn)


def _title(title: str | None) -> str:
    """A pledge's title, stripped; refused when empty (the form's ``required`` lets spaces
    through) or too long."""
    title = (title or "").strip()
    if not title or len(title) > MAX_TITLE:
        raise BadRequest("a pledge needs a title of 1-500 characters", field="title",
                         detail_args={"msg": "too_long", "field": "title", "limit": MAX_TITLE,
                                      "length": len(title)} if title
                         else {"msg": "required", "field": "title"})
    return title


def _active(conn: Connection, pledge_id: int, allowed: set[str]) -> dict:
    row = conn.execute(select(pledges).where(pledges.c.id == pledge_id, pledges.c.active.is_(True))) \
        .mappings().first()
    if row is None or row["unit_id"] not in allowed:
        # from the page: another manager withdrew it since the page was loaded
        raise NotFound(f"pledge {pledge_id} does not exist", detail_args={"msg": "pledge_gone"})
    return dict(row)


def snapshot(conn: Connection, pledge_id: int) -> dict:
    """A pledge's title and item texts, for the audit log."""
    title = conn.execute(select(pledges.c.title).where(pledges.c.id == pledge_id)).scalar()
    texts = conn.execute(select(pledge_items.c.id, pledge_items.c.text)
                         .where(pledge_items.c.pledge_id == pledge_id)
                         .order_by(pledge_items.c.id)).all()
    return {"title": title, "items": {str(i): text for i, text in texts}}


def correct(conn: Connection, pledge_id: int, title: str, texts: dict[int, str],
            added: list[str], allowed: set[str], now: dt.datetime) -> None:
    """Correct a pledge's title and item texts and add items; an item keeps its status and
    evidence (a correction of wording is not a new promise)."""
    kind = _active(conn, pledge_id, allowed)["owner_kind"]
    title = _title(title)
    own = sorted(conn.execute(select(pledge_items.c.id)
                              .where(pledge_items.c.pledge_id == pledge_id)).scalars())
    added = [a.strip() for a in added if a and a.strip()]
    if len(own) + len(added) > MAX_ITEMS:
        raise BadRequest("a pledge has at most 20 items", field="items", detail_args={
            "msg": "too_many_items", "max": MAX_ITEMS, "count": len(own) + len(added)})
    for item_id, text in texts.items():
        text = (text or "").strip()
        if item_id not in own:
            raise NotFound(f"pledge item {item_id} is not an item of pledge {pledge_id}")
        if not text:
            # named by its place on the form ("承诺事项 2"), which lists the items by id
            raise BadRequest("an item's text cannot be empty (withdraw the pledge instead)",
                             field=f"item-{item_id}", detail_args={
                                 "msg": "item_text_empty", "position": own.index(item_id) + 1})
        conn.execute(update(pledge_items).where(pledge_items.c.id == item_id)
                     .values(text=text[:1000]))
    conn.execute(update(pledges).where(pledges.c.id == pledge_id).values(title=title))
    if added:
        conn.execute(pledge_items.insert(), [
            {"pledge_id": pledge_id, "text": text[:1000], "status": "in_progress",
             "evidence": None, "updated_at": now, "updated_by": None} for text in added])
    _kiosks_pull(conn, kind)


def withdraw(conn: Connection, pledge_id: int, allowed: set[str]) -> None:
    """Withdraw a pledge: no longer public or counted; its rows stay."""
    kind = _active(conn, pledge_id, allowed)["owner_kind"]
    conn.execute(update(pledges).where(pledges.c.id == pledge_id).values(active=False))
    _kiosks_pull(conn, kind)


def set_item(conn: Connection, item_id: int, status: str, evidence: str, user: dict,
             allowed: set[str], now: dt.datetime) -> dict:
    """Record how an item of an active pledge was kept, with the evidence (required unless
    in progress). An empty evidence field keeps the evidence there was: evidence is
    replaced by new text, never wiped. Returns ``{"before", "after"}`` (status and
    evidence), for the audit log."""
    if status not in STATUSES:
        raise BadRequest(f"status must be one of {', '.join(STATUSES)}, got {status!r:.20}",
                         field="status")
    i = pledge_items.c
    row = conn.execute(select(pledges.c.unit_id, pledges.c.active, i.status, i.evidence)
                       .join(pledge_items, i.pledge_id == pledges.c.id)
                       .where(i.id == item_id)).mappings().first()
    if row is None or row["unit_id"] not in allowed:
        raise NotFound(f"pledge item {item_id} does not exist")
    if not row["active"]:
        # a withdrawn pledge is no longer public or counted: its items are not changed
        # behind it (as correcting refuses it)
        raise NotFound(f"pledge item {item_id} belongs to a withdrawn pledge",
                       detail_args={"msg": "pledge_gone"})
    # "in progress" with the box cleared wiped the evidence for good, and the audit line
    # kept only the new status: a kept item could be undone without trace.
    evidence = (evidence or "").strip()[:2000] or row["evidence"]
    if status != "in_progress" and not evidence:
        raise BadRequest("say what shows the item was kept or broken (evidence)",
                         field="evidence", detail_args={"msg": "evidence_required",
                                                        "status": status})
    conn.execute(update(pledge_items).where(i.id == item_id).values(
        status=status, evidence=evidence, updated_at=now,
        updated_by=user.get("display_name") or user["username"]))
    return {"before": {"status": row["status"], "evidence": row["evidence"]},
            "after": {"status": status, "evidence": evidence}}


def list_for(conn: Connection, unit_ids: set[str]) -> list[dict]:
    """Active pledges of the units with owner and unit names and their items, newest
    first."""
    p, i = pledges.c, pledge_items.c
    rows = [dict(r) for r in conn.execute(
        select(pledges).where(p.unit_id.in_(sorted(unit_ids)), p.active.is_(True))
        .order_by(p.unit_id, p.id.desc())).mappings()]
    staff_names = dict(conn.execute(select(staff.c.id, staff.c.name)).all())
    window_names = dict(conn.execute(select(windows.c.id, windows.c.name)).all())
    unit_names = _unit_names(conn, {r["unit_id"] for r in rows})
    items: dict[int, list] = {}
    if rows:
        for r in conn.execute(select(pledge_items).where(i.pledge_id.in_([x["id"] for x in rows]))
                              .order_by(i.id)).mappings():
            items.setdefault(r["pledge_id"], []).append(dict(r))
    for r in rows:
        names = staff_names if r["owner_kind"] == "staff" else window_names
        r["owner_name"] = names.get(r["owner_id"], r["owner_id"])
        r["unit_name"] = unit_names.get(r["unit_id"], r["unit_id"])
        r["items"] = items.get(r["id"], [])
        r["counts"] = {s: sum(1 for x in r["items"] if x["status"] == s) for s in STATUSES}
        r["rate"] = fulfilment_rate(r["counts"])
    return rows


def unit_fulfilment(conn: Connection, unit_ids: set[str]) -> dict[str, dict]:
    """Per unit: item counts by status, the fulfilment rate (active pledges) and the unit's
    ``name`` (the pages named units by their ids)."""
    p, i = pledges.c, pledge_items.c
    out: dict[str, dict] = {u: dict.fromkeys(STATUSES, 0) for u in unit_ids}
    q = (select(p.unit_id, i.status, func.count()).join(pledges, p.id == i.pledge_id)
         .where(p.unit_id.in_(sorted(unit_ids)), p.active.is_(True))
         .group_by(p.unit_id, i.status))
    for unit_id, status, n in conn.execute(q).all():
        out[unit_id][status] = int(n)
    names = _unit_names(conn, unit_ids)
    for unit_id, counts in out.items():
        counts["total"] = sum(counts[s] for s in STATUSES)
        counts["rate"] = fulfilment_rate(counts)
        counts["name"] = names.get(unit_id, unit_id)
    return out


def _unit_names(conn: Connection, unit_ids: set[str]) -> dict[str, str]:
    if not unit_ids:
        return {}
    return dict(conn.execute(select(units.c.id, units.c.name)
                             .where(units.c.id.in_(sorted(unit_ids)))).all())
