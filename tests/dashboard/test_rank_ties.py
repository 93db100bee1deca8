"""Rows equal on a ranking's sort key share a place (1, 1, 3) wherever places are shown or
exported: the JSON, the page, the print bulletin, the CSV and XLSX files, the previous rank
and the admin stats API. Over SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest
import requests
from openpyxl import load_workbook

from aggregator import org
from aggregator.dashboard.periods import Period
from aggregator.db import utcnow, write
from tests.dashboard.helpers import store_ratings

TZ = dt.timezone(dt.timedelta(hours=8))
VS, D = "very_satisfied", "dissatisfied"




@pytest.fixture(scope="module")
def tied(dash):
    """U-07 with three windows last month: W-071 and W-072 of identical figures (12 ratings,
    all 5★), W-073 a little lower (11 of 5★, one 差评 of 2★). Returns (dash, last month).

    (W-073's 12th rating was 4★ while rankings sorted by smoothed stars; ranked by the
    satisfaction rate a 4★ is as satisfied as a 5★, and W-073 would tie with the others.)"""
    first = utcnow().astimezone(TZ).replace(day=1, hour=10, minute=0)
    when = first - dt.timedelta(days=16)
    with write(dash.engine) as conn:
        org.save(conn, "units", {"id": "U-07", "name": "并列中心", "region_id": "R-T2"})
        for window in ("W-071", "W-072", "W-073"):
            org.save(conn, "windows", {"id": window, "name": f"并列窗口{window[-1]}",
                                       "unit_id": "U-07"})
    store_ratings(dash.engine, "W-071", "U-07", [VS] * 12, when)
    store_ratings(dash.engine, "W-072", "U-07", [VS] * 12, when)
    store_ratings(dash.engine, "W-073", "U-07", [VS] * 11 + [D], when)
    return dash, Period("month", when.year, when.month)


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_windows_of_identical_figures_share_a_place(tied):
    # W-081 and W-082, 10 ratings of 5★ each, were ranked 1 and 2 by their ids: a bulletin
    # that rewards the first named one of two equal windows the better.
    dash, month = tied
    s = dash.login("admin")
    params = {"group": "window", "period": month.key, "unit": "U-07"}
    report = s.get(f"{dash.url}/dashboard/api/rankings", params=params).json()
    assert [(r["key"], r["rank"]) for r in report["rows"]] == \
        [("W-071", 1), ("W-072", 1), ("W-073", 3)]

    for extra in ({}, {"print": "1"}):
        html = s.get(f"{dash.url}/dashboard/rankings", params={**params, **extra}).text
        places = re.findall(r'class="rankno[^"]*">(\d+)</span>', html)
        assert places == ["1", "1", "3"], extra
    table = list(csv.reader(io.StringIO(s.get(f"{dash.url}/dashboard/rankings.csv",
                                              params=params).content.decode("utf-8-sig"))))
    assert [(x[0], x[2]) for x in table[1:]] == [("1", "W-071"), ("1", "W-072"), ("3", "W-073")]
    sheet = load_workbook(io.BytesIO(s.get(f"{dash.url}/dashboard/rankings.xlsx",
                                           params=params).content)).active
    assert [(r[0], r[2]) for r in sheet.iter_rows(min_row=5, values_only=True)] == \
        [(1, "W-071"), (1, "W-072"), (3, "W-073")]

    # the next month's "上期名次" (previous rank) shares the place too
    after = month.end + dt.timedelta(days=1)
    nxt = s.get(f"{dash.url}/dashboard/api/rankings", params={
        **params, "period": Period("month", after.year, after.month).key}).json()
    assert {r["key"]: r["prev_rank"] for r in nxt["rows"]} == \
        {"W-071": 1, "W-072": 1, "W-073": 3}


def test_the_stats_api_gives_tied_rows_one_place(tied):
    # The admin stats API numbered its rows 1, 2, 3 by id as well.
    dash, month = tied
    r = requests.get(f"{dash.url}/api/v1/stats", headers={"Authorization": "Bearer t"},
                     params={"group_by": "window", "unit": "U-07", "from": str(month.start),
                             "to": str(month.end)}, timeout=10)
    assert r.status_code == 200, r.text[:300]
    assert [(x["key"], x["rank"]) for x in r.json()["rows"]] == \
        [("W-071", 1), ("W-072", 1), ("W-073", 3)]
