"""Rates are judged against the target on the exact counts and shown cut (never rounded up)
from the exact ratio, at any volume: on the ranking page, its JSON and CSV, and the public
page. Over SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest
import requests

from aggregator import org, rollups
from aggregator.db import utcnow, write

TZ = dt.timezone(dt.timedelta(hours=8))


@pytest.fixture(scope="module")
def big(dash):
    """Last month, straight into the rollups (no one stores millions of rating rows for a
    test): U-31 with 1,600,000 satisfied of 2,000,001 (79.99996 %), U-32 with one bad rating
    in 3,000,000 (99.99997 %). Returns (dash, last month's key)."""
    first = utcnow().astimezone(TZ).replace(day=1)
    day = (first - dt.timedelta(days=16)).date()
    with write(dash.engine) as conn:
        for unit in ("U-31", "U-32"):
            org.save(conn, "units", {"id": unit, "name": f"大量中心{unit[-1]}",
                                     "region_id": "R-T4"})
            org.save(conn, "windows", {"id": "W" + unit[2:] + "1", "name": "综合窗口",
                                       "unit_id": unit})
        d = day.isoformat()
        rollups.write(conn, {
            (d, "W-311", "U-31", "", "", "very_satisfied", 0): [1_600_000, 8_000_000, 0],
            (d, "W-311", "U-31", "", "", "dissatisfied", 0): [400_001, 800_002, 0],
            (d, "W-321", "U-32", "", "", "very_satisfied", 0): [2_999_999, 14_999_995, 0],
            (d, "W-321", "U-32", "", "", "very_dissatisfied", 0): [1, 1, 0]})
    return dash, f"{day.year}-{day.month:02d}"


def test_a_rate_a_hair_below_the_target_is_below_it_and_never_shown_as_it(big):
    # stats rounded the rate to 6 places before the target test and the display: 1,600,000 of
    # 2,000,001 (79.99996 %) became 0.8, read "80.00%" and met the 80 % target; one bad rating
    # in 3 million read "100.00%".
    dash, month = big
    s = dash.login("admin")
    rows = {r["key"]: r for r in s.get(f"{dash.url}/dashboard/api/rankings", params={
        "group": "unit", "period": month}).json()["rows"]}
    assert rows["U-31"]["below_target"] is True and rows["U-32"]["below_target"] is False
    assert rows["U-31"]["rate"] < 0.8 and rows["U-32"]["rate"] < 1
    page = s.get(f"{dash.url}/dashboard/rankings", params={"group": "unit",
                                                           "period": month}).text
    shown = dict(re.findall(r'href="/dashboard/units/([^"?]+)[^"]*">.*?<td class="ratecell">'
                            r'<b>([^<]+)</b>', page, re.S))
    assert (shown["U-31"], shown["U-32"]) == ("79.99%", "99.99%")
    row = next(r for r in re.findall(r"<tr[^>]*>(.*?)</tr>", page, re.S) if "/U-31?" in r)
    assert "未达标" in row
    table = list(csv.reader(io.StringIO(s.get(f"{dash.url}/dashboard/rankings.csv", params={
        "group": "unit", "period": month}).content.decode("utf-8-sig"))))
    lines = {x[2]: x for x in table[1:]}
    assert (lines["U-31"][6], lines["U-31"][10]) == ("79.99%", "是")
    assert (lines["U-32"][6], lines["U-32"][10]) == ("99.99%", "")


def test_the_public_page_cuts_the_exact_rate(big):
    # The public page's "99.9%" and "79.9%" read "100.0%" and "80.0%" from the rounded rate.
    dash, month = big
    label = f"{int(month[:4])}年{int(month[5:])}月"
    for unit, rate in (("U-31", "79.9%"), ("U-32", "99.9%")):
        html = requests.get(f"{dash.url}/public/units/{unit}").text
        row = re.search(rf"<tr><td>{label}</td>(.*?)</tr>", html, re.S)[1]
        assert re.search(r"<b>([^<]+)</b>", row)[1] == rate, unit
