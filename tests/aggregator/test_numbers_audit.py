"""The figures a supervisor reads (rates, counts, bad ratings, rankings, exports, the heatmap)
against counts made by hand from the raw ``ratings`` rows of real signed uploads: ratings near
local midnight and month ends, a kiosk whose clock runs a day ahead and one offline for weeks,
flagged presses, a 4-level unit, QR ratings, timed-out invitations, a follow-up added later,
staff and windows moved mid-month. SQLite and, with AGGREGATOR_TEST_PG_URL, PostgreSQL."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections import defaultdict

import pytest
import requests
from sqlalchemy import select

from aggregator import constants as C
from aggregator import org, stats
from aggregator.dashboard import accounts, drill, rankings
from aggregator.dashboard.periods import Period
from aggregator.db import read, utcnow, write
from aggregator.schema import ratings, units
from tests.aggregator.device import LEVEL_STARS, Device, enroll_code
from tests.dashboard.helpers import PASSWORD, Dashboard
from tests.qr_form import qr_post

PRIOR = 20.0
LOCAL = dt.timezone(dt.timedelta(hours=8))
NOV = (dt.date(2026, 11, 1), dt.date(2026, 11, 30))
MID = "2026-11-16T10:00:00+08:00"   # a Monday
ADMIN = {"role": "admin"}


def enrol(server, window: str) -> Device:
    d = Device(server.url, window_id=window)
    assert d.enroll(enroll_code(server, window)).status_code == 200
    return d


def rating(d: Device, level: str, when: str, unit: str, **payload) -> dict:
    payload.setdefault("staff_id", None)
    payload.setdefault("staff_name", None)
    return d.rating(level, device_time=when, unit_id=unit, stars=LEVEL_STARS[level], **payload)


def raw_ratings(server) -> list[dict]:
    with read(server.engine) as conn:
        return [dict(r) for r in conn.execute(select(ratings)).mappings()]


def by_hand(rows: list[dict], key: str, lo: dt.date, hi: dt.date, include_flagged: bool):
    """Per group of ``key``: rated, satisfied (3–5★), bad (1–2★), stars, flagged; and the
    global mean m; counted from raw ratings rows."""
    groups = defaultdict(lambda: dict(rated=0, satisfied=0, bad=0, stars_sum=0, flagged=0))
    for r in rows:
        if not lo.isoformat() <= r["day"] <= hi.isoformat():
            continue
        g = groups[r[key]]
        if r["flagged"]:
            g["flagged"] += 1
            if not include_flagged:
                continue
        g["rated"] += 1
        g["stars_sum"] += r["stars"]
        g["satisfied"] += r["stars"] >= 3
        g["bad"] += r["stars"] <= 2
    n = sum(g["rated"] for g in groups.values())
    m = sum(g["stars_sum"] for g in groups.values()) / n if n else 0.0
    return dict(groups), m


@pytest.fixture
def district(org_setup):
    """U-01 (W-001, W-002; staff S-007, S-008), U-02 on a 4-level scale (W-201), U-04 whose
    every rating is flagged (W-401), all in town R-1a."""
    with write(org_setup.engine) as conn:
        org.save(conn, "units", {"id": "U-02", "name": "四级中心", "region_id": "R-1a",
                                 "scale": 4})
        org.save(conn, "units", {"id": "U-04", "name": "全标记中心", "region_id": "R-1a"})
        org.save(conn, "windows", {"id": "W-201", "name": "综合窗口", "unit_id": "U-02"})
        org.save(conn, "windows", {"id": "W-401", "name": "综合窗口", "unit_id": "U-04"})
        org.save(conn, "staff", {"id": "S-008", "name": "李强", "staff_no": "0008",
                                 "unit_id": "U-01", "window_id": "W-001", "pin": "1234"})
    return org_setup


def test_every_figure_matches_the_raw_ratings(district):
    # The broad audit: whatever path the stats take (whole months from the monthly rollups,
    # other days from the daily ones), each figure must be what the raw rows say, and each
    # rating must be counted on the local day it was given.
    s = district
    d1, d2, d3, d4 = (enrol(s, w) for w in ("W-001", "W-002", "W-201", "W-401"))
    late = rating(d1, "very_dissatisfied", MID, "U-01", staff_id="S-008")
    sent: dict[str, tuple[str, int]] = {}   # event id → (device time as written, clock skew s)
    batch1 = [rating(d1, "very_satisfied", "2026-11-30T23:59:30+08:00", "U-01", staff_id="S-007"),
              # 16:30 UTC on Nov 30 is 00:30 on Dec 1 in the hall
              rating(d1, "dissatisfied", "2026-11-30T16:30:00+00:00", "U-01", staff_id="S-007"),
              rating(d1, "satisfied", MID, "U-01", staff_id="S-007"),
              rating(d1, "satisfied", MID, "U-01", staff_id="S-008", invitation_id="inv-1"),
              rating(d1, "basic_satisfied", MID, "U-01", staff_id="S-008"),
              rating(d1, "very_satisfied", MID, "U-01", staff_id="S-008", flags=["lockout"]),
              rating(d1, "very_dissatisfied", MID, "U-01", staff_id="S-008",
                     flags=["lockout", "burst"]),
              d1.event("not_rated", {"invitation_id": "i1", "window_id": "W-001",
                                     "staff_id": "S-008"}, device_time=MID),
              d1.event("not_rated", {"invitation_id": "i2", "window_id": "W-001",
                                     "staff_id": "S-008"}, device_time=MID),
              late]
    sent |= {e["id"]: (e["device_time"], 0) for e in batch1 if e["type"] == "rating"}
    assert d1.post_batch(batch1).status_code == 200
    follow = d1.event("follow_up", {"rating_id": late["id"], "reasons": ["attitude"],
                                    "reasons_version": 1, "phone": None,
                                    "callback_consent": False, "completed": True})
    assert d1.post_batch([follow]).status_code == 200
    # a kiosk whose clock runs a day ahead, offline since October: its own times, its offset
    ahead = [rating(d2, "very_satisfied", "2026-12-01T09:00:00+08:00", "U-01", staff_id="S-008"),
             rating(d2, "dissatisfied", "2026-12-01T09:00:00+08:00", "U-01", staff_id="S-008"),
             rating(d2, "satisfied", "2026-10-31T23:30:00+08:00", "U-01", staff_id="S-008")]
    sent |= {e["id"]: (e["device_time"], 86400) for e in ahead}
    assert d2.post_batch(ahead, headers={"X-Clock-Offset": "-86400"}).status_code == 200
    four = [rating(d3, lv, MID, "U-02", scale=4) for lv in
            ("very_satisfied", "satisfied", "dissatisfied", "very_dissatisfied")]
    sent |= {e["id"]: (e["device_time"], 0) for e in four}
    assert d3.post_batch(four).status_code == 200
    flagged = [rating(d4, "very_satisfied", MID, "U-04", flags=["lockout"]) for _ in range(3)]
    sent |= {e["id"]: (e["device_time"], 0) for e in flagged}
    assert d4.post_batch(flagged).status_code == 200
    for level in ("dissatisfied", "very_satisfied"):   # the second is within the QR limit
        r = qr_post(s.url, "W-002", data={"level": level},
                          allow_redirects=False, timeout=10)
        assert r.status_code == 303, r.text

    rows = raw_ratings(s)
    assert len(rows) == len(sent) + 2   # the two not_rated are no ratings
    for r in rows:
        if r["id"] in sent:
            when, skew = sent[r["id"]]
            local = (dt.datetime.fromisoformat(when) - dt.timedelta(seconds=skew)).astimezone(LOCAL)
            assert r["day"] == local.date().isoformat(), (r["id"], when, skew, r["day"])
        else:   # the QR page: server time
            assert r["channel"] == 3 and r["day"] == utcnow().astimezone(LOCAL).date().isoformat()

    today = utcnow().astimezone(LOCAL).date()
    ranges = [NOV, (dt.date(2026, 10, 1), today), (dt.date(2026, 11, 30), dt.date(2026, 12, 1)),
              (dt.date(2026, 10, 15), dt.date(2026, 11, 20))]
    keys = {"unit": "unit_id", "window": "window_id", "staff": "staff_id",
            "service_item": "service_item"}
    for lo, hi in ranges:
        for include in (False, True):
            for group, column in keys.items():
                want, m = by_hand(rows, column, lo, hi, include)
                got = requests.get(f"{s.url}/api/v1/stats", headers=s.admin, timeout=10, params={
                    "group_by": group, "from": lo.isoformat(), "to": hi.isoformat(),
                    "include_flagged": "true" if include else "false"}).json()
                assert got["global_mean"] == pytest.approx(m, abs=1e-6)
                rows_by_key = {r["key"]: r for r in got["rows"]}
                for key, w in want.items():
                    g = rows_by_key[key]
                    where = (lo, hi, include, group, key)
                    assert {f: g[f] for f in w} == w, where
                    assert g["rate"] == (pytest.approx(w["satisfied"] / w["rated"], abs=1e-6)
                                         if w["rated"] else None), where
                    assert g["smoothed"] == (pytest.approx(
                        (PRIOR * m + w["stars_sum"]) / (PRIOR + w["rated"]), abs=1e-6)
                        if w["rated"] else None), where
                # groups made of timed-out invitations alone hold no rating
                assert all(r["rated"] == 0 for k, r in rows_by_key.items() if k not in want)
                assert got["total"]["rated"] == sum(w["rated"] for w in want.values())
                assert got["total"]["bad"] == sum(w["bad"] for w in want.values())
    # invitations: one answered (inv-1), two timed out, all by S-008 at W-001
    nov = stats_rows(s, "staff", NOV)
    assert (nov["S-008"]["invited"], nov["S-008"]["not_rated"]) == (1, 2)
    assert nov["S-008"]["response_rate"] == pytest.approx(1 / 3, abs=1e-6)


def stats_rows(server, group: str, days, **kw) -> dict:
    with read(server.engine) as conn:
        return {r["key"]: r for r in stats.compute(conn, group, *days, prior=PRIOR, **kw)["rows"]}


def test_unit_without_a_counted_rating_ranks_after_every_rated_unit(district):
    # A unit whose every rating is flagged (the rigged-kiosk pattern) has no counted rating:
    # the prior alone gave it the global mean as its score, and it ranked above units with
    # real ratings below that mean: second of three in a bulletin that punishes the last.
    # With the prior weight set to 0 the same row divided by zero (a 500 for every ranking).
    s = district
    d1, d3, d4 = enrol(s, "W-001"), enrol(s, "W-201"), enrol(s, "W-401")
    assert d1.post_batch([rating(d1, lv, MID, "U-01") for lv in
                          ("very_satisfied", "very_satisfied", "satisfied")]).status_code == 200
    assert d3.post_batch([rating(d3, lv, MID, "U-02", scale=4) for lv in
                          ("satisfied", "dissatisfied")]).status_code == 200
    assert d4.post_batch([rating(d4, "very_satisfied", MID, "U-04", flags=["lockout"])
                          for _ in range(4)]).status_code == 200
    rows = raw_ratings(s)
    counted = {u for u in ("U-01", "U-02", "U-04")
               if any(r["unit_id"] == u and not r["flagged"] for r in rows)}
    assert counted == {"U-01", "U-02"}
    for prior in (PRIOR, 0.0):
        with read(s.engine) as conn:
            report = rankings.ranking(conn, ADMIN, "unit", Period("month", 2026, 11),
                                      prior=prior, target=0.8)
        order = [r["key"] for r in report["rows"]]
        assert set(order[:len(counted)]) == counted and order[-1] == "U-04", (prior, order)
        last = report["rows"][-1]
        assert (last["rated"], last["flagged"], last["smoothed"], last["rate"]) == (0, 4, None, None)
    # with the switch, its flagged ratings count and it has a score again
    with read(s.engine) as conn:
        report = rankings.ranking(conn, ADMIN, "unit", Period("month", 2026, 11),
                                  prior=PRIOR, target=0.8, include_flagged=True)
    assert {r["key"]: r["rated"] for r in report["rows"]}["U-04"] == 4
    assert all(r["smoothed"] is not None for r in report["rows"])


def test_window_and_staff_moved_to_another_unit_stay_in_the_old_units_rankings(district):
    # Ratings count for the unit they were made in. A window (or a person) moved to another
    # unit mid-month disappeared from the old unit's window (staff) ranking, whose total still
    # held its ratings, and showed in the new unit's with nothing of its own: the bulletin's
    # rows did not add up to its total, and the old unit's worst window could vanish.
    s = district
    d1 = enrol(s, "W-001")
    assert d1.post_batch([rating(d1, lv, MID, "U-01", staff_id="S-008") for lv in
                          ("very_satisfied", "dissatisfied", "very_dissatisfied")]).status_code == 200
    with write(s.engine) as conn:
        org.save(conn, "windows", {"id": "W-001", "name": "民政窗口", "unit_id": "U-02"})
        org.save(conn, "staff", {"id": "S-008", "name": "李强", "staff_no": "0008",
                                 "unit_id": "U-02", "window_id": "W-001"})
    rows = raw_ratings(s)
    for unit in ("U-01", "U-02"):
        mine = [r for r in rows if r["unit_id"] == unit]
        for group, column in (("window", "window_id"), ("staff", "staff_id")):
            want, _ = by_hand(mine, column, *NOV, include_flagged=False)
            with read(s.engine) as conn:
                report = rankings.ranking(conn, {"role": "unit_manager", "unit_id": unit},
                                          group, Period("month", 2026, 11), prior=PRIOR,
                                          target=0.8)
            # (the unit's windows without a rating here are listed last, with nothing)
            got = {r["key"]: (r["rated"], r["bad"]) for r in report["rows"]
                   if not r.get("no_ratings")}
            assert got == {k: (w["rated"], w["bad"]) for k, w in want.items()}, (unit, group)
            assert all(r["rated"] == 0 for r in report["rows"] if r.get("no_ratings"))
            assert sum(r["rated"] for r in report["rows"]) == report["total"]["rated"]
            # places 1…n for the rows of MIN_VOLUME ratings or more; the others have none
            placed = [r for r in report["rows"] if r["rated"] >= C.MIN_VOLUME]
            assert [r["rank"] for r in report["rows"]] == \
                list(range(1, len(placed) + 1)) + [None] * (len(report["rows"]) - len(placed))


def test_window_ranking_counts_only_that_windows_ratings(district):
    # A window page lists its staff and service items; their figures must be those of the
    # window, not the person's at every window of the unit (S-008 served W-001, then W-002).
    s = district
    d1, d2 = enrol(s, "W-001"), enrol(s, "W-002")
    assert d1.post_batch([rating(d1, lv, MID, "U-01", staff_id="S-008") for lv in
                          ("very_satisfied", "satisfied")]).status_code == 200
    assert d2.post_batch([rating(d2, lv, MID, "U-01", staff_id="S-008") for lv in
                          ("dissatisfied", "very_dissatisfied", "satisfied")]).status_code == 200
    rows = raw_ratings(s)
    for window in ("W-001", "W-002"):
        here = [r for r in rows if r["window_id"] == window]
        for group, column in (("staff", "staff_id"), ("service_item", "service_item")):
            want, _ = by_hand(here, column, *NOV, include_flagged=False)
            with read(s.engine) as conn:
                report = rankings.ranking(conn, ADMIN, group, Period("month", 2026, 11),
                                          prior=PRIOR, target=0.8, unit="U-01", window=window)
            assert {r["key"]: (r["rated"], r["bad"]) for r in report["rows"]} == \
                {k: (w["rated"], w["bad"]) for k, w in want.items()}, (window, group)
    # and the window pages show them so (the W-002 page showed 李强 with his 5 ratings of
    # both windows; the W-001 page had no staff row, since he belongs to W-002 now)
    import re

    with write(s.engine) as conn:
        org.save(conn, "staff", {"id": "S-008", "name": "李强", "staff_no": "0008",
                                 "unit_id": "U-01", "window_id": "W-002"})
        accounts.create_user(conn, "audit", PASSWORD, "admin", now=utcnow())
    session = Dashboard(s.url, s.engine, {}).login("audit")
    for window in ("W-001", "W-002"):
        want, _ = by_hand([r for r in rows if r["window_id"] == window], "staff_id", *NOV,
                          include_flagged=False)
        html = session.get(f"{s.url}/dashboard/windows/{window}",
                           params={"period": Period("month", 2026, 11).key}).text
        text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
        shown = rf"李强 (未达标 |不参与排名 )?{want['S-008']['rated']} {want['S-008']['bad']} "
        assert re.search(shown, text), (window, text)


def test_heatmap_weekday_is_the_day_a_rating_counts_on_for_a_kiosk_whose_clock_runs_ahead(
        district):
    # The day of a rating is its device time corrected by the clock skew measured at upload;
    # the weekday × hour chart read the raw device time, so a kiosk a day ahead put Monday's
    # ratings in Tuesday's row while the daily figures counted them on Monday.
    s = district
    d2 = enrol(s, "W-002")
    ev = [rating(d2, "very_satisfied", "2026-11-17T09:10:00+08:00", "U-01") for _ in range(2)]
    assert d2.post_batch(ev, headers={"X-Clock-Offset": "-86400"}).status_code == 200
    days = [dt.date.fromisoformat(r["day"]) for r in raw_ratings(s)]
    assert days == [dt.date(2026, 11, 16)] * 2   # Monday
    with read(s.engine) as conn:
        grid = drill.patterns(conn, "U-01", *NOV, tz_hours=8)["grid"]
    weekdays = defaultdict(int)
    for (weekday, _hour), (n, _bad) in grid.items():
        weekdays[weekday] += n
    assert dict(weekdays) == {days[0].weekday(): 2}


def test_ranking_exports_show_the_hand_counted_figures(district):
    # What is published (CSV and XLSX) must be the counted figures: rated, satisfied, bad,
    # rate as a percentage and flagged, per unit, with a unit of flagged ratings only last.
    from openpyxl import load_workbook

    s = district
    d1, d3, d4 = enrol(s, "W-001"), enrol(s, "W-201"), enrol(s, "W-401")
    assert d1.post_batch([rating(d1, lv, MID, "U-01", **kw) for lv, kw in (
        ("very_satisfied", {}), ("basic_satisfied", {}), ("dissatisfied", {}),
        ("very_satisfied", {"flags": ["lockout"]}))]).status_code == 200
    assert d3.post_batch([rating(d3, lv, MID, "U-02", scale=4) for lv in
                          ("satisfied", "satisfied", "very_dissatisfied")]).status_code == 200
    assert d4.post_batch([rating(d4, "very_satisfied", MID, "U-04", flags=["burst"])])\
        .status_code == 200
    with write(s.engine) as conn:
        accounts.create_user(conn, "audit", PASSWORD, "admin", now=utcnow())
    session = Dashboard(s.url, s.engine, {}).login("audit")
    want, _ = by_hand(raw_ratings(s), "unit_id", *NOV, include_flagged=False)
    r = session.get(f"{s.url}/dashboard/rankings.csv", params={"group": "unit",
                                                               "period": "2026-11"})
    assert r.status_code == 200
    table = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    got = {row[2]: row for row in table[1:]}
    for unit, w in want.items():
        row = got[unit]
        assert [int(x) for x in row[3:6]] == [w["rated"], w["satisfied"], w["bad"]]
        # cut to two places, counted in integers (2/3 is "66.66%": never rounded up to a target)
        assert row[6] == (f"{w['satisfied'] * 10_000 // w['rated'] / 100:.2f}%"
                          if w["rated"] else "")
        assert int(row[11]) == w["flagged"]
    assert table[-1][2] == "U-04"
    r = session.get(f"{s.url}/dashboard/rankings.xlsx", params={"group": "unit",
                                                                "period": "2026-11"})
    sheet = load_workbook(io.BytesIO(r.content)).active
    cells = [[c.value for c in row] for row in sheet.iter_rows(min_row=5)]
    for row in cells:
        w = want[row[2]]
        assert row[3:6] == [w["rated"], w["satisfied"], w["bad"]]
        # cut to the two places of a percentage the page shows (2/3 is 0.6666, "66.66%")
        assert row[6] == (pytest.approx(w["satisfied"] * 10_000 // w["rated"] / 10_000,
                                        abs=1e-12) if w["rated"] else None)
    assert sheet["D2"].value == sum(w["rated"] for w in want.values())


def test_response_rate_is_full_when_every_invitation_was_answered(district):
    # Response rate (invited mode) = ratings that answered an invitation / (those + not
    # rated), docs/aggregator.md. A window where every invitation was answered showed no
    # response rate at all, as an open-mode window does, instead of 100 %.
    s = district
    d1, d2 = enrol(s, "W-001"), enrol(s, "W-002")
    assert d1.post_batch([rating(d1, "satisfied", MID, "U-01", invitation_id=f"a{i}")
                          for i in range(3)]).status_code == 200
    assert d2.post_batch([rating(d2, "satisfied", MID, "U-01")]).status_code == 200
    invited = {w: sum(1 for r in raw_ratings(s) if r["window_id"] == w and r["invitation_id"])
               for w in ("W-001", "W-002")}
    assert invited == {"W-001": 3, "W-002": 0}
    got = stats_rows(s, "window", NOV)
    assert got["W-001"]["response_rate"] == invited["W-001"] / (invited["W-001"] + 0)
    assert got["W-002"]["response_rate"] is None   # open mode: nobody was invited


def test_district_window_ranking_names_the_hall_the_ratings_were_made_in(district):
    # A district bulletin names each window with its hall ("民政窗口 · 城关…"); a window moved to
    # another hall carried its new hall's name on the old hall's figures.
    s = district
    d1, d3 = enrol(s, "W-001"), enrol(s, "W-201")
    assert d1.post_batch([rating(d1, "satisfied", MID, "U-01")]).status_code == 200
    assert d3.post_batch([rating(d3, "satisfied", MID, "U-02", scale=4)]).status_code == 200
    with write(s.engine) as conn:
        org.save(conn, "windows", {"id": "W-001", "name": "民政窗口", "unit_id": "U-02"})
    made_in = {r["window_id"]: r["unit_id"] for r in raw_ratings(s)}
    with read(s.engine) as conn:
        names = dict(conn.execute(select(units.c.id, units.c.name)).all())
        report = rankings.ranking(conn, ADMIN, "window", Period("month", 2026, 11),
                                  prior=PRIOR, target=0.8)
    got = {r["key"]: r["name"] for r in report["rows"]}
    assert got["W-001"].endswith(" · " + names[made_in["W-001"]])
    assert got["W-201"].endswith(" · " + names[made_in["W-201"]])


def test_overview_and_public_page_show_the_hand_counted_figures(district):
    # The overview's headline (rate, ratings, bad, flagged) and the public page (monthly
    # rates, windows of last month, no rate under 10 ratings) against the raw rows of last
    # month, flagged and timed-out invitations left out.
    import re

    s = district
    first = utcnow().astimezone(LOCAL).date().replace(day=1)
    month = (first - dt.timedelta(days=1)).replace(day=16)
    when = f"{month.isoformat()}T10:00:00+08:00"
    d1, d2 = enrol(s, "W-001"), enrol(s, "W-002")
    levels = ["very_satisfied"] * 7 + ["basic_satisfied", "dissatisfied", "very_dissatisfied"]
    assert d1.post_batch([rating(d1, lv, when, "U-01") for lv in levels] +
                         [rating(d1, "very_satisfied", when, "U-01", flags=["lockout"]),
                          d1.event("not_rated", {"invitation_id": "x", "window_id": "W-001"},
                                   device_time=when)]).status_code == 200
    assert d2.post_batch([rating(d2, lv, when, "U-01") for lv in
                          ("satisfied", "dissatisfied")]).status_code == 200
    period = Period("month", month.year, month.month)
    rows = raw_ratings(s)
    units_want, _ = by_hand(rows, "unit_id", period.start, period.end, False)
    windows_want, _ = by_hand(rows, "window_id", period.start, period.end, False)
    u = units_want["U-01"]
    with write(s.engine) as conn:
        accounts.create_user(conn, "audit", PASSWORD, "admin", now=utcnow())
    session = Dashboard(s.url, s.engine, {}).login("audit")
    html = session.get(f"{s.url}/dashboard/", params={"period": period.key}).text
    kpis = re.findall(r'<div class="kpi-value"[^>]*>([^<]+)</div>', html)
    assert kpis[0] == f"{u['satisfied'] / u['rated'] * 100:.2f}%"
    assert [int(k.replace(",", "")) for k in kpis[1:3]] == [u["rated"], u["bad"]]
    public = requests.get(f"{s.url}/public/units/U-01", timeout=10).text
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", public))
    assert f"{period.label('zh_CN')} {u['rated']} {u['bad']} " \
        f"{u['satisfied'] / u['rated'] * 100:.1f}%" in text
    # W-002's 2 ratings are withheld, and so is W-001's rate (10 ratings): the unit's month
    # less W-001 would give W-002's
    assert (windows_want["W-001"]["rated"], windows_want["W-002"]["rated"]) == (10, 2)
    assert "民政窗口 10 暂不公布（其余窗口合计评价不足 10 条，公布会推知其评价）" in text, text
    assert "社保窗口 2 评价不足 10 条，暂不公布" in text, text


def _units_of(server, ids) -> dict:
    with read(server.engine) as conn:
        return dict(conn.execute(select(ratings.c.id, ratings.c.unit_id)
                                 .where(ratings.c.id.in_(ids))).all())


def test_a_rating_counts_for_its_windows_unit_whatever_the_kiosk_says(district):
    # The unit came from the kiosk's payload: a kiosk of W-001 (U-01) could count its ratings
    # for any unit, one that does not exist too, and a unit's figures no longer added up.
    s = district
    d = enrol(s, "W-001")
    sent = [rating(d, "very_satisfied", MID, "U-XX"), rating(d, "dissatisfied", MID, "U-02"),
            rating(d, "satisfied", MID, "U-01")]
    assert d.post_batch(sent).status_code == 200
    assert set(_units_of(s, [e["id"] for e in sent]).values()) == {"U-01"}
    with read(s.engine) as conn:   # the event keeps what the kiosk said
        from aggregator.schema import events
        said = [json.loads(p)["unit_id"] for p in conn.execute(
            select(events.c.payload).where(events.c.id == sent[0]["id"])).scalars()]
        rollup = stats.compute(conn, "unit", *NOV, prior=PRIOR)
    assert said == ["U-XX"]
    want, _ = by_hand(raw_ratings(s), "unit_id", *NOV, include_flagged=False)
    assert {r["key"]: r["rated"] for r in rollup["rows"]} == {k: w["rated"] for k, w in want.items()}
    assert set(want) == {"U-01"}


def test_a_window_moved_to_another_unit_takes_its_kiosks_ratings_along(district):
    # Moving W-001 to U-02 left its kiosk in U-01: the kiosk (config not yet pulled) went on
    # counting for U-01 while the window's QR ratings counted for U-02.
    from aggregator.schema import devices

    s = district
    d = enrol(s, "W-001")
    before = rating(d, "satisfied", MID, "U-01")
    assert d.post_batch([before]).status_code == 200
    with write(s.engine) as conn:
        org.save(conn, "windows", {"id": "W-001", "name": "民政窗口", "unit_id": "U-02"})
    with read(s.engine) as conn:
        assert conn.execute(select(devices.c.unit_id).where(devices.c.id == d.id)).scalar() \
            == "U-02"
    after = rating(d, "very_satisfied", MID, "U-01")   # the kiosk's config still says U-01
    assert d.post_batch([after]).status_code == 200
    assert _units_of(s, [before["id"], after["id"]]) == {before["id"]: "U-01",
                                                          after["id"]: "U-02"}
    # a database from before devices followed their window (devices.unit_id left behind):
    # ingest counts for the window's unit all the same
    from aggregator.schema import windows

    with write(s.engine) as conn:
        conn.execute(windows.update().where(windows.c.id == "W-001").values(unit_id="U-01"))
    last = rating(d, "satisfied", MID, "U-02")
    assert d.post_batch([last]).status_code == 200
    assert _units_of(s, [last["id"]]) == {last["id"]: "U-01"}


def test_units_and_windows_without_a_rating_are_listed_last_not_left_out(district):
    # A unit whose kiosks were dead, or whose results were frozen, was missing from the
    # ranking and the bulletin: nobody reading them could see it had no ratings at all.
    import re

    s = district
    d = enrol(s, "W-001")
    # MIN_VOLUME ratings: fewer take no place and are not judged against the target
    assert d.post_batch([rating(d, "satisfied", MID, "U-01")
                         for _ in range(C.MIN_VOLUME)]).status_code == 200
    with read(s.engine) as conn:
        every_unit = set(conn.execute(select(units.c.id)).scalars())
        units_report = rankings.ranking(conn, ADMIN, "unit", Period("month", 2026, 11),
                                        prior=PRIOR, target=0.8)
        windows_report = rankings.ranking(conn, ADMIN, "window", Period("month", 2026, 11),
                                          prior=PRIOR, target=0.8, unit="U-01")
    rated = {r["unit_id"] for r in raw_ratings(s)}
    keys = [r["key"] for r in units_report["rows"]]
    assert set(keys) == every_unit and keys[:len(rated)] == sorted(rated)
    silent = [r for r in units_report["rows"] if r["key"] not in rated]
    assert silent and all(r["rated"] == 0 and r["rate"] is None for r in silent)
    assert units_report["meeting_target"] == 1
    assert [r["key"] for r in windows_report["rows"]] == ["W-001", "W-002"]
    with write(s.engine) as conn:
        accounts.create_user(conn, "audit", PASSWORD, "admin", now=utcnow())
    session = Dashboard(s.url, s.engine, {}).login("audit")
    html = session.get(f"{s.url}/dashboard/rankings",
                       params={"group": "unit", "period": "2026-11", "print": "1"}).text
    for r in silent:
        assert re.search(re.escape(r["name"]) + r".{0,200}本期无有效评价", html, re.S), r["name"]
    # the bulletin names them, and counts "达标" among the units that have a rate
    listed = re.search(r"<p data-no-ratings>([^<]+)</p>", html)[1]
    assert all(r["name"] in listed for r in silent)
    assert re.search(r"达标\s*1 / 1", re.sub(r"<[^>]+>", "", html)), "1 of the 1 rated unit"
