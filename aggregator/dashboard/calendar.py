"""The working-day calendar that case deadlines run on.

Weekends are off; ``holidays`` are extra days off and ``workdays`` are weekend days worked
instead (调休, e.g. the Saturday before National Day).

>>> cal = WorkCalendar(holidays={"2024-10-01"}, workdays={"2024-10-12"})
>>> str(cal.add_working_days("2024-09-30", 1))
'2024-10-02'
>>> cal.is_working_day("2024-10-12")
True
"""

from __future__ import annotations

import datetime as dt
from typing import Iterable


def _date(value) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


class WorkCalendar:
    """Working days: Monday to Friday, minus ``holidays``, plus ``workdays``."""

    def __init__(self, holidays: Iterable = (), workdays: Iterable = ()):
        self.holidays = {_date(d) for d in holidays}
        self.workdays = {_date(d) for d in workdays}
        self._due: dict[tuple, dt.date] = {}

    def is_working_day(self, day) -> bool:
        day = _date(day)
        if day in self.workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays

    def add_working_days(self, start, n: int) -> dt.date:
        """The ``n``-th working day after ``start`` (``start`` itself never counts, so a
        rating on a Friday evening with n=1 is due on Monday). n=0 gives ``start``."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        key = (start, n)
        due = self._due.get(key)  # ingest asks for the same few days in every batch
        if due is None:
            day = _date(start)
            while n:
                day += dt.timedelta(days=1)
                if self.is_working_day(day):
                    n -= 1
            if len(self._due) > 4096:
                self._due.clear()
            due = self._due[key] = day
        return due

    def working_days_between(self, start, end) -> int:
        """Working days after ``start`` up to and including ``end`` (0 if end <= start)."""
        day, end, count = _date(start), _date(end), 0
        while day < end:
            day += dt.timedelta(days=1)
            count += self.is_working_day(day)
        return count
