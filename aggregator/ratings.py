"""Storing ratings: the ratings table, their rollups and late attachments, in one place.

Every writer of ratings (batch ingest, the QR page, the demo) calls ``store`` inside its
transaction, so rollups can never disagree with the ratings. A follow-up or QR comment
whose rating has not arrived yet waits in ``pending_attachments`` and is attached by
``store`` when the rating comes.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import operator
from typing import Iterable

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection

from . import rollups
from .db import driver_time, insert_new, is_pg, select_in
from .errors import Conflict
from .schema import pending_attachments, ratings

log = logging.getLogger(__name__)

FOLLOW_UP = "follow_up"
COMMENT = "comment"
# Text sent with a follow-up link already used or expired: added after the rating's comment,
# marked late, never a rating of its own (it was offered as a new, counted rating, credited
# to whoever was on duty when it was sent).
LATE = "late_note"
LATE_MARK = "〔逾期补充〕"


COLUMNS = tuple(c.name for c in ratings.columns)
_TZ: dict[int, dt.timezone] = {}


def _tz(hours: int) -> dt.timezone:
    tz = _TZ.get(hours)
    if tz is None:
        tz = _TZ[hours] = dt.timezone(dt.timedelta(hours=hours))
    return tz


def local_day(t: dt.datetime, tz_hours: int) -> str:
    """The YYYY-MM-DD of ``t`` in the site's local time."""
    return t.astimezone(_tz(tz_hours)).date().isoformat()


class RowMaker:
    """Ratings rows of one batch's ``rating`` events, as tuples in ``COLUMNS`` order and in
    driver form (what ``store_rows`` takes), without a dict per row. The day is the
    device time corrected by the clock skew of the boot it was recorded in (``boot_skews``:
    boot id → ``timedelta``, ``boot_clocks``; any other boot: ``skew_s``, measured at this
    upload), or the time ``when`` given, and never later than server time (a kiosk has no
    battery clock). That corrected time itself is ``rated_at``: what the dashboard's hours and
    the export's time show; ``device_time`` keeps the kiosk's own reading.

    >>> import datetime as dt
    >>> now = dt.datetime(2026, 11, 23, 8, tzinfo=dt.timezone.utc)
    >>> make = RowMaker("sqlite", {"id": "k1", "unit_id": "U-1"}, now, 8 * 3600.0, 8)
    >>> t = "2026-11-23T15:30:00.000000+08:00"   # the kiosk's clock, 8 h ahead
    >>> row = make("e1", {"level": "satisfied", "stars": 4, "window_id": "W-1"},
    ...            dt.datetime.fromisoformat(t), t)
    >>> row[COLUMNS.index("day")], row[COLUMNS.index("rated_at")]
    ('2026-11-23', '2026-11-22 23:30:00.000000')
    >>> row[COLUMNS.index("device_time")], row[COLUMNS.index("server_time")]
    ('2026-11-23 07:30:00.000000', '2026-11-23 08:00:00.000000')
    """

    def __init__(self, dialect: str, device: dict, now: dt.datetime, skew_s: float,
                 tz_hours: int, boot_skews: dict[str, dt.timedelta] | None = None):
        self.dialect, self.device_id, self.unit_id = dialect, device["id"], device.get("unit_id")
        self.now, self.skew, self.tz = now, dt.timedelta(seconds=skew_s), _tz(tz_hours)
        self.boot_skews = boot_skews
        self.server_time = driver_time(dialect, now)

    def skew_of(self, boot_id: str | None) -> dt.timedelta:
        """The skew that dates an event of boot ``boot_id``."""
        return self.skew if self.boot_skews is None else self.boot_skews.get(boot_id, self.skew)

    def __call__(self, event_id: str, payload: dict, device_time: dt.datetime,
                 text: str | None = None, boot_id: str | None = None,
                 when: dt.datetime | None = None) -> tuple:
        """The row of rating ``event_id``; ``text``: the device time as the event wrote it;
        ``boot_id``: the boot it was recorded in; ``when``: its time, when known otherwise
        (``boot_clocks.date_unknown``)."""
        if when is None:
            skew = self.skew if self.boot_skews is None else self.boot_skews.get(boot_id, self.skew)
            when = device_time - skew if skew else device_time
        dtime = driver_time(self.dialect, device_time, text)
        if when > self.now:
            when, rated_at = self.now, self.server_time
        elif when is device_time:   # no skew: the device time's driver form, made just now
            rated_at = dtime
        else:
            rated_at = driver_time(self.dialect, when)
        get = payload.get
        flags = get("flags")
        if flags:
            flags_json = json.dumps(sorted(set(flags)))
        else:
            flags_json = "[]"
        # The unit is the server's (the device's window's), never the payload's: any kiosk could
        # count its ratings for any unit, one that does not exist too. The event keeps it.
        return (event_id, self.device_id, payload["window_id"], self.unit_id,
                get("staff_id"), get("staff_name"), get("service_item"), get("case_no"),
                get("invitation_id"), get("channel", 4), payload["level"], payload["stars"],
                get("scale", 5), None, None, None, None, False, dtime, self.server_time,
                when.astimezone(self.tz).date().isoformat(), flags_json, bool(flags), rated_at)


# RowMaker writes the columns in this order; a migration that adds a column must update it.
assert COLUMNS == ("id", "device_id", "window_id", "unit_id", "staff_id", "staff_name",
                   "service_item", "case_no", "invitation_id", "channel", "level", "stars",
                   "scale", "reasons", "reasons_version", "comment", "phone",
                   "callback_consent", "device_time", "server_time", "day", "flags",
                   "flagged", "rated_at"), COLUMNS
_KEY = operator.itemgetter(COLUMNS.index("day"), COLUMNS.index("window_id"),
                           COLUMNS.index("unit_id"), COLUMNS.index("staff_id"),
                           COLUMNS.index("service_item"), COLUMNS.index("level"),
                           COLUMNS.index("flagged"))
_STARS, _INVITED = COLUMNS.index("stars"), COLUMNS.index("invitation_id")


def rated_time(rated_at: dt.datetime | None, device_time: dt.datetime | None,
               server_time: dt.datetime) -> dt.datetime:
    """The time a stored rating was made, for showing or bucketing by hour: ``rated_at`` (its
    device time corrected for its kiosk's clock, whose local date is its ``day``); for a rating
    stored before migration 49, its kiosk's clock never later than its arrival (a QR rating:
    its arrival).

    >>> import datetime as dt
    >>> st = dt.datetime(2026, 11, 23, 8, tzinfo=dt.timezone.utc)
    >>> rated_time(None, st + dt.timedelta(hours=8), st) == st
    True
    """
    if rated_at is not None:
        return rated_at
    return min(device_time, server_time) if device_time is not None else server_time


def counted(row: tuple) -> tuple[tuple, int, bool]:
    """(``rollups.rating_key``, stars, invited) of a row in ``COLUMNS`` order."""
    day, window, unit, staff, item, level, flagged = _KEY(row)
    return ((day, window, unit or "", staff or "", item or "", level, 1 if flagged else 0),
            int(row[_STARS]), bool(row[_INVITED]))


def store(conn: Connection, rows: list[dict], not_rated: Iterable[dict] = ()) -> set:
    """Insert new ratings (dicts of the ratings table; known ids are ignored), count them
    into the rollups and attach what was waiting for them. Returns the ids inserted now."""
    return store_rows(conn, _tuples(conn, rows), not_rated)


def store_rows(conn: Connection, rows: list[tuple], not_rated: Iterable[dict] = (),
               tallied: dict | None = None, called: set | None = None) -> set:
    """``store`` of rows already in ``COLUMNS`` order and driver form (``RowMaker``).
    ``tallied``: the rollup increments of all ``rows`` (``rollups.tally``), worked out before
    the transaction; used when every row goes in. ``called``, when given, gets the ids whose
    waiting attachment (a phone's follow-up that came first) left a number to call back with
    consent: their rows carry none, and a flagged bad one needs its case opened
    (``cases.open_cases_for_callbacks``), in the caller's transaction."""
    # A rating's id is its event's, new in this transaction (or a fresh one from the QR page):
    # expected absent, so no lookup unless a row did clash.
    inserted = insert_new(conn, ratings, COLUMNS, rows, "id", absent=True) if rows else set()
    if tallied is None or len(inserted) != len(rows):
        tallied = rollups.tally(counted(r) for r in rows if r[0] in inserted)
    rollups.write(conn, rollups.tally(not_rated=not_rated, acc=tallied) if not_rated else tallied)
    if inserted and _any_pending(conn, inserted):
        waiting = conn.execute(
            select(pending_attachments).where(pending_attachments.c.rating_id.in_(inserted))
            .order_by(pending_attachments.c.id)).mappings().all()
        for w in waiting:
            data = json.loads(w["data"])
            if not _apply(conn, w["rating_id"], w["kind"], data, data.get(_WINDOW)):
                continue   # a link of another window: nothing changed, no call asked
            if called is not None and data.get("phone") and data.get("callback_consent"):
                called.add(w["rating_id"])
        if waiting:
            conn.execute(delete(pending_attachments).where(
                pending_attachments.c.id.in_([w["id"] for w in waiting])))
    return inserted


_GET = operator.itemgetter(*COLUMNS)
_DT, _ST, _RT = (COLUMNS.index("device_time"), COLUMNS.index("server_time"),
                 COLUMNS.index("rated_at"))
_BOOLS = (COLUMNS.index("callback_consent"), COLUMNS.index("flagged"))


def _tuples(conn: Connection, rows: list[dict]) -> list[tuple]:
    """Rows in ``COLUMNS`` order, in driver form."""
    out = []
    dialect = conn.dialect.name
    times: dict = {}  # server_time is mostly one value per call
    for r in rows:
        try:
            v = list(_GET(r))
        except KeyError:
            v = list(_GET(dict.fromkeys(COLUMNS) | r))
        v[_DT] = driver_time(dialect, v[_DT])
        v[_RT] = driver_time(dialect, v[_RT])
        st = v[_ST]
        if st not in times:
            times[st] = driver_time(dialect, st)
        v[_ST] = times[st]
        for k in _BOOLS:
            v[k] = bool(v[k])
        out.append(tuple(v))
    return out


def _any_pending(conn: Connection, ids: set) -> bool:
    """Whether any of ``ids`` has an attachment waiting (cheap when none waits at all)."""
    if conn.exec_driver_sql("SELECT 1 FROM pending_attachments LIMIT 1").first() is None:
        return False
    return bool(select_in(conn, "SELECT 1 FROM pending_attachments WHERE rating_id {in}",
                          sorted(ids)))


def set_flag(conn: Connection, rating_id: str, flag: str, on: bool = True) -> bool:
    """Add (``on``) or take away a server flag (``constants.FLAG_APPEAL_ACCEPTED``) of a stored
    rating, in the caller's transaction. When that changes whether the rating is flagged, its
    count moves between the unflagged and flagged rollups (``rollups.move``). The rating's row
    is locked first (``FOR UPDATE`` on PostgreSQL; SQLite's writers are serialised) and
    written only if its flags are still those read, so the move happens once however many
    callers race. Returns whether the rating changed (False: unknown, or already so)."""
    q = select(ratings.c.flags, ratings.c.flagged, ratings.c.day, ratings.c.window_id,
               ratings.c.unit_id, ratings.c.staff_id, ratings.c.service_item, ratings.c.level,
               ratings.c.stars, ratings.c.invitation_id).where(ratings.c.id == rating_id)
    row = conn.execute(q.with_for_update() if is_pg(conn) else q).mappings().first()
    if row is None:
        return False
    flags = set(json.loads(row["flags"] or "[]"))
    if (flag in flags) == on:
        return False
    new = sorted(flags | {flag} if on else flags - {flag})
    flagged = bool(new)
    done = conn.execute(update(ratings).where(ratings.c.id == rating_id,
                                              ratings.c.flags == row["flags"])
                        .values(flags=json.dumps(new), flagged=flagged))
    if done.rowcount != 1:
        raise Conflict(f"rating {rating_id} changed meanwhile; try again")
    if flagged != bool(row["flagged"]):
        rollups.move(conn, dict(row), flagged)
    return True


# An attachment whose rating has not come within this long is dropped: links naming ratings
# that never come (made with a leaked key) piled up in pending_attachments for ever. Not the
# link's own 7 days: that limits when a citizen may send, not when the kiosk's rating arrives.
# A kiosk offline for a fortnight, or a database moved aside that a technician brings on a USB
# stick weeks later, still delivers its rating, and the complaint and the number to call back
# that waited for it (they were dropped after 8 days: the callback was never owed).
PENDING_MAX = dt.timedelta(days=180)


def attach(conn: Connection, rating_id: str, kind: str, data: dict, now: dt.datetime,
           window_id: str | None = None) -> bool:
    """Attach a follow-up or comment to its rating; keep it pending when the rating is
    not here yet. Returns True when attached now. With ``window_id`` (a phone's follow-up
    link is signed for one window) only a rating of that window is changed, now or when it
    comes: a link signed for W-002 naming a W-001 rating changed the W-001 rating."""
    if window_id is not None:
        found = conn.execute(select(ratings.c.window_id).where(ratings.c.id == rating_id)).first()
        if found is not None and found[0] != window_id:
            log.warning("a %s for rating %s of window %s came with window %s's link; dropped",
                        kind, rating_id, found[0], window_id)
            return False
    if _apply(conn, rating_id, kind, data, window_id):
        return True
    _purge_pending(conn, now)
    stored = data if window_id is None else {**data, _WINDOW: window_id}
    conn.execute(pending_attachments.insert().values(
        rating_id=rating_id, kind=kind, data=json.dumps(stored, ensure_ascii=False),
        created_at=now))
    return False


_WINDOW = "_window"   # a pending attachment's window (``attach``), checked when it is applied


def _purge_pending(conn: Connection, now: dt.datetime) -> int:
    """Drop attachments that waited longer than ``PENDING_MAX``; a number to call back among
    them is logged (its rating never came, so nobody would call). Returns how many."""
    old = conn.execute(select(pending_attachments.c.id, pending_attachments.c.rating_id,
                              pending_attachments.c.data)
                       .where(pending_attachments.c.created_at < now - PENDING_MAX)).all()
    if not old:
        return 0
    called = [r.rating_id for r in old
              if (lambda d: d.get("phone") and d.get("callback_consent"))(json.loads(r.data))]
    if called:
        log.warning("dropped %d follow-up(s) that waited over %d days for their rating with a "
                    "number to call back; ratings %s never arrived", len(called),
                    PENDING_MAX.days, ", ".join(called[:20]))
    conn.execute(delete(pending_attachments).where(
        pending_attachments.c.id.in_([r.id for r in old])))
    return len(old)


def _apply(conn: Connection, rating_id: str, kind: str, data: dict,
           window_id: str | None = None) -> bool:
    if kind == FOLLOW_UP:
        # Each reason once: a repeated chip counted one citizen's complaint several times.
        values = {"reasons": json.dumps(list(dict.fromkeys(data.get("reasons") or []))),
                  "reasons_version": data.get("reasons_version")}
    elif kind == LATE:
        values = {}
        if data.get("comment"):
            was = conn.execute(select(ratings.c.comment).where(ratings.c.id == rating_id)).scalar()
            values = {"comment": (was + "\n" if was else "") + LATE_MARK + data["comment"]}
    else:   # a phone's added comment; one without text leaves the rating's as it was
        values = {"comment": data["comment"]} if data.get("comment") else {}
    # No consent, no call back: a number given without it is not kept for calling, and an
    # attachment without one leaves a consent given in another (kiosk or phone) as it was.
    late_number = kind == LATE and data.get("phone") and data.get("callback_consent")
    if data.get("phone") and data.get("callback_consent") and kind != LATE:
        values |= {"phone": data["phone"], "callback_consent": True}
    here = [ratings.c.id == rating_id]
    if window_id is not None:
        here.append(ratings.c.window_id == window_id)
    if late_number:   # a late note gives a number only to a rating that has none
        conn.execute(update(ratings).where(*here, ratings.c.phone.is_(None))
                     .values(phone=data["phone"], callback_consent=True))
    if not values:   # nothing to change: only whether the rating is here yet
        return conn.execute(select(ratings.c.id).where(*here)).first() is not None
    result = conn.execute(update(ratings).where(*here).values(**values))
    return result.rowcount > 0
