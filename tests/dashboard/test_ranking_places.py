"""Who takes a place in a ranking, and how its files show the rates: the "（未登记）" row and the
units and windows without a counted rating are listed, never ranked or held to the target,
alike on the page, the print bulletin, the JSON and the CSV/XLSX files; and every figure of the
XLSX displays what the page shows. Over SQLite and PostgreSQL, on the demo district."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import pytest
from openpyxl import load_workbook

from aggregator import constants as C
from aggregator import org
from aggregator.dashboard import exports
from aggregator.db import utcnow, write
from tests.dashboard.helpers import store_ratings

TZ = dt.timezone(dt.timedelta(hours=8))
STARS = {"very_satisfied": 5, "satisfied": 4, "basic_satisfied": 3, "dissatisfied": 2,
         "very_dissatisfied": 1}
NONE_NAME = "（未登记）"




def _month(day: dt.date) -> str:
    return f"{day.year}-{day.month:02d}"


@pytest.fixture(scope="module")
def site(dash):
    """The demo district, plus: one bad phone rating (no staff, no item) at W-002 this month
    and a good one last month; U-08 with 2 of 3 satisfied this month and 1 of 6 last month;
    U-09 and its window W-091 without any rating. Returns (dash, this month, last month)."""
    now = utcnow()
    this = now.astimezone(TZ).date()
    last_day = this.replace(day=1) - dt.timedelta(days=1)
    before = dt.datetime.combine(last_day.replace(day=15), dt.time(10), TZ)
    with write(dash.engine) as conn:
        for unit, window in (("U-08", "W-081"), ("U-09", "W-091")):
            org.save(conn, "units", {"id": unit, "name": f"测试中心{unit[-1]}",
                                     "region_id": "R-T1"})
            org.save(conn, "windows", {"id": window, "name": "综合窗口", "unit_id": unit})
    store_ratings(dash.engine, "W-002", "U-01", ["very_dissatisfied"], now)
    store_ratings(dash.engine, "W-002", "U-01", ["very_satisfied"], before)
    store_ratings(dash.engine, "W-081", "U-08", ["satisfied", "very_satisfied", "dissatisfied"], now)
    store_ratings(dash.engine, "W-081", "U-08", ["satisfied"] + ["very_dissatisfied"] * 5, before)
    return dash, _month(this), _month(last_day)


def _json(session, url, **params) -> dict:
    r = session.get(f"{url}/dashboard/api/rankings", params=params)
    assert r.status_code == 200, r.text[:300]
    return r.json()


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _places_are_right(report: dict) -> list[dict]:
    """The rows of ``MIN_VOLUME`` counted ratings or more numbered 1…n in order (rows equal
    on the sort key share a place: 1, 1, 3), then the rows of fewer ratings, then the
    "（未登记）" row, then the rows without a counted rating, these without rank, never below
    target nor counted in "达标 x / y". Returns the ranked rows.

    (Changed when rankings got a minimum volume: the rows of fewer than 10 ratings, U-08's 3
    here, took places 1…n with the rest; now they are listed without one. Rows tie on the
    same counted and satisfied ratings since rankings sort by the smoothed satisfaction
    rate, no longer on the same stars.)"""
    rows = report["rows"]
    placed = [r for r in rows if r["key"] is not None and r["rated"] >= C.MIN_VOLUME]
    unplaced = ([r for r in rows if r["key"] is not None and 0 < r["rated"] < C.MIN_VOLUME]
                + [r for r in rows if r["key"] is None and r["rated"]]
                + [r for r in rows if not r["rated"]])
    assert rows == placed + unplaced
    want, before = [], None
    for n, r in enumerate(placed, start=1):
        tie = (r["rated"], r["satisfied"])
        want.append(want[-1] if tie == before else n)
        before = tie
    assert [r["rank"] for r in placed] == want
    for r in unplaced:
        assert r["rank"] is None and r["below_target"] is False, r
    assert report["rated_rows"] == len(placed)
    goal = Fraction(repr(report["target"]))
    assert report["meeting_target"] == sum(Fraction(r["satisfied"], r["rated"]) >= goal
                                           for r in placed)
    return placed


@pytest.mark.parametrize("group", ["staff", "service_item"])
def test_the_not_recorded_row_is_listed_but_never_ranked_or_judged(site, group):
    # After one bad QR rating (no staff, no item) a unit manager's staff ranking showed
    # "7 （未登记） 0.00% 未达标", counted it in "达标 6 / 7" and the bulletin named it among
    # 未达标, though all six real staff met the target: it is nobody to rank or hold to it.
    dash, month, _ = site
    s = dash.login("u01")
    report = _json(s, dash.url, group=group, period=month)
    nobody = [r for r in report["rows"] if r["key"] is None]
    assert len(nobody) == 1 and nobody[0]["name"] == NONE_NAME and nobody[0]["bad"] >= 1
    placed = _places_are_right(report)

    html = s.get(f"{dash.url}/dashboard/rankings", params={"group": group,
                                                            "period": month}).text
    assert re.search(r"— " + NONE_NAME + r" 不参与排名 [\d,]+ [\d,]+ [\d.]+%", _text(html))
    below = re.search(r"<span>未达标</span><b[^>]*>(\d+)</b>", html)[1]
    assert int(below) == sum(r["below_target"] for r in placed)
    bulletin = _text(s.get(f"{dash.url}/dashboard/rankings",
                           params={"group": group, "period": month, "print": "1"}).text)
    assert f"达标 {report['meeting_target']} / {len(placed)}" in bulletin
    assert NONE_NAME not in bulletin.split("排名通报")[0]   # not named among 未达标

    table = list(csv.reader(io.StringIO(s.get(
        f"{dash.url}/dashboard/rankings.csv",
        params={"group": group, "period": month}).content.decode("utf-8-sig"))))
    ranks = [str(r["rank"] or "") for r in report["rows"]]
    # (the rows of fewer than 10 ratings come between the ranked rows and "（未登记）")
    at = report["rows"].index(nobody[0])
    assert [row[0] for row in table[1:]] == ranks and ranks[at] == ""
    assert table[at + 1][1] == NONE_NAME and table[at + 1][10] == ""
    sheet = load_workbook(io.BytesIO(s.get(f"{dash.url}/dashboard/rankings.xlsx", params={
        "group": group, "period": month}).content)).active
    body = [[c.value for c in row] for row in sheet.iter_rows(min_row=5)]
    assert [row[0] for row in body] == [r["rank"] for r in report["rows"]]
    assert body[at][1] == NONE_NAME and body[at][10] is None


def test_a_not_recorded_row_of_the_previous_period_takes_no_previous_rank(site):
    # Its place last month pushed the staff below it down one: "上期名次" must count the same
    # rows as this period's rank.
    dash, month, last = site
    s = dash.login("u01")
    before = _json(s, dash.url, group="staff", period=last)
    assert any(r["key"] is None for r in before["rows"])
    _places_are_right(before)
    was = {r["key"]: r["rank"] for r in before["rows"]}
    for r in _json(s, dash.url, group="staff", period=month)["rows"]:
        assert r["prev_rank"] == was.get(r["key"]), r


def test_units_and_windows_without_ratings_have_no_place(site):
    # They are listed last, "本期无有效评价", but showed a rank ("5") in the ranking and the
    # bulletin, as if they had come last.
    dash, month, _ = site
    s = dash.login("admin")
    for group, silent in (("unit", "U-09"), ("window", "W-091")):
        report = _json(s, dash.url, group=group, period=month)
        _places_are_right(report)
        row = report["rows"][-1]
        assert (row["key"], row["rated"], row["rank"], row["prev_rank"]) == (silent, 0, None, None)
        for html in (s.get(f"{dash.url}/dashboard/rankings", params={
                "group": group, "period": month}).text,
                     s.get(f"{dash.url}/dashboard/rankings", params={
                         "group": group, "period": month, "print": "1"}).text):
            last = re.findall(r"<tr[^>]*>(.*?)</tr>", html, re.S)[-1]
            assert "data-no-ratings" in last and "data-unranked" in last, last
            assert not re.search(r'class="rankno[^"]*">\d', last), last
        table = list(csv.reader(io.StringIO(s.get(
            f"{dash.url}/dashboard/rankings.csv",
            params={"group": group, "period": month}).content.decode("utf-8-sig"))))
        assert table[-1][2] == silent and table[-1][0] == ""
        sheet = load_workbook(io.BytesIO(s.get(f"{dash.url}/dashboard/rankings.xlsx", params={
            "group": group, "period": month}).content)).active
        assert sheet.cell(row=sheet.max_row, column=3).value == silent
        assert sheet.cell(row=sheet.max_row, column=1).value is None


def _excel_shows(value: float, places: int = 2) -> str:
    """What Excel or WPS display for ``value`` in a "0.00%" cell: the stored decimal, rounded
    half away from zero (not cut)."""
    shown = (Decimal(repr(value)) * 100).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)
    return f"{shown}%"


def test_the_xlsx_shows_every_rate_as_the_page_does(site):
    # The XLSX stored exact fractions in "0.00%" cells, which Excel rounds: 1929/1970 read
    # 97.92 % there and 97.91 % on the page and in the CSV; U-08's 2 of 3 read 66.67 %.
    dash, month, _ = site
    s = dash.login("admin")
    report = _json(s, dash.url, group="unit", period=month)
    page = s.get(f"{dash.url}/dashboard/rankings", params={"group": "unit",
                                                           "period": month}).text
    shown = {key: rate for key, rate in re.findall(
        r'href="/dashboard/units/([^"?]+)[^"]*">.*?<td class="ratecell"><b>([^<]+)</b>', page,
        re.S)}
    assert shown["U-08"] == "66.66%"
    sheet = load_workbook(io.BytesIO(s.get(f"{dash.url}/dashboard/rankings.xlsx", params={
        "group": "unit", "period": month}).content)).active
    rows = {row[2].value: row for row in sheet.iter_rows(min_row=5)}
    by_key = {r["key"]: r for r in report["rows"]}
    checked = 0
    for key, rate in shown.items():
        if rate == "—":
            assert rows[key][6].value is None
            continue
        cells = rows[key]
        assert cells[6].number_format == "0.00%"
        assert _excel_shows(cells[6].value) == rate, key
        prev = by_key[key]["prev_rate"]
        if prev is not None:
            assert _excel_shows(cells[8].value) == exports.share_text(prev), key
            # the change is the difference of the two rates shown
            assert cells[9].value == pytest.approx(cells[6].value - cells[8].value, abs=1e-9)
        checked += 1
    assert checked >= 5
    assert _excel_shows(rows["U-08"][8].value) == "16.66%"   # 1 of 6 last month
    overall = re.search(r"总体满意率</span><b>([^<]+)</b>", page)[1]
    assert _excel_shows(sheet["F2"].value) == overall == exports.share_text(
        report["total"]["rate"])


def test_a_rate_just_below_the_target_is_not_shown_as_the_target_in_the_xlsx():
    # A unit at 79.995 % read "80.00%" in the XLSX, on the red fill of 未达标.
    from aggregator.dashboard.i18n import translator

    row = {"key": "U-01", "name": "示范单位", "rank": 1, "rated": 20_000, "satisfied": 15_999,
           "bad": 4_001, "rate": 15_999 / 20_000, "smoothed": 4.0, "prev_rate": 0.666667,
           "rate_change": 0.133328, "prev_rank": 1, "below_target": True, "flagged": 0}
    report = {"group_by": "unit", "rows": [row], "target": 0.855,
              "total": {"rated": 20_000, "rate": 15_999 / 20_000}}
    sheet = load_workbook(io.BytesIO(exports.to_xlsx(report, translator("zh"), "t"))).active
    assert [_excel_shows(sheet[c].value) for c in ("G5", "I5", "J5", "F2")] == \
        ["79.99%", "66.66%", "13.33%", "79.99%"]
    assert sheet["G5"].fill.fgColor.rgb.endswith("FDE2E1")
    # the target as set: "0%" showed 85.5 % as "86%"
    assert sheet["B2"].number_format == "0.0%" and sheet["B2"].value == 0.855


def test_the_assessment_xlsx_shows_each_score_as_the_page_does():
    # Scores are written with one decimal on the page (f"{v:.1f}": 87.25 is "87.2"), and the
    # XLSX kept the exact number in a "0.0" cell, which Excel shows as 87.3.
    from types import SimpleNamespace

    from aggregator.dashboard.i18n import translator
    from aggregator.dashboard.periods import Period

    parts = {"citizens": 87.25, "peers": 92.45, "leaders": 70.05, "composite": 83.4}
    row = {"name": "综合窗口", "id": "W-001", "unit_name": "城关", "rated": 40, "reviewers": 5,
           "weights_used": {"citizens": 0.6, "peers": 0.3, "leaders": 0.1},
           "renormalised": False, "missing": [], "stars": 4, "award": False, **parts}
    data = {"period": Period("month", 2026, 11), "published_units": [],
            "settings": SimpleNamespace(weights={"citizens": 0.6, "peers": 0.3, "leaders": 0.1},
                                        thresholds=[60, 70, 80, 90]),
            "window_rows": [row], "staff_rows": []}
    sheet = load_workbook(io.BytesIO(exports.assessment_xlsx(
        data, translator("zh"), "t", "zh_CN"))).active
    for column, key in (("F", "citizens"), ("H", "peers"), ("J", "leaders"),
                        ("K", "composite")):
        cell = sheet[f"{column}5"]
        excel = (Decimal(repr(cell.value))).quantize(Decimal("0.1"), ROUND_HALF_UP)
        assert (cell.number_format, str(excel)) == ("0.0", f"{parts[key]:.1f}"), key
