"""Bad-rating cases (差评整改): one per bad, unflagged rating (and per flagged one whose citizen
asked to be called back), with deadlines and a state machine.

    new ──verify──▶ verified ──rectify──▶ rectifying ──answer──▶ answered ──close──▶ closed
     │                 │                      ▲                     │
     └──appeal──▶ appealed ◀──appeal──────────┘                     └──reopen──▶ rectifying
                    ├─accept_appeal─▶ closed (resolution "invalid": 误评/恶意差评)
                    │                 and its rating flagged ``appeal_accepted``: out of the
                    │                 rates and bad counts like any flagged rating
                    │                   └─revoke_appeal─▶ back to the state it was appealed
                    │                     from, the flag taken away: the rating counts again
                    └─reject_appeal─▶ back to the state it was appealed from

A case closed as resolved is final. One closed by an accepted appeal is not: the rating left
the figures on a supervisor's word, and a wrong or complaisant decision (a unit's own appeal
waved through) must be reversible by a supervisor, with a reason, on the record.

A callback (回访) owed to a citizen who left a number with consent is outside the state
machine: it is owed, whatever the state, until one is on record (``callback_missing``), and
due by ``callback_due``. A number may come after the case was closed (the follow-up link of
a kiosk rating stays valid for days): the case stays closed, is listed as "待回访" again, its
callback is recorded on it, and the number's arrival is on its record
(``open_cases_for_callbacks``).

While a case is appealed only a supervisor can act: the unit's clocks stop. It is not
overdue, and when the appeal is rejected or revoked its pending deadlines move later by the
working days it spent appealed (``_resume_deadlines``), on the record.

Cases are opened by ``open_cases_for`` (inside the ingest transaction) and, as a catch-up
for ratings stored by any other path, by ``sync_cases`` before the queue is listed.
"""

from __future__ import annotations

import datetime as dt
import json
import re

from sqlalchemy import and_, bindparam, func, literal_column, or_, select, text, update
from sqlalchemy.engine import Connection

from .. import constants as C
from .. import ratings as rating_store
from ..db import driver_time, insert_ignore, insert_new
from ..errors import BadRequest, Conflict, Forbidden, NotFound
from ..schema import ratings, service_items, units, windows
from . import audit, config
from .calendar import WorkCalendar
from .config import DashboardSettings
from .scope import RANK
from .tables import audit_log, case_callbacks, cases, dashboard_kv, users

STATES = ("new", "verified", "rectifying", "answered", "closed", "appealed")
OPEN_STATES = ("new", "verified", "rectifying", "answered", "appealed")
# action: (from states, to state, minimum role)
TRANSITIONS = {
    "verify": (("new",), "verified", "unit_manager"),
    "rectify": (("verified",), "rectifying", "unit_manager"),
    "answer": (("rectifying",), "answered", "unit_manager"),
    "close": (("answered",), "closed", "unit_manager"),
    "reopen": (("answered",), "rectifying", "unit_manager"),
    "appeal": (("new", "verified", "rectifying"), "appealed", "unit_manager"),
    # A unit never judges its own appeal: supervisors decide.
    "accept_appeal": (("appealed",), "closed", "supervisor"),
    "reject_appeal": (("appealed",), None, "supervisor"),
    # only a case closed by an accepted appeal (resolution "invalid"), see ``next_state``
    "revoke_appeal": (("closed",), None, "supervisor"),
}
NEEDS_NOTE = {"appeal": "an appeal needs a reason (误评/恶意差评 and why)",
              # it takes a rating out of the figures, as revoking puts it back: on the record why
              "accept_appeal": "accepting an appeal needs a reason (why the rating is "
                               "mistaken or malicious)",
              "revoke_appeal": "revoking an accepted appeal needs a reason"}
# Every real-name bad rating is called back (100 % 回访): a case whose citizen left a number
# with consent is closed only once a callback is on record (a unit could verify, rectify,
# answer and close it without ever calling, and nobody was told).
CALLBACK_BEFORE_CLOSE = ("a case whose rater left a number to be called back can be closed "
                         "only after a callback (回访) is recorded")
# An accepted appeal closes the case too: it closed real-name bad ratings nobody had called.
CALLBACK_BEFORE_APPEAL = ("a case whose rater left a number to be called back is called back "
                          "(回访) before its appeal is accepted; record the callback first")
# An appeal takes a bad rating out of the figures: one person's word is not enough, so whoever
# filed it never accepts it (a supervisor or admin could appeal and accept alone).
OWN_APPEAL = "an appeal is decided by someone other than who filed it"
CALLBACK_RESULTS = ("satisfied", "unsatisfied", "unreachable", "declined")
SYNC_KEY = "cases_synced_through"
SYNC_MARGIN = dt.timedelta(hours=6)  # ratings committed late with an earlier server time
DEVICE_CLOCK_SHOWN = dt.timedelta(minutes=1)  # a kiosk clock this far off shows on the case


def next_state(state: str, action: str, role: str, resolution: str | None = None) -> str:
    """The state after ``action``; raises BadRequest (not allowed now) or Forbidden (role).
    ``resolution``: the case's (``revoke_appeal`` needs "invalid")."""
    if action not in TRANSITIONS:
        raise BadRequest(f"unknown action {action!r}; known: {', '.join(TRANSITIONS)}",
                         field="action", detail_args={"msg": "unknown_action",
                                                      "value": action})
    sources, target, minimum = TRANSITIONS[action]
    if role == "viewer":
        raise Forbidden(f"{action} needs the role {minimum} or higher",
                        detail_args={"msg": "viewer_cannot_act"})
    if RANK.get(role, -1) < RANK[minimum]:
        raise Forbidden(f"{action} needs the role {minimum} or higher",
                        detail_args={"msg": f"action_needs_{minimum}", "action": action})
    if state not in sources or (action == "revoke_appeal" and resolution != "invalid"):
        what = "closed as resolved" if state == "closed" else state
        # from the case page only when someone else moved the case since it was loaded
        raise BadRequest(f"cannot {action} a case that is {what}", field="action",
                         code="bad_transition", detail_args={
                             "msg": "bad_transition", "state": state, "action": action})
    return target or state


def allowed_actions(state: str, role: str, resolution: str | None = None) -> list[str]:
    out = []
    for action in TRANSITIONS:
        try:
            next_state(state, action, role, resolution)
        except (BadRequest, Forbidden):
            continue
        out.append(action)
    return out


def case_actions(case: dict, user: dict) -> list[str]:
    """The actions ``user`` may take on ``case`` (as ``detail`` gives it): ``allowed_actions``
    less accepting an appeal they filed themselves (``transition`` refuses it)."""
    out = allowed_actions(case["state"], user["role"], case["resolution"])
    if case.get("appealed_by") is not None and case["appealed_by"] == user["id"]:
        out = [a for a in out if a != "accept_appeal"]
    return out


def _last_actor(conn: Connection, case_id: int, action: str) -> int | None:
    """The user id of the latest ``action`` on the case in its audit log (who filed the
    current appeal)."""
    return conn.execute(select(audit_log.c.user_id).where(
        audit_log.c.case_id == case_id, audit_log.c.action == action)
        .order_by(audit_log.c.id.desc()).limit(1)).scalar()


def callback_missing(conn: Connection, case: dict) -> bool:
    """The case's citizen left a number with consent to be called back and no callback is
    on record yet."""
    rating = conn.execute(select(ratings.c.phone, ratings.c.callback_consent).where(
        ratings.c.id == case["rating_id"])).mappings().first()
    if rating is None or not callback_requested(dict(rating)):
        return False
    return conn.execute(select(case_callbacks.c.id).where(
        case_callbacks.c.case_id == case["id"]).limit(1)).first() is None


CASE_COLUMNS = ("rating_id", "unit_id", "window_id", "staff_id", "opened_day", "state",
                "first_contact_due", "answer_due", "callback_due", "created_at", "updated_at")


def _case_row(r: dict, cal: WorkCalendar, s: DashboardSettings, now) -> tuple:
    """A new case of rating ``r`` in ``CASE_COLUMNS`` order; ``now`` in driver form. A
    callback asked for is due with the answer (``callback_due_for``)."""
    answer = cal.add_working_days(r["day"], s.answer_days).isoformat()
    return (r["id"], r["unit_id"], r["window_id"], r["staff_id"], r["day"], "new",
            cal.add_working_days(r["day"], s.first_contact_days).isoformat(), answer,
            answer if callback_requested(r) else None, now, now)


def callback_due_for(answer_due: str, asked_on: dt.date, cal: WorkCalendar,
                     s: DashboardSettings) -> str:
    """The day a callback asked for on ``asked_on`` is due: with the answer (``answer_due``),
    or, for a number given later than that leaves time for (after the case was answered or
    closed), as long after it as a first contact is after a rating.

    >>> from aggregator.dashboard.config import parse
    >>> s = parse(None); cal = s.calendar()
    >>> callback_due_for("2026-05-15", dt.date(2026, 5, 4), cal, s)
    '2026-05-15'
    >>> callback_due_for("2026-05-15", dt.date(2026, 5, 20), cal, s)
    '2026-05-21'
    """
    late = cal.add_working_days(asked_on, s.first_contact_days).isoformat()
    return max(answer_due, late)


def open_cases_for(conn: Connection, rating_rows, now: dt.datetime,
                   settings: DashboardSettings | None = None) -> int:
    """Open a case for each bad rating in ``rating_rows`` (dicts of the ratings table) that
    is unflagged or asks to be called back. Idempotent by rating id. Returns how many were
    opened now."""
    bad = [r for r in rating_rows if int(r["stars"]) <= C.BAD_STARS
           and (not r.get("flagged") or callback_requested(r))]
    if not bad:
        return 0
    if settings is None:
        settings, cal = stored_settings(conn)
    else:
        cal = settings.calendar()
    now = driver_time(conn, now)
    # the ratings are new (ingest) or were selected for having no case (``sync_cases``)
    return len(insert_new(conn, cases, CASE_COLUMNS,
                          [_case_row(r, cal, settings, now) for r in bad], "rating_id",
                          absent=True))


def callback_requested(rating: dict) -> bool:
    """A number left with consent to be called back. A flagged bad rating (a second rating
    within the lockout; on the phone page, from the hall's shared Wi-Fi address) is left out
    of the figures but still opens its case when the citizen asked to be called: "您已提交，
    感谢" and then no call, with the number kept where nobody would ever see it."""
    return bool(rating.get("phone")) and bool(rating.get("callback_consent"))


def callback_asked():
    """``callback_requested`` in SQL, for a query that reads the ratings table (the case
    list, the "待回访" tab, the case ledger, the catch-up of missing cases)."""
    return and_(ratings.c.callback_consent.is_(True), ratings.c.phone.is_not(None),
                ratings.c.phone != "")


# what ``open_cases_for`` reads of a stored rating
_CASE_SOURCE = (ratings.c.id, ratings.c.unit_id, ratings.c.window_id, ratings.c.staff_id,
                ratings.c.day, ratings.c.stars, ratings.c.flagged, ratings.c.server_time,
                ratings.c.phone, ratings.c.callback_consent)


def open_cases_for_callbacks(conn: Connection, rating_ids: list[str], now: dt.datetime,
                             today: dt.date | None = None) -> int:
    """Cases for bad ratings whose follow-up, which came after them, left a number to be
    called back (``callback_requested``): opened for flagged ones that had none; for those
    that have one, its callback falls due (``callback_due_for``, from ``today``, the site's
    day, by default ``now``'s). On a case closed already the number's arrival goes on the
    record ("callback_requested"): the case stays closed and is owed its callback (a closed
    case ignored the number, and nobody ever called). Returns how many cases were opened."""
    rows = [dict(r) for r in conn.execute(select(*_CASE_SOURCE).where(
        ratings.c.id.in_(rating_ids), text(f"ratings.stars <= {C.BAD_STARS}"))).mappings()]
    rows = [r for r in rows if callback_requested(r)]
    if not rows:
        return 0
    opened = open_cases_for(conn, [r for r in rows if r["flagged"]], now)
    owed = conn.execute(select(cases.c.id, cases.c.state, cases.c.answer_due).where(
        cases.c.rating_id.in_([r["id"] for r in rows]), cases.c.callback_due.is_(None))
        .order_by(cases.c.id)).mappings().all()
    if owed:
        settings, cal = stored_settings(conn)
        asked_on = today or now.date()
        for case in owed:
            due = callback_due_for(case["answer_due"], asked_on, cal, settings)
            conn.execute(update(cases).where(cases.c.id == case["id"],
                                             cases.c.callback_due.is_(None))
                         .values(callback_due=due))
            if case["state"] == "closed":
                audit.record(conn, None, "callback_requested", now, case_id=case["id"],
                             detail={"due": due, "state": case["state"]})
    return opened


_PARSED: dict[str | None, tuple[DashboardSettings, WorkCalendar]] = {}


def stored_settings(conn: Connection) -> tuple[DashboardSettings, WorkCalendar]:
    """The stored dashboard settings and their calendar, parsed once per stored text (ingest
    opens cases in nearly every batch; an admin's edit changes the text, so it is seen at
    once by every worker). The objects are shared: read them, never change them."""
    text_ = config.stored_text(conn)
    parsed = _PARSED.get(text_)
    if parsed is None:
        settings = config.parse(text_)
        if len(_PARSED) > 8:
            _PARSED.clear()
        parsed = _PARSED[text_] = (settings, settings.calendar())
    return parsed


def sync_cases(conn: Connection, now: dt.datetime, settings: DashboardSettings | None = None,
               full: bool = False) -> int:
    """Catch up: open cases for bad ratings that have none. Looks only at ratings that
    arrived since the last run (minus a margin) unless ``full``; indexed on both sides."""
    mark = conn.execute(select(dashboard_kv.c.value).where(dashboard_kv.c.key == SYNC_KEY)) \
        .scalar()
    q = (select(*_CASE_SOURCE)
         .outerjoin(cases, cases.c.rating_id == ratings.c.id)
         # literal "stars <= 2" so SQLite can use the partial index ix_ratings_bad_time
         .where(text(f"ratings.stars <= {C.BAD_STARS}"), cases.c.id.is_(None),
                or_(ratings.c.flagged.is_(False), callback_asked())))
    if mark and not full:
        q = q.where(ratings.c.server_time >= dt.datetime.fromisoformat(mark) - SYNC_MARGIN)
    rows = [dict(r) for r in conn.execute(q).mappings()]
    opened = open_cases_for(conn, rows, now, settings)
    latest = conn.execute(select(func.max(ratings.c.server_time))).scalar()
    if latest is not None:
        value = latest.isoformat()
        if not insert_ignore(conn, dashboard_kv, [{"key": SYNC_KEY, "value": value}],
                             returning="key"):
            conn.execute(update(dashboard_kv).where(dashboard_kv.c.key == SYNC_KEY)
                         .values(value=value))
    return opened


def mask_phone(phone: str | None) -> str | None:
    """138****1234: the first three and last four digits."""
    if not phone:
        return phone
    digits = "".join(ch for ch in phone if ch.isdigit())
    if len(digits) < 7:
        return "*" * len(digits)
    return f"{digits[:3]}{'*' * (len(digits) - 7)}{digits[-4:]}"


def overdue(case: dict, today: dt.date) -> list[str]:
    """Which deadlines of a case have passed with their step not done: "first_contact",
    "answer" (an open case), "callback" (``callback_due``, while a callback is owed:
    ``case["callback_needed"]``, even on a closed case). None while the case is appealed: only
    a supervisor can act on it then, and the unit's clocks stop (``_resume_deadlines``)."""
    if case["state"] == "appealed":
        return []
    day, out = today.isoformat(), []
    if case["state"] != "closed":
        if case["first_contact_at"] is None and day > case["first_contact_due"]:
            out.append("first_contact")
        if case["answered_at"] is None and day > case["answer_due"]:
            out.append("answer")
    if case.get("callback_needed") and case.get("callback_due") and day > case["callback_due"]:
        out.append("callback")
    return out


def reschedule(conn: Connection, before: DashboardSettings, after: DashboardSettings,
               now: dt.datetime) -> int:
    """Date again, on the calendar of ``after`` (its holidays and 调休 workdays), the
    deadlines of the cases not closed whose step has not happened, keeping each its own
    number of working days (counted on the calendar of ``before``) from the day it opened; in
    the caller's transaction (the settings' save). Returns how many cases moved.

    Deadlines are dated when a case opens: holidays entered after it (the National Day
    holidays, typed in September) left its deadlines on them, and the case showed overdue on
    a holiday the calendar said was no working day. New numbers of days
    (``first_contact_days``, ``answer_days``) are for the cases opened from then on: applied
    to the open ones, a shorter answer time made cases overdue at once (47 to 118 in the
    demo), a longer one cleared overdue flags."""
    old, new = before.calendar(), after.calendar()
    if (old.holidays, old.workdays) == (new.holidays, new.workdays):
        return 0

    def again(opened: str, due: str) -> str:
        return new.add_working_days(opened, old.working_days_between(opened, due)).isoformat()

    moved = []
    called = select(case_callbacks.c.id).where(case_callbacks.c.case_id == cases.c.id) \
        .correlate(cases).exists()
    for r in conn.execute(select(
            cases.c.id, cases.c.state, cases.c.opened_day, cases.c.first_contact_due,
            cases.c.answer_due, cases.c.first_contact_at, cases.c.answered_at,
            cases.c.callback_due, called.label("called")).where(or_(
            # literal, for the partial index of the open cases (ix_cases_open, migration 41)
            cases.c.state != literal_column("'closed'"),
            # a closed case still owed its callback (migration 52's partial index)
            and_(cases.c.callback_due.is_not(None), ~called)))).mappings():
        closed = r["state"] == "closed"
        first = r["first_contact_due"] if closed or r["first_contact_at"] is not None else \
            again(r["opened_day"], r["first_contact_due"])
        answer = r["answer_due"] if closed or r["answered_at"] is not None else \
            again(r["opened_day"], r["answer_due"])
        callback = r["callback_due"] if r["callback_due"] is None or r["called"] else \
            again(r["opened_day"], r["callback_due"])
        if (first, answer, callback) != (r["first_contact_due"], r["answer_due"],
                                         r["callback_due"]):
            moved.append({"_id": r["id"], "_first": first, "_answer": answer,
                          "_callback": callback})
    if moved:
        conn.execute(update(cases).where(cases.c.id == bindparam("_id")).values(
            first_contact_due=bindparam("_first"), answer_due=bindparam("_answer"),
            callback_due=bindparam("_callback"), updated_at=now), moved)
    return len(moved)


def get_case(conn: Connection, case_id: int, allowed: set[str]) -> dict:
    """A case in the caller's scope; 404 otherwise (do not reveal others' cases)."""
    row = conn.execute(select(cases).where(cases.c.id == case_id)).mappings().first()
    if row is None or row["unit_id"] not in allowed:
        raise NotFound(f"case {case_id} does not exist")
    return dict(row)


def detail(conn: Connection, case_id: int, user: dict, allowed: set[str],
           now: dt.datetime, ip: str | None = None) -> dict:
    """A case with its rating, callbacks and history; the view is audited. The phone is
    shown in full to the assignee only."""
    case = get_case(conn, case_id, allowed)
    rating = dict(conn.execute(select(ratings).where(ratings.c.id == case["rating_id"]))
                  .mappings().first() or {})
    phone = rating.get("phone")
    case["phone"] = phone if case["assignee_id"] == user["id"] else mask_phone(phone)
    case["phone_masked"] = bool(phone) and case["phone"] != phone
    case["rating"] = {k: rating.get(k) for k in (
        "id", "level", "stars", "channel", "service_item", "case_no", "staff_name",
        "comment", "callback_consent", "device_time", "day")}
    # When the citizen rated: the kiosk's clock corrected as the rating's day was (it showed
    # the raw clock, hours off on a kiosk whose clock was wrong); the raw reading stays as
    # ``device_time``, and the page shows it beside as evidence when the two differ.
    if rating:
        rated_at = rating_store.rated_time(rating["rated_at"], rating["device_time"],
                                           rating["server_time"])
        device_time = rating["device_time"]
        case["rating"]["rated_at"] = rated_at
        case["rating"]["device_clock_off"] = device_time is not None and \
            abs(device_time - rated_at) >= DEVICE_CLOCK_SHOWN
    case["rating"]["reasons"] = json.loads(rating["reasons"]) if rating.get("reasons") else []
    case["rating"]["flags"] = json.loads(rating["flags"]) if rating.get("flags") else []
    # out of the rates and bad counts because its appeal was accepted (误评/恶意差评)
    case["not_counted"] = C.FLAG_APPEAL_ACCEPTED in case["rating"]["flags"]
    # opened although flagged, because the citizen asked to be called back
    case["flagged_callback"] = bool(case["rating"]["flags"]) and not case["not_counted"]
    # names, as the case list shows them (the page showed the codes U-01 / W-001)
    case["unit_name"] = conn.execute(select(units.c.name).where(units.c.id == case["unit_id"])).scalar()
    case["window_name"] = conn.execute(
        select(windows.c.name).where(windows.c.id == case["window_id"])).scalar()
    # the service item's name beside its code (the page showed only "U-01-MZ-01")
    item = rating.get("service_item")
    case["service_item_name"] = conn.execute(select(service_items.c.name).where(
        service_items.c.code == item)).scalar() if item else None
    case["callbacks"] = [dict(r) for r in conn.execute(
        select(case_callbacks).where(case_callbacks.c.case_id == case_id)
        .order_by(case_callbacks.c.day, case_callbacks.c.id)).mappings()]
    # a real-name bad rating not yet called back: the case cannot be closed before it is,
    # and a closed one is owed it all the same (a number given after the case was closed)
    case["callback_needed"] = callback_requested(rating) and not case["callbacks"]
    # the picker keeps a deactivated assignee, named so (``routes_cases._assignable``)
    case["assignee_active"] = conn.execute(select(users.c.active).where(
        users.c.id == case["assignee_id"])).scalar() if case["assignee_id"] else None
    # who filed the current appeal, who may not accept it (``case_actions``)
    case["appealed_by"] = _last_actor(conn, case_id, "appeal") \
        if case["state"] == "appealed" else None
    audit.record(conn, user, "view", now, case_id=case_id, ip=ip,
                 detail={"phone_shown": bool(phone) and not case["phone_masked"]})
    case["history"] = audit.collapse_views(audit.for_case(conn, case_id))
    return case


def _resume_deadlines(conn: Connection, case: dict, today: dt.date) -> tuple[dict, dict]:
    """(new values, audit detail) for a case whose appeal is rejected or revoked: its
    deadlines still pending (the first contact and the answer not done, a callback owed)
    later by the working days since the appeal was filed, on the stored calendar. While
    appealed only a supervisor could act, and the case ran late against its unit for the
    supervisor's days (a rejected appeal came back overdue)."""
    filed = conn.execute(select(audit_log.c.at, audit_log.c.detail).where(
        audit_log.c.case_id == case["id"], audit_log.c.action == "appeal")
        .order_by(audit_log.c.id.desc()).limit(1)).first()
    if filed is None:
        return {}, {}
    kept = json.loads(filed.detail) if filed.detail else {}
    # the site's day of the appeal as recorded with it; the UTC day of older ones
    since = kept.get("day") or filed.at.date().isoformat()
    _, cal = stored_settings(conn)
    days = cal.working_days_between(since, today)
    if days <= 0:
        return {}, {}
    pending = {"first_contact_due": case["first_contact_at"] is None,
               "answer_due": True,   # the answer is undone by the way back (``transition``)
               "callback_due": case.get("callback_due") is not None
               and callback_missing(conn, case)}
    values, moved = {}, {}
    for column, waiting in pending.items():
        if waiting and case.get(column):
            values[column] = cal.add_working_days(case[column], days).isoformat()
            moved[column] = [case[column], values[column]]
    return values, ({"paused_days": days, "moved": moved} if moved else {})


def transition(conn: Connection, case_id: int, action: str, user: dict, allowed: set[str],
               now: dt.datetime, note: str | None = None, ip: str | None = None,
               today: dt.date | None = None) -> dict:
    """Apply ``action`` to a case; audited. ``appeal`` and its acceptance need a reason
    (``note``); ``close`` and ``accept_appeal`` a callback on record when the citizen asked
    for one; ``accept_appeal`` someone other than who filed the appeal. ``today``: the site's
    day (``now``'s by default), for the working days a case spent appealed."""
    case = get_case(conn, case_id, allowed)
    target = next_state(case["state"], action, user["role"], case["resolution"])
    today = today or now.date()
    note = (note or "").strip()[:2000] or None
    if action == "accept_appeal" and _last_actor(conn, case_id, "appeal") == user["id"]:
        raise Forbidden(OWN_APPEAL, detail_args={"msg": "own_appeal"})
    if action in NEEDS_NOTE and not note:
        raise BadRequest(NEEDS_NOTE[action], field="note",
                         detail_args={"msg": f"{action}_needs_reason"})
    if action == "close" and callback_missing(conn, case):
        raise BadRequest(CALLBACK_BEFORE_CLOSE, field="action", code="callback_needed",
                         detail_args={"msg": "callback_before_close"})
    if action == "accept_appeal" and callback_missing(conn, case):
        # an accepted appeal closes the case: 100 % 回访 holds for it as for "close"
        raise BadRequest(CALLBACK_BEFORE_APPEAL, field="action", code="callback_needed",
                         detail_args={"msg": "callback_before_appeal"})
    values = {"state": target, "updated_at": now}
    resumed: dict = {}
    if action == "appeal":
        values |= {"appeal_from": case["state"], "appeal_reason": note}
    elif action == "reject_appeal":
        # back to a state before any answer (an answer kept from a reopen, before migration
        # 50, would keep it off the overdue lists)
        values |= {"state": case["appeal_from"] or "new", "answered_at": None}
    elif action == "revoke_appeal":  # back to work, its deadlines as they were
        values |= {"state": case["appeal_from"] or "new", "resolution": None,
                   "closed_at": None, "answered_at": None}
    elif action == "accept_appeal":
        values |= {"resolution": "invalid", "closed_at": now}
    elif action == "close":
        values |= {"resolution": "resolved", "closed_at": now}
    elif action == "answer":
        values |= {"answered_at": now}
    elif action == "reopen":  # the answer is undone: due by answer_due again, and overdue after
        values |= {"answered_at": None}
    if action in ("reject_appeal", "revoke_appeal"):
        # the unit's clocks stopped while the appeal was with a supervisor
        moved, resumed = _resume_deadlines(conn, case, today)
        values |= moved
    if action in ("verify", "answer") and case["first_contact_at"] is None:
        values["first_contact_at"] = now
    if note and action != "appeal":
        values["note"] = note
    done = conn.execute(update(cases).where(and_(cases.c.id == case_id,
                                                 cases.c.state == case["state"]))
                        .values(**values))
    if done.rowcount != 1:  # someone else moved it meanwhile
        raise BadRequest("the case changed meanwhile; reload and try again",
                         code="conflict", field="action", detail_args={"msg": "case_changed"})
    detail = {"from": case["state"], "to": values["state"], "note": note} | resumed
    if action == "appeal":   # the site's day, from which the unit's clocks stop
        detail["day"] = today.isoformat()
    if action == "accept_appeal":
        # A rating found mistaken or malicious leaves the figures (rates, bad counts,
        # rankings, bulletins) in this transaction: flagged, never deleted. Only the one
        # transaction that moved the case out of "appealed" above gets here, so the rollups
        # move once however many supervisors click at the same time.
        if _set_flag(conn, case["rating_id"], on=True):
            detail["flag"] = C.FLAG_APPEAL_ACCEPTED
    elif action == "revoke_appeal":  # the rating counts again, in this transaction
        if _set_flag(conn, case["rating_id"], on=False):
            detail["unflag"] = C.FLAG_APPEAL_ACCEPTED
    audit.record(conn, user, action, now, case_id=case_id, ip=ip, detail=detail)
    return {**case, **values}


def _set_flag(conn: Connection, rating_id: str, on: bool) -> bool:
    """``ratings.set_flag`` of the appeal's flag; its Conflict (the rating changed meanwhile)
    said so in English only, on a Chinese page."""
    try:
        return rating_store.set_flag(conn, rating_id, C.FLAG_APPEAL_ACCEPTED, on=on)
    except Conflict as exc:
        raise Conflict(exc.detail, detail_args={"msg": "case_changed"}) from None


def assign(conn: Connection, case_id: int, assignee: dict | None, user: dict,
           allowed: set[str], now: dt.datetime, ip: str | None = None) -> None:
    """Give the case to ``assignee`` (a row of ``users``; None: nobody). A deactivated
    account cannot sign in to work it, and a closed case has no work left: both refused (a
    case was assigned, by a form post, to an account switched off). The assignee it has
    already is no change, deactivated or not: the case page's picker keeps a deactivated
    assignee selected, and pressing 指派 unchanged is nothing to do."""
    case = get_case(conn, case_id, allowed)
    if user["role"] == "viewer":
        raise Forbidden("viewers cannot assign cases", detail_args={"msg": "viewer_cannot_assign"})
    if (assignee["id"] if assignee else None) == case["assignee_id"]:
        return
    if assignee is not None and not assignee.get("active", True):
        name = assignee.get("display_name") or assignee["username"]
        raise BadRequest(f"user {assignee['username']!r} is deactivated and cannot be assigned "
                         "cases", field="assignee", detail_args={
                             "msg": "assignee_inactive", "name": name,
                             "value": assignee["username"]})
    closed = BadRequest("a closed case cannot be assigned", field="assignee",
                        detail_args={"msg": "assign_closed"})
    # a closed case still owed its callback has that work left: someone must see the number
    owed = case["state"] == "closed" and callback_missing(conn, case)
    if case["state"] == "closed" and not owed:
        raise closed
    done = conn.execute(update(cases).where(cases.c.id == case_id,
                                            *([] if owed else [cases.c.state != "closed"]))
                        .values(assignee_id=assignee["id"] if assignee else None,
                                updated_at=now))
    if done.rowcount != 1:   # closed meanwhile
        raise closed
    audit.record(conn, user, "assign", now, case_id=case_id, ip=ip, detail={
        "from": case["assignee_id"], "to": assignee["username"] if assignee else None})


def release_assignments(conn: Connection, user_id: int, actor: dict | None,
                        now: dt.datetime, ip: str | None = None) -> list[int]:
    """Unassign the cases not closed that ``user_id`` holds, one audit row ("assign", to
    nobody, ``released``) each; returns their ids. For the deactivation of an account, in its
    transaction: a case kept by an account that can no longer sign in had nobody to call its
    citizen (only the assignee sees the full number), and the case page showed it unassigned.
    ``actor``: who deactivated it (None: the system)."""
    held = conn.execute(select(cases.c.id).where(
        cases.c.assignee_id == user_id, cases.c.state != literal_column("'closed'"))
        .order_by(cases.c.id)).scalars().all()
    released = []
    for case_id in held:
        done = conn.execute(update(cases).where(cases.c.id == case_id,
                                                cases.c.assignee_id == user_id)
                            .values(assignee_id=None, updated_at=now))
        if done.rowcount == 1:
            audit.record(conn, actor, "assign", now, case_id=case_id, ip=ip, detail={
                "from": user_id, "to": None, "released": "deactivated"})
            released.append(case_id)
    return released


def add_callback(conn: Connection, case_id: int, day: str, result: str, note: str | None,
                 user: dict, allowed: set[str], now: dt.datetime, ip: str | None = None,
                 today: dt.date | None = None) -> None:
    """Record a callback (回访) to the rater; the first one counts as first contact. A closed
    case takes one too: a citizen may leave a number after the case was closed
    (``open_cases_for_callbacks``), and is owed the call.

    Its day, YYYY-MM-DD, lies between the day the case opened and ``today`` (the site's; a
    day after ``now`` in UTC when not given): 2099-01-01 and 0001-01-01 were saved and shown.
    """
    case = get_case(conn, case_id, allowed)
    if user["role"] == "viewer":
        raise Forbidden("viewers cannot record callbacks",
                        detail_args={"msg": "viewer_cannot_callback"})
    if not result:
        # the form's first option is an empty "请选择": a hurried clerk sent "满意", the very
        # result the callback is there to find out, when it was the list's first entry
        raise BadRequest(f"choose the callback's result: one of {', '.join(CALLBACK_RESULTS)}",
                         field="result", detail_args={"msg": "callback_result_missing"})
    if result not in CALLBACK_RESULTS:
        raise BadRequest(f"result must be one of {', '.join(CALLBACK_RESULTS)}, got {result!r}",
                         field="result", detail_args={"msg": "callback_result",
                                                      "value": result})
    try:
        # YYYY-MM-DD only, as the exports' days (``rating_export.parse_day``): fromisoformat
        # also reads "20261105", which the audit log then kept as typed
        when = dt.date.fromisoformat(day) \
            if isinstance(day, str) and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", day) else None
    except ValueError:
        when = None
    if when is None:
        # the date picker sends a year of five digits as typed (20266-05-01)
        raise BadRequest(f"date must be YYYY-MM-DD, got {day!r:.40}", field="day", detail_args={
            "msg": "not_a_date", "field": "day", "value": day})
    first, last = case["opened_day"], (today or now.date() + dt.timedelta(days=1)).isoformat()
    if not first <= when.isoformat() <= last:
        raise BadRequest(f"the callback's date must be from {first} (the case opened) to "
                         f"{last}, got {day}", field="day", detail_args={
                             "msg": "callback_day_range", "first": first, "last": last,
                             "value": day})
    # stored as checked: fromisoformat also reads "20261204", which was stored and shown so
    conn.execute(case_callbacks.insert().values(case_id=case_id, day=when.isoformat(), result=result,
                                                note=(note or "").strip()[:2000] or None,
                                                user_id=user["id"], created_at=now))
    if case["first_contact_at"] is None:
        conn.execute(update(cases).where(cases.c.id == case_id)
                     .values(first_contact_at=now, updated_at=now))
    audit.record(conn, user, "callback", now, case_id=case_id, ip=ip,
                 detail={"day": when.isoformat(), "result": result, "state": case["state"]})
