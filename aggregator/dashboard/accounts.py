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
import unicodedata

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import and_, case, delete, literal, null, or_, select, update
from sqlalchemy.engine import Connection, Engine

from ..db import insert_ignore, write
from ..errors import BadRequest, NotFound
from ..schema import regions, staff, units
from .assessment_tables import staff_users
from .cases import release_assignments
from .config import DashboardSettings
from .tables import login_failures, user_sessions, users

# What a user dict carries: every column but the password hash, which is read only where a
# password is checked (``authenticate``, ``password_hash``); the signed-in user of every
# request went into the request context, and its repr printed the hash.
_USER_COLUMNS = [c for c in users.c if c.name != "password_hash"]

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
                staff_id: str | None = None, now: dt.datetime,
                must_change_password: bool = False) -> dict:
    """Insert a user; the scope must fit the role (supervisor: region, unit_manager: unit,
    staff: ``staff_id``, whose unit becomes the user's). ``must_change_password``: the
    password was chosen by someone else, and the user must change it before anything else."""
    username = check_username(username)
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
           "language": language, "active": True, "created_at": now,
           "must_change_password": bool(must_change_password)}
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


MAX_USERNAME = 64
# Characters no user name may hold: control (Cc) and format characters (Cf: zero-width
# spaces and joiners, direction marks), lone surrogates (Cs: bytes that were not UTF-8),
# private-use and unassigned code points, line and paragraph separators. They were all
# accepted, and two accounts could look alike ("admin" and "ad\u200bmin") or not print at all.
_BAD_CATEGORIES = {"Cc": "control", "Cf": "format",
                   "Cs": "lone surrogate (a byte that was not UTF-8)", "Co": "private use",
                   "Cn": "unassigned", "Zl": "line separator", "Zp": "paragraph separator"}


def normal_username(username: str | None) -> str:
    """A typed user name as it is stored: NFKC-normalised (full-width ｕ０１ is u01), no
    spaces around it.

    >>> normal_username(" ｕ０１ ")
    'u01'
    """
    return unicodedata.normalize("NFKC", username or "").strip()


def check_username(username: str | None) -> str:
    """The user name as stored (``normal_username``); BadRequest naming what is wrong with it:
    empty, longer than 64 characters, or holding a character that is not visible text."""
    name = normal_username(username)
    if not name or len(name) > MAX_USERNAME:
        raise BadRequest(f"username must be 1-{MAX_USERNAME} characters, got {name!r:.80}",
                         field="username", detail_args={
                             "msg": "too_long", "field": "username", "limit": MAX_USERNAME,
                             "length": len(name)} if name
                         else {"msg": "required", "field": "username"})
    for position, ch in enumerate(name, 1):
        kind = _BAD_CATEGORIES.get(unicodedata.category(ch))
        if kind:
            char = f"U+{ord(ch):04X}"
            raise BadRequest(f"username holds the {kind} character {char} at position "
                             f"{position}, got {name!r:.80}; a user name is visible text only",
                             field="username", detail_args={
                                 "msg": "username_char", "field": "username",
                                 "position": position, "char": char})
    return name


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
                 keep_session: str | None = None, *, must_change: bool = False) -> None:
    """Give ``user`` a new password, end their sessions (all of them, or all but the cookie
    ``keep_session``: the one that changed it) and lift their sign-in locks. ``must_change``:
    someone else chose it (a reset), so the user must change it before anything else; a
    password the user chose themselves clears that mark."""
    _check_new_password(password)
    conn.execute(update(users).where(users.c.id == user["id"])
                 .values(password_hash=hash_password(password),
                         must_change_password=bool(must_change)))
    unlock(conn, user["username"])
    ended = delete(user_sessions).where(user_sessions.c.user_id == user["id"])
    kept = (keep_session or "").partition(".")[0]
    if kept:
        ended = ended.where(user_sessions.c.token_hash != _token_hash(kept))
    conn.execute(ended)


def set_active(conn: Connection, username: str, active: bool, now: dt.datetime, *,
               actor: dict | None = None, ip: str | None = None) -> dict:
    """Let ``username`` sign in again, or stop them at once (their sessions end; what they
    did stays in the audit log; the cases they held not closed go back to nobody at ``now``,
    audited as ``actor``'s, None: the command line). Returns the user."""
    user = require_user(conn, username)
    conn.execute(update(users).where(users.c.id == user["id"]).values(active=active))
    if not active:
        conn.execute(delete(user_sessions).where(user_sessions.c.user_id == user["id"]))
        # only the assignee sees a case's full number: kept by an account that can no longer
        # sign in, nobody could call its citizen back
        release_assignments(conn, user["id"], actor, now, ip)
    else:   # let back in: not still locked out by whoever kept guessing
        unlock(conn, user["username"])
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
    """The user named exactly ``username`` (no password hash), or None."""
    return _with_staff(conn, conn.execute(select(*_USER_COLUMNS)
                                          .where(users.c.username == username))
                       .mappings().first())


def find_user(conn: Connection, typed: str | None) -> dict | None:
    """The user a typed name means: its stored form (``normal_username``), else the name as
    typed (an account made before names were normalised); None for a name no account can
    have (one that is not valid text cannot even be looked up)."""
    name = normal_username(typed)
    raw = (typed or "").strip()
    for candidate in dict.fromkeys((name, raw)):
        if not candidate or len(candidate) > 200 or _not_text(candidate):
            continue
        user = get_user_by_name(conn, candidate)
        if user is not None:
            return user
    return None


def _not_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return "\x00" in value


def require_user(conn: Connection, username: str) -> dict:
    """The user ``username``; NotFound when there is none."""
    user = find_user(conn, username)
    if user is None:
        raise NotFound(f"user {username!r} does not exist")
    return user


def get_user(conn: Connection, user_id: int) -> dict | None:
    """The user ``user_id`` (no password hash), or None."""
    return _with_staff(conn, conn.execute(select(*_USER_COLUMNS).where(users.c.id == user_id))
                       .mappings().first())


def password_hash(conn: Connection, user_id: int) -> str | None:
    """The stored hash of a user's password: read only to check a password."""
    return conn.execute(select(users.c.password_hash).where(users.c.id == user_id)).scalar()


# ---- lockout ------------------------------------------------------------------------
#
# A sign-in attempt counts under three keys, BEFORE its password is checked (counted after,
# parallel requests all passed the check of the count, and on PostgreSQL 40 guesses at once
# were all checked against a limit of 5):
# - ``pair:<name>|<address>``: locks after ``lockout_failures`` (5) failures. This is the
#   lock a guesser meets, and it is theirs alone: the user signing in from elsewhere is not
#   locked out by it (five wrong passwords from anywhere locked the only admin for good).
# - ``ip:<address>``: IP_FACTOR times as many, over all user names together: a hall's staff
#   share one NAT address, and five typos by five people must not lock all of them out.
# - ``user:<name>``: USER_FACTOR times as many, from all addresses together: what guessing one
#   account from many addresses gets. An attacker with that many addresses can still lock a
#   name; ``aggregator unlock-user`` (and set-password, activate-user) lift it.
# A successful attempt takes its count back. Keys go in a fixed (sorted) order, so two
# requests never wait on each other's rows crosswise.

IP_FACTOR = 4
USER_FACTOR = 10


def lockout_keys(username: str, ip: str) -> list[str]:
    """The keys a sign-in attempt counts under (see above), sorted."""
    name = normal_username(username).lower()[:MAX_USERNAME]
    ip = (ip or "unknown")[:64]
    return sorted([f"pair:{name}|{ip}", f"user:{name}", f"ip:{ip}"])


def _limit(key: str, s: DashboardSettings) -> int:
    factor = IP_FACTOR if key.startswith("ip:") else USER_FACTOR if key.startswith("user:") \
        else 1
    return s.lockout_failures * factor


def count_attempt(conn: Connection, keys: list[str], now: dt.datetime,
                  s: DashboardSettings) -> bool:
    """Count one attempt under each key; False when one of them is over its limit or locked
    (the attempt is refused and its password not checked). Commit before checking the
    password, so that parallel attempts see each other's counts."""
    window = dt.timedelta(minutes=s.lockout_minutes)
    f = login_failures.c
    insert_ignore(conn, login_failures, [{"key": k, "count": 0, "first_at": now,
                                          "locked_until": None} for k in keys])
    # the earlier failures are older than the window and no lock holds: start again
    stale = and_(f.first_at < now - window, or_(f.locked_until.is_(None), f.locked_until <= now))
    allowed = True
    for key in keys:   # one UPDATE each: the row lock makes the count exact
        count, until = conn.execute(
            update(login_failures).where(f.key == key).values(
                count=case((stale, 1), else_=f.count + 1),
                first_at=case((stale, literal(now, f.first_at.type)), else_=f.first_at),
                locked_until=case((stale, null()), else_=f.locked_until))
            .returning(f.count, f.locked_until)).one()
        if count > _limit(key, s) or (until is not None and until > now):
            allowed = False
    return allowed


def record_failure(conn: Connection, keys: list[str], now: dt.datetime,
                   s: DashboardSettings) -> bool:
    """After a wrong password (its attempt counted): lock each key that reached its limit
    for ``lockout_minutes``. True when one is locked now."""
    window = dt.timedelta(minutes=s.lockout_minutes)
    f = login_failures.c
    locked = False
    for key in keys:
        done = conn.execute(update(login_failures)
                            .where(f.key == key, f.count >= _limit(key, s))
                            .values(locked_until=now + window))
        locked = locked or done.rowcount > 0
    return locked


def attempt_succeeded(conn: Connection, keys: list[str]) -> None:
    """After a right password: the user's failures from this address are forgotten, and the
    attempt's own count is taken back from the address and the name."""
    f = login_failures.c
    for key in keys:
        if key.startswith("pair:"):
            conn.execute(delete(login_failures).where(f.key == key))
        else:
            conn.execute(update(login_failures).where(f.key == key, f.count > 0)
                         .values(count=f.count - 1))


def unlock(conn: Connection, username: str) -> int:
    """Lift every sign-in lock of ``username`` (the name's, and those of the name with each
    address); returns how many were lifted. An address's own lock (all names) stays."""
    name = normal_username(username).lower()[:MAX_USERNAME]
    f = login_failures.c
    return conn.execute(delete(login_failures).where(or_(
        f.key == f"user:{name}", f.key.startswith(f"pair:{name}|", autoescape=True)))).rowcount


def authenticate(engine: Engine, username: str, password: str, ip: str,
                 now: dt.datetime, s: DashboardSettings) -> tuple[dict | None, str]:
    """(user, "ok") or (None, "locked" | "invalid"). The attempt is counted (and committed)
    before the password is checked; a refused one is not checked at all."""
    keys = lockout_keys(username, ip)
    with write(engine) as conn:
        if not count_attempt(conn, keys, now, s):
            return None, "locked"
        user = find_user(conn, username)
        stored = password_hash(conn, user["id"]) if user else None
    # outside a transaction: the slow hash holds no lock
    ok = check_password(stored or _DUMMY_HASH, password or "")
    with write(engine) as conn:
        if ok and user and user["active"]:
            attempt_succeeded(conn, keys)
            return user, "ok"
        return None, "locked" if record_failure(conn, keys, now, s) else "invalid"


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
