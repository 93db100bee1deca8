"""The organisation: regions, units (halls, service stations), windows, staff, service items.

Each entity is declared once in ``ENTITIES`` (column → kind, required, default); ``clean``
checks a dict against it and ``save`` upserts it. Every change bumps the config version the
kiosks pull.

>>> clean("windows", {"id": "W-1", "name": "民政窗口", "unit_id": "U-1"})["active"]
True

Each refusal is a ``BadRequest`` naming its ``field``, with an English ``detail`` (the API,
the command line) and its ``detail_args``: the message name and values the dashboard words
in the page's language (``dashboard/i18n_problems.py``).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from kiosk.config import BY_NAME as KIOSK_SETTINGS
from kiosk.pin import pin_hash_problem, pin_problem

from . import constants as C
from .db import insert_ignore
from .errors import BadRequest, NotFound
from .schema import devices, meta_kv, photos, regions, service_items, staff, units, windows


def _kiosk_range(name: str) -> str:
    """The ``int:lo:hi`` kind of the kiosk setting ``name``, from its declaration."""
    setting = KIOSK_SETTINGS[name]
    return f"int:{int(setting.min)}:{int(setting.max)}"


# column: (kind, required, default); kind is "str:N", "int:lo:hi", "bool" or a tuple of choices
ENTITIES = {
    "regions": {"id": ("str:64", True, None), "name": ("str:200", True, None),
                "level": (C.REGION_LEVELS, True, None), "parent_id": ("str:64", False, None)},
    "units": {"id": ("str:64", True, None), "name": ("str:200", True, None),
              "region_id": ("str:64", False, None), "hotline": ("str:32", False, None),
              "scale": ((5, 4), False, 5), "trigger_mode": (C.TRIGGER_MODES, False, "open"),
              # the kiosk's own limits (kiosk/config.py): it keeps its value for one outside
              # them, and an invitation timeout of 1 s recorded every invitation "not rated"
              "lockout_seconds": (_kiosk_range("trigger.lockout_seconds"), False, 10),
              "invite_timeout_seconds": (_kiosk_range("trigger.invite_timeout_seconds"), False,
                                         20)},
    "windows": {"id": ("str:64", True, None), "name": ("str:200", True, None),
                "unit_id": ("str:64", True, None), "active": ("bool", False, True)},
    "staff": {"id": ("str:64", True, None), "name": ("str:100", True, None),
              "staff_no": ("str:32", False, None), "post": ("str:100", False, None),
              "party_member": ("bool", False, False), "stars": ("int:0:5", False, 0),
              "pledge": ("str:2000", False, None), "badge": ("str:64", False, None),
              "pin": ("str:32", False, None), "pin_hash": ("str:200", False, None),
              "photo_sha256": ("str:64", False, None), "unit_id": ("str:64", False, None),
              "window_id": ("str:64", False, None), "active": ("bool", False, True)},
    "service_items": {"code": ("str:64", True, None), "name": ("str:200", True, None),
                      "time_limit": ("str:64", False, None), "unit_id": ("str:64", False, None)},
}
TABLES = {"regions": regions, "units": units, "windows": windows, "staff": staff,
          "service_items": service_items}
# column → table it must name an existing row of
REFERENCES = {"parent_id": regions, "region_id": regions, "unit_id": units,
              "window_id": windows}
# Control characters but tab, line feed and carriage return: no name, number or pledge needs
# one. A NUL was a 500 on PostgreSQL, and openpyxl refuses the others, so one in a staff
# name (a roster file is easily made with one) broke that period's rankings export.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# A roster's 党员 column is marked √ or ×, or says 中共党员, 群众…: × (and an "x" typed for it)
# means no in Chinese, and was taken as yes; √ and 中共党员 were refused.
TRUE = {"1", "true", "yes", "y", "是", "党员", "中共党员", "预备党员", "√", "✓", "✔"}
# Columns of codes typed or copied from another system: compared by the form NFKC gives
# (Ｓ－００１ is S-001) and refused with an invisible format character (Unicode Cf: U+200B, a
# soft hyphen, a BOM). "S-001\u200b" or "Ｓ－００１" in a roster file made a second person of
# S-001, shown at every window as if one of its staff.
CODE_FIELDS = frozenset({"id", "code", "staff_no", "badge", "unit_id", "window_id",
                         "region_id", "parent_id"})
# characters an id or code may not hold: each changes what a web address means
URL_BREAKING = re.compile(r"[/\\#?%]")
FALSE = {"0", "false", "no", "n", "否", "", "群众", "共青团员", "非党员", "x", "×", "✗", "✘"}


def hash_pin(pin: str, salt: str | None = None, iterations: int = 100_000) -> str:
    """``pbkdf2_sha256$<iterations>$<salt hex>$<hash hex>`` of a staff PIN."""
    salt = salt or secrets.token_hex(8)
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), bytes.fromhex(salt), iterations)
    return f"pbkdf2_sha256${iterations}${salt}${digest.hex()}"


def refused(detail: str, name: str, msg: str, **values) -> BadRequest:
    """The ``BadRequest`` of a bad value of column ``name``: ``detail`` in English, ``msg``
    and ``values`` for the dashboard's own words."""
    return BadRequest(detail, field=name, detail_args={"msg": msg, "field": name, **values})


def id_form(value: str) -> str:
    """The form an id or code is compared and stored by: NFKC, without surrounding spaces.

    >>> id_form(" Ｓ－００１ ")
    'S-001'
    """
    return unicodedata.normalize("NFKC", value).strip()


def _convert(kind, value, where: str, name: str):
    bad = f"{where}{name}"
    if isinstance(kind, tuple):
        for choice in kind:
            if value == choice or (isinstance(value, str) and value.strip() == str(choice)):
                return choice
        raise refused(f"{bad} must be one of {', '.join(map(str, kind))}, got {value!r}", name,
                      "choice", choices=[str(c) for c in kind], value=value)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, str)) and str(value).strip().lower() in TRUE | FALSE:
            return str(value).strip().lower() in TRUE
        raise refused(f"{bad} must be true or false, got {value!r}", name, "bool", value=value)
    if kind.startswith("int:"):
        _, lo, hi = kind.split(":")
        try:
            if isinstance(value, bool) or isinstance(value, float) and not value.is_integer():
                raise ValueError
            number = int(value.strip() if isinstance(value, str) else value)
        except (TypeError, ValueError):
            raise refused(f"{bad} must be an integer, got {value!r}", name, "integer",
                          value=value) from None
        if not int(lo) <= number <= int(hi):
            raise refused(f"{bad} must be between {lo} and {hi}, got {number}", name, "range",
                          lo=int(lo), hi=int(hi), value=number)
        return number
    limit = int(kind.split(":")[1])
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(int(value)) if float(value).is_integer() else str(value)
    if name in CODE_FIELDS and isinstance(value, str):
        invisible = next((i for i, ch in enumerate(value) if unicodedata.category(ch) == "Cf"),
                         None)
        if invisible is not None:
            char = f"U+{ord(value[invisible]):04X}"
            raise refused(f"{bad} holds the invisible character {char} at position "
                          f"{invisible + 1}; delete it, got {value!r:.80}", name, "control",
                          char=char, position=invisible + 1)
        value = id_form(value)
    if not isinstance(value, str) or len(value.strip()) > limit:
        detail = f"{bad} must be text of at most {limit} characters, got {value!r:.80}"
        if not isinstance(value, str):   # a date or a formula's error in a spreadsheet cell
            raise refused(detail, name, "not_text", limit=limit, value=value)
        raise refused(detail, name, "too_long", limit=limit, length=len(value.strip()))
    control = CONTROL.search(value)
    if control:
        raise refused(f"{bad} holds the control character U+{ord(control.group()):04X} at "
                      f"position {control.start() + 1}, got {value!r:.80}", name, "control",
                      char=f"U+{ord(control.group()):04X}", position=control.start() + 1)
    breaks = URL_BREAKING.search(value) if name in ("id", "code") else None
    if breaks:
        # An id is part of its pages' addresses (/r/<window>, /dashboard/windows/<window>,
        # /dashboard/roster/staff/<id>): "W#7" sent the phone page's form elsewhere and lost
        # the rating, "民政/9" was a 404.
        raise refused(f"{bad} must not contain {breaks.group()!r} (it is part of web "
                      f"addresses); got {value!r:.80}", name, "id_char", char=breaks.group(),
                      value=value.strip())
    return value.strip()


def clean(entity: str, data, where: str = "") -> dict:
    """``data`` checked and converted for ``entity``; unknown keys are errors."""
    spec = ENTITIES[entity]
    if not isinstance(data, dict):
        raise BadRequest(f"{where}{entity} item must be an object", field="body")
    unknown = sorted(set(data) - set(spec))
    if unknown:
        raise refused(f"{where}unknown field {unknown[0]!r}; known: {', '.join(spec)}",
                      unknown[0], "unknown_field", known=list(spec))
    out = {}
    for name, (kind, required, default) in spec.items():
        value = data.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise refused(f"{where}{name} is required", name, "required")
            out[name] = default
            continue
        out[name] = _convert(kind, value, where, name)
    if entity == "staff":
        _check_pins(out, where)
        pin = out.pop("pin")
        if pin:
            out["pin_hash"] = hash_pin(pin)
    return out


def _check_pins(row: dict, where: str) -> None:
    """A staff PIN is one the kiosk keypad types (4-12 digits 0-9) and a ``pin_hash`` one the
    kiosk checks (kiosk/pin.py): "abcd", "１２３４" and "12 34" were taken and no one could
    sign in with them, and a hash of 999,999,999 iterations froze the kiosk for minutes."""
    if row.get("pin"):
        problem = pin_problem(row["pin"])
        if problem:
            raise refused(f"{where}pin {problem}", "pin", "pin_digits")
    if row.get("pin_hash"):
        problem = pin_hash_problem(row["pin_hash"])
        if problem:
            raise refused(f"{where}pin_hash {problem}", "pin_hash", "pin_hash_form")


def check_references(conn: Connection, row: dict, where: str = "",
                     pending: dict | None = None) -> None:
    for name, table in REFERENCES.items():
        value = row.get(name)
        if value is None or value in (pending or {}).get(table.name, ()):
            continue
        if conn.execute(select(table.c.id).where(table.c.id == value)).first() is None:
            raise refused(f"{where}{name} {value!r} does not exist", name, "missing_ref",
                          value=value)


def check_window_unit(conn: Connection, row: dict, where: str = "") -> None:
    """A staff member's window is one of their unit's: a window of another unit put them on
    no kiosk at all, and showed them at "民政窗口" as if it were their own unit's."""
    if not row.get("window_id"):
        return
    unit = conn.execute(select(windows.c.unit_id).where(windows.c.id == row["window_id"])).scalar()
    if unit is not None and unit != row.get("unit_id"):
        raise refused(f"{where}window_id {row['window_id']!r} belongs to unit {unit!r}, not "
                      f"to {row.get('unit_id')!r}", "window_id",
                      "window_other_unit" if row.get("unit_id") else "window_without_unit",
                      value=row["window_id"], window_unit=unit, unit=row.get("unit_id"))


def sign_in_clash(conn: Connection, row: dict, where: str = "",
                  replaced: frozenset = frozenset()) -> BadRequest | None:
    """The error when an active staff ``row`` would share a badge (anywhere) or a staff
    number (in its unit) with another active staff member, else None.

    A kiosk signs in the first roster member with the badge or number typed, so the second
    person's ratings were counted as the first's. ``replaced``: ids whose stored rows are about
    to be replaced (a roster file checks its own rows against each other).
    """
    if not row.get("active", True):
        return None
    for name in ("badge", "staff_no"):
        value = row.get(name)
        if not value:
            continue
        query = select(staff.c.id, staff.c.name).where(
            staff.c[name] == value, staff.c.id != row["id"], staff.c.active.is_(True))
        if name == "staff_no":
            query = query.where(staff.c.unit_id == row["unit_id"] if row.get("unit_id")
                                else staff.c.unit_id.is_(None))
        other = next((r for r in conn.execute(query) if r.id not in replaced), None)
        if other is not None:
            unit = " in the same unit" if name == "staff_no" else ""
            # the page names the other person (a clerk knows 张三, not S-1003)
            return refused(f"{where}{name} {value!r} is already used by {other.id!r}{unit}: a "
                           "kiosk would sign that person in instead", name, "sign_in_taken",
                           value=value, other=other.id, other_name=other.name)
    return None


def check(conn: Connection, entity: str, row: dict, where: str = "",
          replaced: frozenset = frozenset()) -> None:
    """What a cleaned ``row`` must agree with in the database: the rows it names exist, and a
    staff member's window and sign-in (``replaced``: see ``sign_in_clash``)."""
    check_references(conn, row, where)
    if entity == "staff":
        check_window_unit(conn, row, where)
        clash = sign_in_clash(conn, row, where, replaced)
        if clash is not None:
            raise clash


def save(conn: Connection, entity: str, data, where: str = "") -> dict:
    """Insert or replace one ``entity`` row from ``data``, checked."""
    row = clean(entity, data, where)
    check(conn, entity, row, where)
    return store(conn, entity, row)


def over_stored(conn: Connection, data) -> dict:
    """A staff ``data`` (an API body) over the stored record of its id: fields not sent stay
    as they are, a field sent as null is cleared. Attaching a photo with ``{"id", "name",
    "photo_sha256"}`` replaced the whole record: unit, window, numbers and pledge gone, and the
    person on no kiosk and no manager's roster."""
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        return data
    key = id_form(data["id"])
    stored = conn.execute(select(staff).where(staff.c.id == key)).mappings().first()
    if stored is None:
        return data
    spec = ENTITIES["staff"]
    return {k: v for k, v in stored.items() if k in spec and k != "pin_hash"} | data


def check_photo(conn: Connection, row: dict, where: str = "") -> None:
    """A staff ``photo_sha256`` names a stored photo (``POST /api/v1/photos``): one that does
    not was taken, and the kiosk asked for a photo that is not there."""
    sha = row.get("photo_sha256")
    if sha is not None and conn.execute(
            select(photos.c.sha256).where(photos.c.sha256 == sha)).first() is None:
        raise refused(f"{where}photo_sha256 {sha!r} does not exist; upload the photo first "
                      "(POST /api/v1/photos gives its sha256)", "photo_sha256", "missing_ref",
                      value=sha)


def save_staff(conn: Connection, data, where: str = "") -> dict:
    """Create a staff member or change the fields ``data`` sends (``over_stored``), checked,
    a photo too (the admin API's ``POST /api/v1/staff``)."""
    photo_sent = isinstance(data, dict) and data.get("photo_sha256") is not None
    # a photo sent as null is taken off (a row without one keeps the stored photo: a file)
    photo_cleared = isinstance(data, dict) and "photo_sha256" in data and not photo_sent
    row = clean("staff", over_stored(conn, data), where)
    check(conn, "staff", row, where)
    if photo_sent:
        check_photo(conn, row, where)
    return store(conn, "staff", row, cleared=("photo_sha256",) if photo_cleared else ())


def store(conn: Connection, entity: str, row: dict, cleared: tuple[str, ...] = ()) -> dict:
    """Insert or replace a cleaned and checked ``row`` (``save`` does both; a roster import
    checks its whole file first); a new config version when it changed anything.
    ``cleared``: fields of ``row`` that are None to be stored as None, not kept as stored."""
    if _write(conn, entity, row, cleared=cleared):
        bump_version(conn)
    return row


def store_many(conn: Connection, entity: str, rows: list[dict]) -> int:
    """``store`` each of ``rows`` with one new config version for them all (a 5,000-row roster
    went up 5,000 versions and held the write lock 2.2 s); how many rows changed."""
    table = TABLES[entity]
    key = table.primary_key.columns.values()[0]
    keys = [row[key.name] for row in rows]
    stored = {}
    for start in range(0, len(keys), 500):   # one query per 500 rows, not one per row
        stored.update((r[key.name], dict(r)) for r in conn.execute(
            select(table).where(key.in_(keys[start:start + 500]))).mappings())
    changed = sum(_write(conn, entity, row, stored.get(row[key.name]), known=True)
                  for row in rows)
    if changed:
        bump_version(conn)
    return changed


def _write(conn: Connection, entity: str, row: dict, stored: dict | None = None,
           known: bool = False, cleared: tuple[str, ...] = ()) -> bool:
    """Insert or update ``row``; False, writing nothing, when it is stored as it is.
    ``known``: ``stored`` is the stored row (None: there is none), read beforehand.
    ``cleared``: as ``store``'s."""
    table = TABLES[entity]
    key = table.primary_key.columns.values()[0]
    if entity == "staff" and row.get("pin_hash") is None:
        row.pop("pin_hash")  # keep a stored PIN unless a new one is given
        if row.get("photo_sha256") is None and "photo_sha256" not in cleared:
            row.pop("photo_sha256")
    if not known:
        stored = conn.execute(select(table).where(key == row[key.name])).mappings().first()
    if stored is not None and all(stored[k] == v for k, v in row.items()):
        # Unchanged: no write, no new config version (a form saved as it was, or a roster file
        # imported again, had every kiosk of every unit download its config again).
        return False
    if stored is not None or not insert_ignore(conn, table, [row], returning=key.name):
        conn.execute(update(table).where(key == row[key.name]).values(**row))
    if entity == "windows" and row.get("unit_id"):
        # A window moved to another unit takes its kiosks along: their ratings count for the
        # window's unit, and the device lists and alerts of that unit show them.
        conn.execute(update(devices).where(devices.c.window_id == row["id"],
                                           devices.c.unit_id != row["unit_id"])
                     .values(unit_id=row["unit_id"]))
    return True


def list_rows(conn: Connection, entity: str) -> list[dict]:
    table = TABLES[entity]
    key = table.primary_key.columns.values()[0]
    rows = [dict(r) for r in conn.execute(select(table).order_by(key)).mappings()]
    for r in rows:
        r.pop("pin_hash", None) if entity == "staff" else None
    return rows


def get_row(conn: Connection, entity: str, key_value: str) -> dict:
    table = TABLES[entity]
    key = table.primary_key.columns.values()[0]
    row = conn.execute(select(table).where(key == key_value)).mappings().first()
    if row is None:
        raise NotFound(f"{entity} {key_value!r} does not exist")
    return dict(row)


def config_version(conn: Connection) -> int:
    row = conn.execute(select(meta_kv.c.value).where(meta_kv.c.key == "config_version")).first()
    return int(row[0]) if row else 1


def bump_version(conn: Connection) -> int:
    version = config_version(conn) + 1
    if not insert_ignore(conn, meta_kv, [{"key": "config_version", "value": str(version)}],
                         returning="key"):
        conn.execute(update(meta_kv).where(meta_kv.c.key == "config_version")
                     .values(value=str(version)))
    return version
