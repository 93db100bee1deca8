"""Reporting periods: months (``2024-05``) and quarters (``2024-Q2``), and the one before.

>>> p = Period.parse("2024-Q1"); (str(p.start), str(p.end), p.previous().key)
('2024-01-01', '2024-03-31', '2023-Q4')
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from .. import constants as C
from ..errors import BadRequest


@dataclass(frozen=True)
class Period:
    kind: str  # "month" | "quarter"
    year: int
    number: int  # month 1-12 or quarter 1-4

    @classmethod
    def parse(cls, value: str | None, today: dt.date | None = None) -> "Period":
        if not value:
            today = today or dt.date.today()
            return cls("month", today.year, today.month)
        # Years as dates anywhere (year 1's previous period and 9999's end were a 500).
        m = re.fullmatch(r"(\d{4})-(\d{2})", value)
        if m and 1 <= int(m[2]) <= 12 and C.MIN_YEAR <= int(m[1]) <= C.MAX_YEAR:
            return cls("month", int(m[1]), int(m[2]))
        m = re.fullmatch(r"(\d{4})-[Qq]([1-4])", value)
        if m and C.MIN_YEAR <= int(m[1]) <= C.MAX_YEAR:
            return cls("quarter", int(m[1]), int(m[2]))
        raise BadRequest(f"period must be YYYY-MM or YYYY-Qn in the years {C.MIN_YEAR}–"
                         f"{C.MAX_YEAR}, got {value!r:.40}", field="period")

    @property
    def key(self) -> str:
        return f"{self.year}-{self.number:02d}" if self.kind == "month" \
            else f"{self.year}-Q{self.number}"

    @property
    def start(self) -> dt.date:
        month = self.number if self.kind == "month" else 3 * self.number - 2
        return dt.date(self.year, month, 1)

    @property
    def end(self) -> dt.date:
        months = 1 if self.kind == "month" else 3
        m = self.start.month - 1 + months
        return dt.date(self.year + m // 12, m % 12 + 1, 1) - dt.timedelta(days=1)

    def previous(self) -> "Period":
        if self.number > 1:
            return Period(self.kind, self.year, self.number - 1)
        return Period(self.kind, self.year - 1, 12 if self.kind == "month" else 4)

    def label(self, lang: str) -> str:
        if lang == "en":
            return self.start.strftime("%B %Y") if self.kind == "month" \
                else f"Q{self.number} {self.year}"
        return f"{self.year}年{self.number}月" if self.kind == "month" \
            else f"{self.year}年第{self.number}季度"


def recent(today: dt.date, months: int = 12) -> list[Period]:
    """The current and previous months, then the current and previous quarters."""
    out, p = [], Period("month", today.year, today.month)
    for _ in range(months):
        out.append(p)
        p = p.previous()
    q = Period("quarter", today.year, (today.month - 1) // 3 + 1)
    for _ in range(4):
        out.append(q)
        q = q.previous()
    return out
