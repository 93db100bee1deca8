"""The case queue: listing and counting cases in a scope, with overdue flags."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import and_, case, func, literal_column, or_, select, union_all
from sqlalchemy.engine import Connection

from .. import constants as C
from ..schema import ratings, units, windows
from .cases import OPEN_STATES, callback_asked, mask_phone, overdue
from .tables import case_callbacks, cases, users

FILTERS = ("open", "overdue", "callback", "new", "verified", "rectifying", "answered",
           "appealed", "closed", "mine", "all")
# "state <> 'closed'" as literal SQL, not a bound parameter, so that SQLite and PostgreSQL's
# generic plans can use the partial index of the open cases (ix_cases_open, migration 41).
NOT_CLOSED = cases.c.state != literal_column("'closed'")
# "state = 'closed'" as an expression no index can look up (``|| ''``): without ANALYZE's
# statistics SQLite took ix_cases_unit_state (unit_id, state) for it or the partial index of
# the callback deadlines (ix_cases_callback_due, migration 52), by the order the indexes were
# created in, and with the former walked every closed case of the scope.
CLOSED = cases.c.state.concat(literal_column("''")) == literal_column("'closed'")
# An appealed case waits for a supervisor: the unit's clocks stop (``cases.overdue``).
NOT_APPEALED = cases.c.state != literal_column("'appealed'")


def _called():
    """A callback (回访) is on record for the case."""
    return select(case_callbacks.c.id).where(case_callbacks.c.case_id == cases.c.id) \
        .correlate(cases).exists()


def _callback_late(day: str):
    """The callback's deadline passed with none on record (``callback_due`` is set only when
    one was asked for, migration 52)."""
    return and_(cases.c.callback_due.is_not(None), cases.c.callback_due < day, ~_called())


def _late(today: dt.date):
    """A deadline passed with its step not done: the first contact, the answer, the callback
    (a case not closed nor appealed is then overdue)."""
    day = today.isoformat()
    return or_(and_(cases.c.first_contact_at.is_(None), cases.c.first_contact_due < day),
               and_(cases.c.answered_at.is_(None), cases.c.answer_due < day),
               _callback_late(day))


def _overdue_clause(today: dt.date):
    """Overdue, of the cases not closed (read from the partial index of the open cases)."""
    return and_(NOT_CLOSED, NOT_APPEALED, _late(today))


def _closed_overdue_clause(today: dt.date):
    """Overdue, of the closed cases: owed a callback past its deadline (a number left after
    the case was closed, ``cases.open_cases_for_callbacks``); read from migration 52's
    partial index of the cases with a callback deadline, not from every closed case."""
    return and_(CLOSED, _callback_late(today.isoformat()))


def _callback_due():
    """The citizen left a number with consent to be called back, and no callback is on
    record, whatever the case's state: a case that cannot be closed yet
    (``cases.callback_missing``), or one closed before the number came; the "待回访" tab
    (100 % 回访 of real-name bad ratings). ``callback_due`` is set whenever one was asked
    for: it keeps the closed cases without one out of the search."""
    asked = select(ratings.c.id).where(
        ratings.c.id == cases.c.rating_id, callback_asked()).correlate(cases).exists()
    return and_(cases.c.callback_due.is_not(None), asked, ~_called())


def work_order(today: dt.date) -> tuple:
    """The order of the queue, as the work is: what is late, then what falls due next (the
    first contact, else the answer), then the cases only waiting to be closed, then the
    closed. By answer date alone, answered cases waiting to be closed filled the first page
    and the late ones were on the second."""
    next_due = case((cases.c.first_contact_at.is_(None), cases.c.first_contact_due),
                    else_=cases.c.answer_due)
    # An appealed case waits for a supervisor, its clocks stopped: after every case the unit
    # can work (they led a unit manager's queue, above the ones due that day).
    appealed = cases.c.state == literal_column("'appealed'")
    return (cases.c.state == "closed", appealed, cases.c.answered_at.is_not(None),
            ~_overdue_clause(today), next_due, cases.c.id)


def due_marks(row: dict, today: dt.date) -> dict:
    """The deadlines of a listed case that fall due today or tomorrow with their step not
    done: {"first_contact" | "answer" | "callback": "today" | "tomorrow"}; none while the
    case is appealed (its clocks stop) or closed (but for a callback still owed)."""
    if row["state"] == "appealed":
        return {}
    days = {today.isoformat(): "today", (today + dt.timedelta(days=1)).isoformat(): "tomorrow"}
    pending = {}
    if row["state"] != "closed":
        if row["first_contact_at"] is None:
            pending["first_contact"] = row["first_contact_due"]
        if row["answered_at"] is None:
            pending["answer"] = row["answer_due"]
    if row.get("callback_needed") and row.get("callback_due"):
        pending["callback"] = row["callback_due"]
    return {step: days[day] for step, day in pending.items() if day in days}


def next_deadline(row: dict) -> tuple[str, str] | None:
    """(step, day) of the deadline a listed case is working towards: the first contact
    until it is made, then the answer; None for a closed case (the phone's one-line cue)."""
    if row["state"] == "closed":
        return None
    if row["first_contact_at"] is None:
        return "first_contact", row["first_contact_due"]
    if row["answered_at"] is None:
        return "answer", row["answer_due"]
    return None


def _halves(today: dt.date, state: str, user: dict | None) -> tuple[list, list] | None:
    """The conditions of a tab that takes open and closed cases ("overdue"; "mine": with the
    closed cases still owed a callback, theirs to make) as two halves, (the open cases, the
    closed ones), each readable from its partial index (``ix_cases_open``,
    ``ix_cases_callback_due``); None for the other tabs. Joined by OR, SQLite reads neither
    index and walks every closed case of the scope (55 ms instead of 0.3 with 400,000 closed
    cases; PostgreSQL ORs the two indexes): the list reads each half by itself."""
    if state == "overdue":
        return [_overdue_clause(today)], [_closed_overdue_clause(today)]
    if state == "mine" and user:
        mine = cases.c.assignee_id == user["id"]
        return [mine, NOT_CLOSED], [mine, CLOSED, _callback_due()]
    return None


def _scope(allowed: set[str], unit_id: str | None) -> list:
    out = [cases.c.unit_id.in_(sorted(allowed))]
    if unit_id:
        out.append(cases.c.unit_id == unit_id)
    return out


def where(allowed: set[str], today: dt.date, state: str, user: dict | None = None,
          unit_id: str | None = None) -> list:
    """The conditions of a queue tab (``FILTERS``; "all" and an unknown one: every case) in
    ``allowed`` units, or in ``unit_id`` of them (the case ledger export; the list reads the
    two halves of "overdue" and "mine" apart, ``_halves``)."""
    out = _scope(allowed, unit_id)
    halves = _halves(today, state, user)
    if halves:
        out.append(or_(*(and_(*half) for half in halves)))
    elif state == "open":
        out.append(cases.c.state.in_(OPEN_STATES))
    elif state == "callback":
        out.append(_callback_due())
    elif state in ("new", "verified", "rectifying", "answered", "appealed", "closed"):
        out.append(cases.c.state == state)
    return out


def list_cases(conn: Connection, allowed: set[str], today: dt.date, *, state: str = "open",
               user: dict | None = None, unit_id: str | None = None, limit: int = 50,
               offset: int = 0) -> tuple[list[dict], int]:
    """(rows, total) of the cases in ``allowed`` units matching the filter, oldest due first.
    Rows carry no phone number and no comment: those are in the audited detail view.

    The tabs of open and closed cases ("overdue", "mine") are read as two halves, each from
    its partial index, counted apart and listed as a UNION ALL sorted in ``work_order``."""
    halves = _halves(today, state, user)
    keys: list[str] = []
    if halves:
        open_, closed = (_scope(allowed, unit_id) + half for half in halves)
        total = conn.execute(select(_count(open_) + _count(closed))).scalar()
        order = work_order(today)
        keys = [f"order_{i}" for i in range(len(order))]
        # ordered by the keys' names: a subquery's column collection cost 3 ms a call
        q = union_all(*(_rows(part, [k.label(n) for k, n in zip(order, keys)])
                        for part in (open_, closed))).order_by(*map(literal_column, keys))
    else:
        where_ = where(allowed, today, state, user, unit_id)
        total = conn.execute(select(func.count()).select_from(cases).where(*where_)).scalar()
        q = _rows(where_, []).order_by(*work_order(today))
    rows = []
    for r in conn.execute(q.limit(limit).offset(offset)).mappings():
        d = {k: v for k, v in r.items() if k not in keys}
        d["overdue"] = overdue(d, today)
        d["callback_needed"] = bool(d["callback_needed"])
        d["due_marks"] = due_marks(d, today)
        d["next_due"] = next_deadline(d)
        d["not_counted"] = C.FLAG_APPEAL_ACCEPTED in json.loads(d.pop("flags") or "[]")
        rows.append(d)
    return rows, total


def _count(where_: list):
    return select(func.count()).select_from(cases).where(*where_).scalar_subquery()


def _rows(where_: list, extra: list):
    """The queue's row of each case under the conditions ``where_``, with columns ``extra``."""
    return (select(cases, ratings.c.level, ratings.c.stars, ratings.c.staff_name,
                   ratings.c.reasons, ratings.c.flags,
                   and_(callback_asked(), ~_called()).label("callback_needed"),
                   windows.c.name.label("window_name"),
                   units.c.name.label("unit_name"), users.c.display_name.label("assignee_name"),
                   users.c.active.label("assignee_active"), *extra)
            .join(ratings, ratings.c.id == cases.c.rating_id)
            .outerjoin(windows, windows.c.id == cases.c.window_id)
            .outerjoin(units, units.c.id == cases.c.unit_id)
            .outerjoin(users, users.c.id == cases.c.assignee_id)
            .where(*where_))


def counts(conn: Connection, allowed: set[str], today: dt.date) -> dict:
    """Cases per state, open and overdue, in the scope (the case queue's tabs). The open
    states and the overdue count are read from the partial index of open cases."""
    base = cases.c.unit_id.in_(sorted(allowed))
    out = dict.fromkeys(("new", "verified", "rectifying", "answered", "appealed", "closed"), 0)
    for state, n in conn.execute(select(cases.c.state, func.count()).where(base, NOT_CLOSED)
                                 .group_by(cases.c.state)).all():
        out[state] = n
    out["closed"] = conn.execute(select(func.count()).select_from(cases).where(
        base, cases.c.state == "closed")).scalar()
    out["open"] = sum(out[s] for s in OPEN_STATES)
    out["overdue"] = overdue_count(conn, base, today)
    out["callback"] = conn.execute(select(func.count()).select_from(cases).where(
        base, _callback_due())).scalar()
    return out


def overdue_count(conn: Connection, base, today: dt.date) -> int:
    """The overdue cases under the condition ``base``: the open ones (not appealed) from the
    partial index of the open cases, the closed ones owed a late callback from that of the
    callback deadlines; never a pass over every closed case."""
    open_late = conn.execute(select(func.count()).select_from(cases).where(
        base, _overdue_clause(today))).scalar()
    closed_late = conn.execute(select(func.count()).select_from(cases).where(
        base, _closed_overdue_clause(today))).scalar()
    return open_late + closed_late


def open_counts(conn: Connection, allowed: set[str], today: dt.date) -> dict:
    """Open and overdue cases in the scope (the overview's two figures): one pass over the
    partial index of open cases, never over the closed ones, however many pile up (those owed
    a late callback are counted from the index of callback deadlines)."""
    base = cases.c.unit_id.in_(sorted(allowed))
    n, late = conn.execute(select(func.count(),
                                  func.sum(case((and_(NOT_APPEALED, _late(today)), 1),
                                                else_=0)))
                           .select_from(cases).where(base, NOT_CLOSED)).one()
    closed_late = conn.execute(select(func.count()).select_from(cases).where(
        base, _closed_overdue_clause(today))).scalar()
    return {"open": n, "overdue": int(late or 0) + closed_late}


__all__ = ["list_cases", "where", "counts", "open_counts", "overdue_count", "mask_phone",
           "FILTERS"]
