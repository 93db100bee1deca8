"""Dashboard accounts: users with argon2 password hashes, server-side sessions, login lockout.

A session cookie holds ``<token>.<mac>``: a random token and its HMAC under the server
secret. Forged cookies are refused without a database hit; the ``user_sessions`` table keeps
only the SHA-256 of the token, so several workers (or hosts) share the sessions and a leaked
table gives no usable cookie.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection

from ..db import insert_ignore
from ..errors import BadRequest, NotFound
from ..schema import regions, staff, units
from .assessment_tables import staff_users
from .config import DashboardSettings
from .tables import login_failures, user_sessions, users

ROLES = ("admin", "supervisor", "unit_manager", "viewer", "staff")
LANGUAGES = ("zh_CN", "en")
MIN_PASSWORD = 10
_hasher = PasswordHasher()
# Verified against when the user name is unknown, so a miss costs as much as a wrong password.
_DUMMY_HASH = _hasher.hash("not-a-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def create_user(conn: Connection, username: str, password: str, role: str, *,
                region_id: str | None = None, unit_id: str | None = None,
                language: str = "zh_CN", display_name: str | None = None,
                staff_id: str | None = None, now: dt.datetime) -> dict:
    """Insert a user; the scope must fit the role (supervisor: region, unit_manager: unit,
    staff: ``staff_id``, whose unit becomes the user's)."""
    username = (username or "").strip()
    if not username or len(username) > 64:
        raise BadRequest(f"username must be 1-64 characters, got {username!r:.80}",
                         field="username", detail_args={
                             "msg": "too_long", "field": "username", "limit": 64,
                             "length": len(username)} if username
                         else {"msg": "required", "field": "username"})
    if role not in ROLES:
        raise BadRequest(f"role must be one of {', '.join(ROLES)}, got {role!r}", field="role")
    _check_new_password(password)
    if language not in LANGUAGES:
        raise BadRequest(f"language must be one of {', '.join(LANGUAGES)}, got {language!r}",
                         field="language")
    if role == "supervisor" and not region_id:
        raise BadRequest("a supervisor needs --region (the region subtree they oversee)",
                         field="region")
    if role == "unit_manager" and not unit_id:
        raise BadRequest("a unit manager needs --unit", field="unit")
    if role == "staff":
        member = conn.execute(select(staff.c.unit_id, staff.c.name)
                              .where(staff.c.id == (staff_id or ""))).first()
        if member is None or not member.unit_id:
            raise BadRequest(f"a staff account needs --staff, an existing staff member with a "
                             f"unit; got {staff_id!r}", field="staff")
        region_id, unit_id = None, member.unit_id
        display_name = display_name or member.name
    elif staff_id:
        raise BadRequest("only a staff account is linked to a staff member", field="staff")
    if role == "admin" and (region_id or unit_id):
        raise BadRequest("an admin sees everything; give no --region or --unit", field="role")
    if region_id and conn.execute(select(regions.c.id).where(regions.c.id == region_id)).first() is None:
        raise BadRequest(f"region {region_id!r} does not exist", field="region")
    if unit_id and conn.execute(select(units.c.id).where(units.c.id == unit_id)).first() is None:
        raise BadRequest(f"unit {unit_id!r} does not exist", field="unit")
    row = {"username": username, "display_name": display_name or username,
           "password_hash": hash_password(password), "role": role,
           "region_id": region_id if role != "unit_manager" else None,
           "unit_id": unit_id if role in ("unit_manager", "viewer", "staff") else None,
           "language": language, "active": True, "created_at": now}
    created = insert_ignore(conn, users, [row], returning="id")
    if not created:
        raise BadRequest(f"user {username!r} already exists", field="username",
                         detail_args={"msg": "user_exists", "value": username})
    if role == "staff":
        if not insert_ignore(conn, staff_users, [{"user_id": next(iter(created)),
                                                  "staff_id": staff_id}], returning="user_id"):
            raise BadRequest(f"staff member {staff_id!r} already has an account", field="staff",
                             detail_args={"msg": "staff_has_account", "value": staff_id,
                                          "name": member.name})
    return get_user_by_name(conn, username)


MAX_PASSWORD = 1024


def _check_new_password(password: str) -> None:
    # The forms' own checks count UTF-16 units (an emoji is two) and no upper bound: the
    # page says these in its language (never the password's length).
    if len(password or "") < MIN_PASSWORD:
        raise BadRequest(f"password must have at least {MIN_PASSWORD} characters",
                         field="password", detail_args={"msg": "password_short",
                                                        "field": "password", "limit": MIN_PASSWORD})
    # One a sign-in form can send back: not megabytes long, no control characters, valid
    # text (bytes that were not UTF-8 became lone surrogates and a traceback).
    if len(password) > MAX_PASSWORD:
        raise BadRequest(f"password must have at most {MAX_PASSWORD} characters",
                         field="password", detail_args={"msg": "password_long",
                                                        "field": "password", "limit": MAX_PASSWORD})
    if any(ord(ch) < 32 or 0xD800 <= ord(ch) <= 0xDFFF for ch in password):
        raise BadRequest("password must be text without control characters (and valid UTF-8)",
                         field="password",
                         detail_args={"msg": "password_control", "field": "password"})


def set_password(conn: Connection, user: dict, password: str,
                 keep_session: str | None = None) -> None:
    """Give ``user`` a new password and end their sessions (all of them, or all but the
    cookie ``keep_session``: the one that changed it)."""
    _check_new_password(password)
    conn.execute(update(users).where(users.c.id == user["id"])
                 .values(password_hash=hash_password(password)))
    ended = delete(user_sessions).where(user_sessions.c.user_id == user["id"])
    kept = (keep_session or "").partition(".")[0]
    if kept:
        ended = ended.where(user_sessions.c.token_hash != _token_hash(kept))
    conn.execute(ended)


def set_active(conn: Connection, username: str, active: bool) -> dict:
    """Let ``username`` sign in again, or stop them at once (their sessions end; what they
    did stays in the audit log). Returns the user."""
    user = require_user(conn, username)
    conn.execute(update(users).where(users.c.id == user["id"]).values(active=active))
    if not active:
        conn.execute(delete(user_sessions).where(user_sessions.c.user_id == user["id"]))
    return user | {"active": active}


def _with_staff(conn: Connection, row) -> dict | None:
    """The user as a dict; a staff user also gets ``staff_id``, and its unit is the staff
    member's unit now (``staff_unit``)."""
    if row is None:
        return None
    user = dict(row)
    if user["role"] == "staff":   # one query: this runs for every request of a staff account
        link = conn.execute(select(staff_users.c.staff_id, staff.c.unit_id)
                            .outerjoin(staff, staff.c.id == staff_users.c.staff_id)
                            .where(staff_users.c.user_id == user["id"])).first()
        user["staff_id"] = link.staff_id if link else None
        if link is not None and link.unit_id is not None:   # as ``staff_units``
            user["unit_id"] = link.unit_id
    return user


def staff_units(conn: Connection, user_id: int | None = None) -> dict[int, str]:
    """user id → the unit its staff member is in now, for every staff account (or one).

    A staff account follows its staff member: a roster import that moves the person to
    another unit moves the account's scope with them (their reviews, results and the
    supervisor who manages the account), with nothing for an admin to relink. The unit
    stored with the account is the one at its creation and is not read for staff."""
    q = (select(staff_users.c.user_id, staff.c.unit_id)
         .join(staff, staff.c.id == staff_users.c.staff_id).where(staff.c.unit_id.is_not(None)))
    if user_id is not None:
        q = q.where(staff_users.c.user_id == user_id)
    return dict(conn.execute(q).all())


def get_user_by_name(conn: Connection, username: str) -> dict | None:
    return _with_staff(conn, conn.execute(select(users).where(users.c.username == username))
                       .mappings().first())


def require_user(conn: Connection, username: str) -> dict:
    """The user ``username``; NotFound when there is none."""
    user = get_user_by_name(conn, (username or "").strip())
    if user is None:
        raise NotFound(f"user {username!r} does not exist")
    return user


def get_user(conn: Connection, user_id: int) -> dict | None:
    return _with_staff(conn, conn.execute(select(users).where(users.c.id == user_id))
                       .mappings().first())


# ---- lockout -------------------------------------------------------------------------

def locked(conn: Connection, keys: list[str], now: dt.datetime) -> bool:
    rows = conn.execute(select(login_failures.c.locked_until)
                        .where(login_failures.c.key.in_(keys))).all()
    return any(r[0] is not None and r[0] > now for r in rows)


# A client address takes this many times a user name's failures before it locks: a hall's or
# an office's staff share one NAT address, and five typos by five people locked all of them
# out for 15 minutes. One address still gets at most 4 x 5 guesses per 15 minutes over all
# user names together.
IP_FACTOR = 4


def record_failure(conn: Connection, keys: list[str], now: dt.datetime,
                   s: DashboardSettings) -> None:
    window = dt.timedelta(minutes=s.lockout_minutes)
    for key in keys:
        row = conn.execute(select(login_failures).where(login_failures.c.key == key)) \
            .mappings().first()
        if row is None:
            insert_ignore(conn, login_failures, [{"key": key, "count": 1, "first_at": now,
                                                  "locked_until": None}])
            continue
        count, first = row["count"] + 1, row["first_at"]
        if first < now - window and (row["locked_until"] is None or row["locked_until"] <= now):
            count, first = 1, now  # the old failures have expired
        limit = s.lockout_failures * (IP_FACTOR if key.startswith("ip:") else 1)
        conn.execute(update(login_failures).where(login_failures.c.key == key).values(
            count=count, first_at=first, locked_until=now + window if count >= limit else None))


def clear_failures(conn: Connection, key: str) -> None:
    conn.execute(delete(login_failures).where(login_failures.c.key == key))


def lockout_keys(username: str, ip: str) -> list[str]:
    """The keys failed password checks count under: the user name and the client IP."""
    return [f"user:{username.strip().lower()[:64]}", f"ip:{ip}"]


def authenticate(conn: Connection, username: str, password: str, ip: str,
                 now: dt.datetime, s: DashboardSettings) -> tuple[dict | None, str]:
    """(user, "ok") or (None, "locked" | "invalid"). Locked accounts are not even checked."""
    keys = lockout_keys(username, ip)
    if locked(conn, keys, now):
        return None, "locked"
    user = get_user_by_name(conn, username.strip())
    ok = check_password(user["password_hash"] if user else _DUMMY_HASH, password or "")
    if not ok or not user or not user["active"]:
        record_failure(conn, keys, now, s)
        return None, "locked" if locked(conn, keys, now) else "invalid"
    clear_failures(conn, keys[0])
    return user, "ok"


# ---- sessions ------------------------------------------------------------------------

def _mac(secret: str, token: str) -> str:
    return hmac.new(secret.encode(), f"dashboard-session:{token}".encode(),
                    hashlib.sha256).hexdigest()[:32]


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(conn: Connection, user_id: int, secret: str, ip: str, now: dt.datetime,
                  s: DashboardSettings) -> str:
    """Create a session; returns the cookie value."""
    token = secrets.token_urlsafe(32)
    conn.execute(delete(user_sessions).where(user_sessions.c.expires_at < now))
    conn.execute(user_sessions.insert().values(
        token_hash=_token_hash(token), user_id=user_id, csrf_token=secrets.token_urlsafe(32),
        created_at=now, last_seen_at=now, expires_at=now + dt.timedelta(hours=s.session_hours),
        ip=ip))
    return f"{token}.{_mac(secret, token)}"


def load_session(conn: Connection, cookie: str | None, secret: str,
                 now: dt.datetime) -> tuple[dict, dict] | None:
    """(session, user) of a valid cookie, else None."""
    token, _, mac = (cookie or "").partition(".")
    if not token or len(cookie) > 200 or not hmac.compare_digest(mac, _mac(secret, token)):
        return None
    row = conn.execute(select(user_sessions).where(
        user_sessions.c.token_hash == _token_hash(token))).mappings().first()
    if row is None or row["expires_at"] <= now:
        return None
    user = get_user(conn, row["user_id"])
    if user is None or not user["active"]:
        return None
    return dict(row), user


def end_session(conn: Connection, cookie: str | None) -> None:
    token = (cookie or "").partition(".")[0]
    if token:
        conn.execute(delete(user_sessions).where(
            user_sessions.c.token_hash == _token_hash(token)))
