"""The time of day a supervisor sees for a rating is the time the citizen rated, corrected for
the kiosk's clock as the rating's day is (``ratings.rated_at``, migration 49), over SQLite and
PostgreSQL: the weekday × hour grid of a window's page, the per-rating export's time column
and a case's page and JSON.

Why: only the corrected *day* was kept; every time of day read the raw device clock. A kiosk
whose clock is 8 h off (its RTC set to local time and read as UTC: very common) put each of its
ratings 8 hours off in the staffing grid, and the export gave the arrival time or nothing. A
kiosk whose clock was stepped right during the boot (NTP after the router came up) had the
hours of its offline backlog taken from a clock months wrong.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re

import pytest
import requests
from sqlalchemy import select

from aggregator import Settings, create_app, org
from aggregator.dashboard import accounts
from aggregator.dashboard.tables import cases
from aggregator.db import read, utcnow, write
from aggregator.schema import ratings
from tests.aggregator.device import Device, enrolled
from tests.dashboard.helpers import PASSWORD, Dashboard
from tests.qr_form import qr_post
from tests.serving import serve

TZ = dt.timezone(dt.timedelta(hours=8))   # the settings' default site time (UTC+8)
ADMIN_TOKEN = "rated-at-admin-token"
AHEAD = dt.timedelta(hours=8)              # the fast kiosk's clock: UTC+8 wall time read as UTC
BUILD = dt.datetime(2026, 1, 1, 8, tzinfo=TZ)   # the stepped kiosk's clock at boot
DAY = dt.timedelta(days=1)
STARS = {"very_dissatisfied": 1, "satisfied": 4}
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def _half_past(hours_ago: int) -> dt.datetime:
    """A true local time at half past an hour, ``hours_ago`` (and a bit) before now: far
    enough from the hour's edges that an upload's latency never moves it to another hour."""
    t = dt.datetime.now(TZ) - dt.timedelta(hours=hours_ago)
    return t.replace(minute=30, second=0, microsecond=0)


def _payload(level: str, window_id: str) -> dict:
    return {"level": level, "stars": STARS[level], "scale": 5, "channel": 4,
            "window_id": window_id, "unit_id": "U-01", "flags": []}


def _enroll(url: str, window_id: str) -> Device:
    return enrolled(url, window_id, ADMIN_TOKEN)


def _accepted(r: requests.Response) -> None:
    assert r.status_code == 200, r.text
    assert {x["status"] for x in r.json()["results"]} == {"accepted"}, r.text


@pytest.fixture(scope="module")
def site(database_url):
    """A server with windows W-001 (a kiosk whose clock is 8 h ahead, knowing its offset as
    the sync client does), W-002 (a kiosk whose clock started at its build date and was
    stepped right by NTP before the upload) and W-003 (a phone's QR rating); an admin."""
    app = create_app(database_url, settings=Settings(secret="s", admin_token=ADMIN_TOKEN))
    with write(app.state.engine) as conn:
        org.save(conn, "regions", {"id": "R-1", "name": "示范区", "level": "district"})
        org.save(conn, "units", {"id": "U-01", "name": "城关便民服务中心", "region_id": "R-1"})
        for n in (1, 2, 3):
            org.save(conn, "windows", {"id": f"W-00{n}", "name": f"窗口{n}", "unit_id": "U-01"})
        accounts.create_user(conn, "admin", PASSWORD, "admin", now=utcnow())
    server, thread, url = serve(app)
    true = {"fast_bad": _half_past(3), "fast_good": _half_past(27),
            "stepped_bad": _half_past(5), "stepped_good": _half_past(29)}

    fast = _enroll(url, "W-001")
    fast_bad, fast_good = (
        fast.event("rating", _payload(level, "W-001"), boot_id="boot-F",
                   device_time=(true[key] + AHEAD).isoformat())
        for level, key in (("very_dissatisfied", "fast_bad"), ("satisfied", "fast_good")))
    # its sync client learnt the offset from the server: X-Timestamp corrected, skew +8 h
    _accepted(fast.post_batch([fast_bad, fast_good], headers={
        "X-Clock-Offset": f"{-AHEAD.total_seconds():.3f}", "X-Boot-Id": "boot-F"}))

    stepped = _enroll(url, "W-002")
    now = dt.datetime.now(TZ)
    # the boot's monotonic clock now, chosen so that the wall clock it ran before the step
    # read 5 h off the true time of day (and months off the true day)
    now_mono = 3 * DAY + (now + dt.timedelta(hours=5) - BUILD - 3 * DAY) % DAY

    def offline(level: str, at: dt.datetime) -> dict:
        mono = now_mono - (now - at)
        return stepped.event("rating", _payload(level, "W-002"), device_time=(BUILD + mono).isoformat(), boot_id="boot-S",
                             mono_ns=int(mono.total_seconds() * 1e9))
    stepped_bad = offline("very_dissatisfied", true["stepped_bad"])
    stepped_good = offline("satisfied", true["stepped_good"])
    _accepted(stepped.post_batch([stepped_bad, stepped_good], headers={
        "X-Boot-Id": "boot-S", "X-Mono-Ns": str(int(now_mono.total_seconds() * 1e9))}))

    sent_qr = dt.datetime.now(TZ)
    assert qr_post(url, "W-003", data={"level": "satisfied"}, timeout=10) \
        .status_code == 200
    ids = {"fast_bad": fast_bad["id"], "fast_good": fast_good["id"],
           "stepped_bad": stepped_bad["id"], "stepped_good": stepped_good["id"]}
    device_times = {k: ev["device_time"] for k, ev in (
        ("fast_bad", fast_bad), ("fast_good", fast_good), ("stepped_bad", stepped_bad),
        ("stepped_good", stepped_good))}
    yield {"dash": Dashboard(url, app.state.engine, {}), "true": true, "ids": ids,
           "device_times": device_times, "sent_qr": sent_qr}
    server.should_exit = True
    thread.join(timeout=10)
    app.state.engine.dispose()


def _grid(session, dash, window_id: str, month: str) -> dict[tuple[str, int], int]:
    """The window page's weekday × hour grid (English page): {(weekday, hour): ratings}."""
    page = session.get(f"{dash.url}/dashboard/windows/{window_id}", timeout=30,
                       params={"period": month, "lang": "en"})
    assert page.status_code == 200, page.text[:300]
    svg = re.search(r'<svg class="chart heat".*?</svg>', page.text, re.S)[0]
    cells = re.findall(r"<title>(\w+) (\d+):00 — (\d+) / (\d+)</title>", html.unescape(svg))
    return {(day, int(h)): int(n) for day, h, n, _bad in cells if int(n)}


def test_the_staffing_grid_puts_each_rating_at_the_hour_the_citizen_rated(site):
    dash, true = site["dash"], site["true"]
    session = dash.login("admin")
    for window_id, keys in (("W-001", ("fast_bad", "fast_good")),
                            ("W-002", ("stepped_bad", "stepped_good"))):
        want: dict = {}
        for k in keys:
            t = true[k]
            want.setdefault(t.strftime("%Y-%m"), {})[(WEEKDAYS[t.weekday()], t.hour)] = 1
        for month, cells in want.items():
            got = _grid(session, dash, window_id, month)
            # before: the fast kiosk's ratings 8 hours later in the day (and a rating made
            # after 16:00 in the next row's small hours), the stepped kiosk's 5 hours off
            assert got == cells, (window_id, month, got, cells)


def _export(session, dash) -> dict[str, dict]:
    today = dt.datetime.now(TZ).date()
    r = session.get(f"{dash.url}/dashboard/ratings/export", timeout=30, params={
        "from": str(today - dt.timedelta(days=3)), "to": str(today), "target": "national",
        "format": "csv"})
    assert r.status_code == 200, r.text[:300]
    return {row["评价编号"]: row for row in csv.DictReader(io.StringIO(r.content.decode("utf-8-sig")))}


def _shown(row: dict) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{row['评价日期']}T{row['评价时间']}+08:00")


def test_the_export_gives_each_rating_the_time_it_was_made(site):
    dash, true, ids = site["dash"], site["true"], site["ids"]
    rows = _export(dash.login("admin"), dash)
    for key, rid in ids.items():
        row = rows[rid]
        assert row["评价时间"], (key, row)   # before: empty, or the arrival time
        # the upload's latency is all that separates them
        assert abs(_shown(row) - true[key]) < dt.timedelta(minutes=1), (key, row)
    (qr,) = [row for rid, row in rows.items() if rid not in ids.values()]
    assert abs(_shown(qr) - site["sent_qr"]) < dt.timedelta(minutes=1), qr   # its arrival


def test_the_stored_time_falls_on_the_stored_day(site):
    dash, true, ids = site["dash"], site["true"], site["ids"]
    with read(dash.engine) as conn:
        stored = {r.id: r for r in conn.execute(
            select(ratings.c.id, ratings.c.day, ratings.c.rated_at, ratings.c.device_time,
                   ratings.c.server_time))}
    for key, rid in ids.items():
        r = stored[rid]
        assert r.rated_at.astimezone(TZ).date().isoformat() == r.day == \
            true[key].date().isoformat()
        assert r.rated_at <= r.server_time
        # the kiosk's own reading is kept, unchanged, as evidence
        assert r.device_time == dt.datetime.fromisoformat(site["device_times"][key])
    for r in stored.values():
        assert r.rated_at is not None and r.rated_at.astimezone(TZ).date().isoformat() == r.day


def test_a_case_shows_when_the_citizen_rated_and_the_kiosks_clock_as_evidence(site):
    dash, true, ids = site["dash"], site["true"], site["ids"]
    session = dash.login("admin")
    with read(dash.engine) as conn:
        case_id = conn.execute(select(cases.c.id).where(
            cases.c.rating_id == ids["fast_bad"])).scalar_one()
    page = session.get(f"{dash.url}/dashboard/cases/{case_id}", timeout=10).text
    shown = re.search(r"<dd data-rated-at>(.*?)</dd>", page, re.S)
    assert shown, page[:2000]   # before: no time at all on the page
    assert shown[1].startswith(true["fast_bad"].strftime("%Y-%m-%d %H:%M")), shown[1]
    clock = re.search(r"data-device-clock[^>]*>([^<]*)<", shown[1])[1]
    assert clock.endswith((true["fast_bad"] + AHEAD).strftime("%Y-%m-%d %H:%M")), clock
    doc = session.get(f"{dash.url}/dashboard/api/cases/{case_id}", timeout=10).json()
    rated_at = dt.datetime.fromisoformat(doc["rating"]["rated_at"])
    assert abs(rated_at - true["fast_bad"]) < dt.timedelta(minutes=1), doc["rating"]
    assert dt.datetime.fromisoformat(doc["rating"]["device_time"]) == \
        true["fast_bad"] + AHEAD   # the raw reading, kept as evidence
    assert doc["rating"]["device_clock_off"] is True
