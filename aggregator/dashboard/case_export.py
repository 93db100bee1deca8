"""The case ledger (差评整改台账): the cases of a queue tab, one row each, CSV or XLSX.

A supervisor writing the month's bulletin, or an inspector checking that every bad rating was
followed up, needs the cases in a spreadsheet: the rating, the state, each deadline and when
its step was done, what is overdue, the callbacks, who handles it. The queue shows 50 a page.

The citizen's phone number is never in the file (whether the citizen asked for a callback
is); the comment and the handling note are, as in the audited case page, and every export is
audited. Written as it is read, like the per-rating export (``rating_export``).

>>> Ledger("overdue", "U-01", None, None).file_name("xlsx")
'cases-overdue-U-01.xlsx'
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import BinaryIO, Iterator

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from .. import constants as C
from ..errors import BadRequest
from ..schema import ratings, units, windows
from . import queue
from .cases import callback_asked, overdue
from .rating_export import _SAFE_NAME, FETCH, csv_chunks, parse_day, write_xlsx
from .tables import case_callbacks, cases, users

COLUMNS = ("case_id", "rating_id", "day", "unit_id", "unit_name", "window_id", "window_name",
           "staff_id", "staff_name", "level_name", "reason_names", "comment", "state",
           "resolution", "overdue", "first_contact_due", "first_contact_at", "answer_due",
           "answered_at", "closed_at", "callback_asked", "callbacks", "last_callback",
           "not_counted", "assignee", "note")
WIDTHS = (8, 38, 11, 10, 24, 10, 18, 10, 10, 12, 24, 40, 10, 16, 16, 11, 17, 11, 17, 17, 8,
          8, 12, 8, 12, 40)


@dataclass(frozen=True)
class Ledger:
    """Which cases: a queue tab (``queue.FILTERS``), in one unit of the scope or all of it
    (None), opened on the local days ``day_from``…``day_to`` (None: any)."""

    state: str
    unit_id: str | None
    day_from: dt.date | None
    day_to: dt.date | None

    @classmethod
    def parse(cls, q) -> "Ledger":
        """From the query string: ``state`` (a queue tab, "all" by default), ``unit``,
        ``from`` and ``to`` (YYYY-MM-DD, each may be left out)."""
        state = q.get("state") or "all"
        if state not in queue.FILTERS:
            raise BadRequest(f"state must be one of {', '.join(queue.FILTERS)}, got "
                             f"{state!r:.40}", field="state")
        first = parse_day(q["from"], "from") if q.get("from") else None
        last = parse_day(q["to"], "to") if q.get("to") else None
        if first and last and first > last:
            raise BadRequest(f"from {first} is after to {last}", field="from", detail_args={
                "msg": "from_after_to", "first": first, "last": last})
        return cls(state, q.get("unit") or None, first, last)

    def where(self, allowed: set[str], today: dt.date, user: dict) -> list:
        out = queue.where(allowed, today, self.state, user, self.unit_id)
        if self.day_from:
            out.append(cases.c.opened_day >= self.day_from.isoformat())
        if self.day_to:
            out.append(cases.c.opened_day <= self.day_to.isoformat())
        return out

    def file_name(self, fmt: str) -> str:
        unit = f"-{self.unit_id}" if self.unit_id and _SAFE_NAME.fullmatch(self.unit_id) else ""
        days = "".join(f"-{d}" for d in (self.day_from, self.day_to) if d)
        return f"cases-{self.state}{unit}{days}.{fmt}"

    def audit_detail(self, fmt: str, n: int) -> dict:
        return {"state": self.state, "unit": self.unit_id,
                "from": self.day_from.isoformat() if self.day_from else None,
                "to": self.day_to.isoformat() if self.day_to else None,
                "format": fmt, "count": n}


def count(conn: Connection, where: list) -> int:
    return conn.execute(select(func.count()).select_from(cases).where(*where)).scalar_one()


def _query(where: list):
    n_callbacks = (select(func.count()).where(case_callbacks.c.case_id == cases.c.id)
                   .correlate(cases).scalar_subquery())
    last_callback = (select(case_callbacks.c.result)
                     .where(case_callbacks.c.case_id == cases.c.id)
                     .order_by(case_callbacks.c.id.desc()).limit(1)
                     .correlate(cases).scalar_subquery())
    # Not the phone itself: whether there is one the citizen gave for a callback.
    return (select(cases, ratings.c.level, ratings.c.reasons, ratings.c.comment,
                   ratings.c.staff_name, ratings.c.flags,
                   callback_asked().label("callback_asked"),
                   units.c.name.label("unit_name"), windows.c.name.label("window_name"),
                   users.c.display_name.label("assignee_name"),
                   n_callbacks.label("n_callbacks"), last_callback.label("last_callback"))
            .join(ratings, ratings.c.id == cases.c.rating_id)
            .outerjoin(windows, windows.c.id == cases.c.window_id)
            .outerjoin(units, units.c.id == cases.c.unit_id)
            .outerjoin(users, users.c.id == cases.c.assignee_id)
            .where(*where).order_by(cases.c.opened_day, cases.c.id)
            .execution_options(yield_per=FETCH))


def rows(conn: Connection, where: list, today: dt.date, t, tz_hours: int) -> Iterator[list]:
    """The ledger's rows in ``COLUMNS`` order, oldest case first, ``FETCH`` at a time."""
    tz = dt.timezone(dt.timedelta(hours=tz_hours))
    sep, yes, no = t("p_list"), t("yes"), t("no")

    def when(value: dt.datetime | None) -> str:
        return value.astimezone(tz).strftime("%Y-%m-%d %H:%M") if value else ""

    for r in conn.execute(_query(where)).mappings():
        reasons = json.loads(r["reasons"]) if r["reasons"] else []
        flags = json.loads(r["flags"]) if r["flags"] else []
        # a callback owed past its deadline is overdue too, on a closed case as well
        late = overdue({**r, "callback_needed": bool(r["callback_asked"])
                        and not r["n_callbacks"]}, today)
        yield [r["id"], r["rating_id"], r["opened_day"], r["unit_id"], r["unit_name"],
               r["window_id"], r["window_name"], r["staff_id"], r["staff_name"],
               t.level_names.get(r["level"], r["level"]),
               sep.join(t.reason_names.get(k, k) for k in reasons), r["comment"],
               t("state_" + r["state"]),
               t("resolution_" + r["resolution"]) if r["resolution"] else "",
               sep.join(t("overdue_" + step) for step in late),
               r["first_contact_due"], when(r["first_contact_at"]), r["answer_due"],
               when(r["answered_at"]), when(r["closed_at"]),
               yes if r["callback_asked"] else no, r["n_callbacks"],
               t("result_" + r["last_callback"]) if r["last_callback"] else "",
               yes if C.FLAG_APPEAL_ACCEPTED in flags else no,
               r["assignee_name"] or "", r["note"] or ""]


def header(t) -> list[str]:
    return [t("ccol_" + c) for c in COLUMNS]


def write_file(conn: Connection, where: list, today: dt.date, fmt: str, t, tz_hours: int,
               target: BinaryIO) -> None:
    body = rows(conn, where, today, t, tz_hours)
    if fmt == "csv":
        for chunk in csv_chunks(body, header(t)):
            target.write(chunk)
    else:
        write_xlsx(body, header(t), WIDTHS, target, t("cases_sheet"))
