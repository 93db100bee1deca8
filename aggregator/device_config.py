"""The configuration a kiosk pulls (docs/protocol.md ``GET /api/v1/config``).

The ETag is a hash of the content, so it changes exactly when something a kiosk shows or uses
changes (``trigger.burst_count`` and ``burst_seconds`` come from the server's settings: a
restart with other values gives every kiosk a new ETag, and it pulls them).
Star levels come from the newest published assessment of the window's unit (docs/assessment.md):
a roster member's ``stars`` is their computed level there (else the roster's own value), the
window has ``window.stars``, and ``award`` is the rotating award (流动红旗) when this window won
it in that period, else null. A roster member's ``pledge`` is the text of their newest active
pledge of the 承诺践诺 page (``pledge_text``), else the roster's 承诺.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import or_, select
from sqlalchemy.engine import Connection

from sync.protocol import canonical_json

from . import constants as C
from . import org, qr
from .errors import Forbidden
from .schema import photos, service_items, staff, units, windows
from .settings import Settings


def pledge_text(title: str, items: list[str]) -> str:
    """A pledge of the 承诺践诺 page as the kiosk's idle screen shows a staff member's pledge
    (its text, line by line): the title, then the items numbered.

    >>> pledge_text("服务承诺", ["一次告知", "马上就办"])
    '服务承诺\n1. 一次告知\n2. 马上就办'
    """
    return "\n".join([title] + [f"{n}. {text}" for n, text in enumerate(items, start=1)])


def _pledge_texts(conn: Connection, staff_ids: list[str]) -> dict[str, str]:
    """staff id → the text of their newest active pledge (``pledge_text``). A pledge made or
    corrected on the 承诺践诺 page, which says kiosks show it, never reached one: the kiosk
    had only the roster's 承诺 column."""
    from .dashboard.assessment_tables import pledge_items, pledges

    if not staff_ids:
        return {}
    p, i = pledges.c, pledge_items.c
    newest: dict[str, int] = {}
    for pledge_id, owner in conn.execute(
            select(p.id, p.owner_id).where(p.owner_kind == "staff", p.active.is_(True),
                                           p.owner_id.in_(staff_ids)).order_by(p.id)):
        newest[owner] = pledge_id
    if not newest:
        return {}
    titles = dict(conn.execute(select(p.id, p.title).where(p.id.in_(newest.values()))).all())
    items: dict[int, list[str]] = {}
    for pledge_id, text in conn.execute(select(i.pledge_id, i.text)
                                        .where(i.pledge_id.in_(newest.values())).order_by(i.id)):
        items.setdefault(pledge_id, []).append(text)
    return {owner: pledge_text(titles[pid], items.get(pid, [])) for owner, pid in newest.items()}


def _stored_photos(conn: Connection, hashes: list[str]) -> set[str]:
    """Which of ``hashes`` name a stored photo. A roster member's ``photo`` is sent only then:
    a hash stored before photos were checked (any 64 characters, an upper-case one, a file
    name) had every kiosk of the window ask for it at each config pull, for ever, and show the
    avatar; without it the kiosk shows the avatar at once and asks nothing (migration 54
    repairs or clears such hashes; this keeps one that comes later off the kiosks)."""
    if not hashes:
        return set()
    return set(conn.execute(select(photos.c.sha256)
                            .where(photos.c.sha256.in_(sorted(set(hashes))))).scalars())


def build(conn: Connection, device: dict, settings: Settings) -> dict:
    """The config of ``device``'s window, with its ``etag``."""
    window = conn.execute(select(windows).where(windows.c.id == device["window_id"])) \
        .mappings().first()
    if window is None or not window["active"]:
        raise Forbidden(f"window {device['window_id']!r} of this device does not exist or is "
                        "closed", code="window_forbidden")
    unit = conn.execute(select(units).where(units.c.id == window["unit_id"])).mappings().first()
    roster = conn.execute(
        select(staff).where(staff.c.active.is_(True), staff.c.unit_id == window["unit_id"],
                            or_(staff.c.window_id.is_(None), staff.c.window_id == window["id"]))
        .order_by(staff.c.id)).mappings().all()
    items = conn.execute(
        select(service_items).where(or_(service_items.c.unit_id.is_(None),
                                        service_items.c.unit_id == window["unit_id"]),
                                    service_items.c.retired_at.is_(None))  # retired: history only
        .order_by(service_items.c.code)).mappings().all()
    pledged = _pledge_texts(conn, [s["id"] for s in roster])
    stored_photos = _stored_photos(conn, [s["photo_sha256"] for s in roster if s["photo_sha256"]])
    scale = unit["scale"] if unit else 5
    from .dashboard import assessment_store  # the dashboard imports this package, not the reverse

    assessed = assessment_store.for_kiosk(conn, window["id"], window["unit_id"])
    computed = assessed["staff_stars"]
    body = {
        "version": org.config_version(conn),
        "window": {"id": window["id"], "name": window["name"], "unit_id": window["unit_id"],
                   "unit_name": unit["name"] if unit else None,
                   "hotline": (unit["hotline"] if unit else None) or settings.hotline,
                   "stars": assessed["window_stars"]},
        "scale": scale,
        "trigger": {"mode": unit["trigger_mode"] if unit else "open",
                    "lockout_seconds": unit["lockout_seconds"] if unit else 10,
                    "invite_timeout_seconds": unit["invite_timeout_seconds"] if unit else 20,
                    # the burst rule is the server's, like the lockout: a kiosk's own
                    # trigger.burst_count was set on the kiosk alone, where nobody saw it
                    "burst_count": settings.kiosk_burst_count,
                    "burst_seconds": settings.kiosk_burst_seconds},
        "roster": [{"staff_id": s["id"], "name": s["name"], "staff_no": s["staff_no"],
                    "post": s["post"], "party_member": s["party_member"],
                    "stars": computed.get(s["id"], s["stars"]),
                    "pledge": pledged.get(s["id"], s["pledge"]), "badge": s["badge"], "pin_hash": s["pin_hash"],
                    "photo": s["photo_sha256"] if s["photo_sha256"] in stored_photos else None}
                   for s in roster],
        "service_items": [{"code": i["code"], "name": i["name"], "time_limit": i["time_limit"]}
                          for i in items],
        "reasons": {"version": C.REASONS_VERSION,
                    **{level: list(codes) for level, codes in C.REASONS.items()}},
        "award": {"kind": "red_flag", "period": assessed["period"]} if assessed["award"] else None,
        "qr_base_url": settings.public_url.rstrip("/") + "/r/",
        # Key for the kiosk's follow-up QR tokens (aggregator.qr.follow_up_token).
        "follow_up_qr_key": qr.window_key(settings.secret, window["id"]),
    }
    body["etag"] = hashlib.sha256(canonical_json(body)).hexdigest()[:32]
    return body
