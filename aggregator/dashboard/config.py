"""Dashboard settings: declared once with default and help; stored overrides in
``dashboard_kv`` (an admin edits them on the settings page), so every worker sees the same.

>>> DashboardSettings().target_rate
0.8
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields

from sqlalchemy import update
from sqlalchemy.engine import Connection

from ..db import insert_ignore, sql
from ..errors import BadRequest
from .calendar import WorkCalendar
from .tables import dashboard_kv

HELP = {
    "target_rate": "Satisfaction-rate target of a unit, window or staff member (0-1)",
    "first_contact_days": "Working days to the first contact with the rater of a bad rating",
    "answer_days": "Working days to rectify and answer a bad rating",
    "holidays": "Public holidays (YYYY-MM-DD) that are not working days",
    "workdays": "Weekend days that are working days (调休), YYYY-MM-DD",
    "session_hours": "Lifetime of a login session",
    "lockout_failures": "Failed logins (per user name and per IP) before a lockout",
    "lockout_minutes": "Length of a login lockout",
}
KEY = "dashboard_settings"
# Bounds of the whole numbers (the settings form shows the same). A deadline below 0 made every
# batch with a bad rating fail in ingest (the case could not be dated); a huge one spun.
RANGES = {"first_contact_days": (0, 60), "answer_days": (1, 120), "session_hours": (1, 720),
          "lockout_failures": (1, 1000), "lockout_minutes": (1, 10080)}


@dataclass
class DashboardSettings:
    """Dashboard settings; see ``HELP`` for each."""

    target_rate: float = 0.8
    first_contact_days: int = 1
    answer_days: int = 15
    holidays: list = field(default_factory=list)
    workdays: list = field(default_factory=list)
    session_hours: int = 12
    lockout_failures: int = 5
    lockout_minutes: int = 15

    def calendar(self) -> WorkCalendar:
        return WorkCalendar(self.holidays, self.workdays)

    @classmethod
    def from_dict(cls, data: dict) -> "DashboardSettings":
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise BadRequest(f"unknown dashboard setting {unknown[0]!r}; known: "
                             f"{', '.join(known)}", field=unknown[0])
        out = cls()
        for name, value in data.items():
            kind = type(getattr(out, name))
            try:
                if kind is list:
                    value = sorted({str(_day(v, name)) for v in value})
                else:
                    value = kind(value)
            except (TypeError, ValueError):
                raise BadRequest(f"{name} must be {kind.__name__}, got {value!r:.80}",
                                 field=name) from None
            setattr(out, name, value)
        if not 0 < out.target_rate <= 1:
            raise BadRequest(f"target_rate must be in (0, 1], got {out.target_rate}",
                             field="target_rate")
        for name, (lo, hi) in RANGES.items():
            if not lo <= getattr(out, name) <= hi:
                raise BadRequest(f"{name} must be from {lo} to {hi}, got {getattr(out, name)}",
                                 field=name)
        if out.first_contact_days > out.answer_days:
            raise BadRequest(f"first_contact_days ({out.first_contact_days}) must not be later "
                             f"than answer_days ({out.answer_days})", field="first_contact_days",
                             detail_args={"msg": "first_contact_after_answer",
                                          "first": out.first_contact_days,
                                          "answer": out.answer_days})
        return out


def _day(value, name):
    import datetime as dt

    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise BadRequest(f"{name}: {value!r:.40} is not a date YYYY-MM-DD", field=name,
                         detail_args={"msg": "not_a_date", "field": name, "value": value}
                         ) from None


def load(conn: Connection) -> DashboardSettings:
    return parse(stored_text(conn))


def stored_text(conn: Connection) -> str | None:
    """The stored settings' JSON text (None: all defaults). Ingest reads it in nearly every
    batch (``cases.open_cases_for``): sent straight to the driver."""
    return sql(conn, "SELECT value FROM dashboard_kv WHERE key = ?", (KEY,)).scalar()


def parse(text: str | None) -> DashboardSettings:
    return DashboardSettings.from_dict(json.loads(text)) if text else DashboardSettings()


def save(conn: Connection, settings: DashboardSettings) -> None:
    value = json.dumps(asdict(settings), ensure_ascii=False)
    if not insert_ignore(conn, dashboard_kv, [{"key": KEY, "value": value}], returning="key"):
        conn.execute(update(dashboard_kv).where(dashboard_kv.c.key == KEY).values(value=value))
