"""The public page of a unit lists its months from its first rating on: the months before the
system was in use read "0 0 —" with an empty bar, as if the hall had been open and no one had
rated it. Over SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import re

import requests
from sqlalchemy import func, select

from aggregator import org
from aggregator.dashboard.periods import Period
from aggregator.db import read, utcnow, write
from aggregator.schema import ratings

TZ = dt.timezone(dt.timedelta(hours=8))


def _months(html: str) -> list[str]:
    table = html[html.index("<tr data-pending>"):]
    table = table[:table.index("</table>")]
    return [m for m, _ in re.findall(r"<tr><td>([^<]+)</td>(.*?)</tr>", table, re.S)]


def test_months_before_a_units_first_rating_are_left_out(dash):
    today = utcnow().astimezone(TZ).date()
    with read(dash.engine) as conn:
        first = conn.execute(select(func.min(ratings.c.day))
                             .where(ratings.c.unit_id == "U-01")).scalar()
    first = dt.date.fromisoformat(str(first)[:10])
    want, p = [], Period("month", today.year, today.month).previous()
    for _ in range(6):
        if p.end >= first:
            want.append(p.label("zh_CN"))
        p = p.previous()
    assert 0 < len(want) < 6   # the demo's ratings begin within the six months shown
    html = requests.get(f"{dash.url}/public/units/U-01").text
    assert _months(html) == want
    assert "更早的月份尚未开通评价" in html
    assert not re.search(r"<td class=\"num\">0</td><td class=\"num\">—</td>", html)


def test_a_unit_without_any_rating_lists_no_month(dash):
    with write(dash.engine) as conn:
        org.save(conn, "units", {"id": "U-NEW", "name": "新设中心", "region_id": "R-T1"})
    for lang, note in (("zh_CN", "未开通"), ("en", "not in use yet")):
        html = requests.get(f"{dash.url}/public/units/U-NEW", params={"lang": lang}).text
        assert _months(html) == []
        assert html.count("data-not-started") == 3 and note in html   # both headlines, the table
