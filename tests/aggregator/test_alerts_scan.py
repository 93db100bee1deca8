"""The periodic alert scan (``alerts.scan``): alerts that close when their condition is over,
silence counted on working days only, stuck backlogs, flagged bad ratings, unusual volume,
zero bad ratings on a quiet window, and the burst rule sent to kiosks."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import requests
from sqlalchemy import select, update

from aggregator import Settings, alerts, rollups
from aggregator.dashboard import config
from aggregator.dashboard.i18n import translator
from aggregator.dashboard.i18n_alerts import alert_detail
from aggregator.db import make_engine, read, utcnow, write
from aggregator.migrations import migrate
from aggregator.schema import alerts as alerts_table
from aggregator.schema import devices, streams
from tests.aggregator.conftest import ADMIN_TOKEN
from tests.qr_form import qr_post

TZ = dt.timezone(dt.timedelta(hours=8))
UTC = dt.timezone.utc
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def settings():
    # no per-address QR limit (the volume test posts many QR ratings from one test client);
    # the burst rule the kiosks are sent differs from the kiosk's own default (5 in 60 s)
    return Settings(admin_token=ADMIN_TOKEN, secret="test-secret", public_url="http://testserver",
                    qr_rate_limit_seconds=0, qr_memory_hours=0, qr_daily_budget=1000,
                    kiosk_burst_count=3, kiosk_burst_seconds=45)


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    with write(engine) as conn:
        from aggregator import demo
        demo.build_org(conn)
    yield engine
    engine.dispose()


def _rows(engine, kind=None) -> list[dict]:
    q = select(alerts_table).order_by(alerts_table.c.id)
    if kind:
        q = q.where(alerts_table.c.kind == kind)
    with read(engine) as conn:
        return [dict(r) for r in conn.execute(q).mappings()]


def _scan(engine, now, settings=None) -> list[str]:
    with write(engine) as conn:
        return [a["kind"] for a in alerts.scan(conn, now, settings)]


def _reads_in_chinese(row):
    """The dashboard tells the alert in Chinese (not its stored English detail)."""
    text = str(alert_detail(row, translator("zh_CN"), TZ))
    assert CJK.search(text) and text != row["detail"], text
    assert not re.search(r"\b(device|window|ratings?)\b", text), text
    assert not CJK.search(str(alert_detail(row, translator("en"), TZ)))


def _add_device(conn, id_, seen, **values):
    conn.execute(devices.insert().values(id=id_, window_id="W-001", public_key="x",
                                         enrolled_at=seen, last_seen_at=seen, **values))


def test_gap_and_silence_alerts_are_resolved_once_over(device, server):
    # Nothing ever set alerts.resolved_at: a gap filled or a kiosk back online stayed an open
    # alert for ever, and the overview's count of open alerts only grew.
    e1, e2, e3 = device.rating(), device.rating(), device.rating()
    assert device.post_batch([e1, e3]).status_code == 200
    now = utcnow()
    with write(server.engine) as conn:
        conn.execute(update(streams).values(gap_since=now - dt.timedelta(hours=30)))
        conn.execute(update(devices).values(last_seen_at=now - dt.timedelta(days=5)))
    assert sorted(_scan(server.engine, now)) == ["device_silent", "seq_gap"]
    assert _scan(server.engine, now) == []                  # still open: nothing changed
    assert all(r["resolved_at"] is None for r in _rows(server.engine))
    assert device.post_json("/api/v1/heartbeat", {"pending": 0}).status_code == 200
    assert _scan(server.engine, utcnow()) == []
    silent, = _rows(server.engine, "device_silent")
    assert silent["resolved_at"] is not None                # heard from after its "since"
    assert _rows(server.engine, "seq_gap")[0]["resolved_at"] is None   # seq 2 still missing
    assert device.post_batch([e2]).status_code == 200
    _scan(server.engine, utcnow())
    assert _rows(server.engine, "seq_gap")[0]["resolved_at"] is not None
    # a new silence later is a new alert; a revoked device's silence is over
    with write(server.engine) as conn:
        conn.execute(update(devices).values(last_seen_at=now - dt.timedelta(days=4)))
    assert _scan(server.engine, now) == ["device_silent"]
    assert requests.post(f"{server.url}/api/v1/devices/{device.id}/revoke",
                         headers=server.admin).status_code == 200
    _scan(server.engine, now)
    assert all(r["resolved_at"] is not None for r in _rows(server.engine))


def test_a_weekend_or_holiday_is_not_silence(engine):
    # A kiosk switched off every weekend (the hall closed Saturday and Sunday) raised a
    # device_silent alert every Saturday evening: 8 in 8 weeks. Silence counts hours of
    # working days of the dashboard's calendar, in the site's time zone.
    fri = dt.datetime(2026, 11, 6, 10, tzinfo=UTC)           # Friday 18:00 in Beijing
    with write(engine) as conn:
        _add_device(conn, "k1", fri)
    for h in range(64):                                        # hourly, to Monday 10:00 Beijing
        assert _scan(engine, fri + dt.timedelta(hours=h)) == []
    # Friday 6 h + Monday 18 h = 24 h of working days: Monday 18:00 Beijing
    assert _scan(engine, fri + dt.timedelta(hours=72)) == ["device_silent"]
    # a holiday (and a weekend day worked instead) come from the dashboard's calendar
    with write(engine) as conn:
        config.save(conn, config.DashboardSettings(holidays=["2026-11-16", "2026-11-17"]))
        conn.execute(update(devices).values(last_seen_at=dt.datetime(2026, 11, 13, 10,
                                                                      tzinfo=UTC)))
    assert _scan(engine, dt.datetime(2026, 11, 18, 1, tzinfo=UTC)) == []   # Wed 09:00
    assert _scan(engine, dt.datetime(2026, 11, 18, 10, tzinfo=UTC)) == ["device_silent"]


def _stuck(device, server) -> None:
    """The device uploaded last 10 days ago, then heartbeats 4,000 ratings waiting 10 days."""
    assert device.post_batch([device.rating()]).status_code == 200
    now = utcnow()
    with write(server.engine) as conn:
        conn.execute(update(devices).values(last_upload_at=now - dt.timedelta(days=10),
                                            last_seen_at=now - dt.timedelta(days=10)))
    assert device.post_json("/api/v1/heartbeat", {"pending": 4000,
                                                  "oldest_pending_age_s": 864000.0}).status_code == 200


def test_a_kiosk_that_heartbeats_but_never_uploads_raises_backlog_stuck(device, server):
    # Its heartbeats kept it from ever being "silent" while 4,000 ratings waited 10 days.
    _stuck(device, server)
    assert _scan(server.engine, utcnow()) == ["backlog_stuck"]
    row, = _rows(server.engine, "backlog_stuck")
    assert row["device_id"] == device.id and "4000" in row["detail"]
    _reads_in_chinese(row)
    # a stored heartbeat cut short (rows stored before fleet.heartbeat_json) says nothing
    with write(server.engine) as conn:
        conn.execute(update(devices).values(last_heartbeat='{"pending": 4000, "oldest_pe'))
    _scan(server.engine, utcnow())
    assert _rows(server.engine, "backlog_stuck")[0]["resolved_at"] is not None
    # ratings waiting less than 24 hours of working days raise nothing
    assert device.post_json("/api/v1/heartbeat", {"pending": 3,
                                                  "oldest_pending_age_s": 600.0}).status_code == 200
    assert _scan(server.engine, utcnow()) == []


def test_flagged_bad_ratings_of_a_window_day_raise_an_alert(device, server):
    # Staff pressing 非常满意 just before the citizen made each citizen's bad rating a second
    # press within the lockout: flagged, left out of the rates, no case, no alert (rate 100 %).
    events = []
    for _ in range(40):
        events.append(device.rating("very_satisfied"))
        events.append(device.rating("very_dissatisfied", flags=["lockout"]))
    assert device.post_batch(events).status_code == 200
    assert _scan(server.engine, utcnow()) == ["flagged_bad"]
    row, = _rows(server.engine, "flagged_bad")
    assert row["window_id"] == "W-001" and "40 bad ratings" in row["detail"]
    _reads_in_chinese(row)
    assert _scan(server.engine, utcnow()) == []             # one per window and day


def test_fewer_flagged_bad_ratings_than_the_threshold_raise_nothing(engine):
    from tests.dashboard.helpers import store_ratings

    now = dt.datetime(2026, 11, 10, 4, tzinfo=UTC)
    for window, days_ago, n, flags in (("W-001", 0, 2, ["lockout"]), ("W-002", 3, 3, ["burst"]),
                                       ("W-003", 9, 5, ["lockout"]),
                                       # not a press: nobody signed in, or appeals accepted
                                       ("W-004", 0, 2, ["no_staff"]),
                                       ("W-004", 0, 2, ["appeal_accepted"])):
        store_ratings(engine, window, "U-01", ["dissatisfied"] * n,
                      now - dt.timedelta(days=days_ago), staff="S-1", flags=flags)
    # W-001: 2 of 3; W-002 three days ago (a late upload): raised; W-003: past the look-back;
    # W-004: 4 flagged bad, none for how it was pressed (a "high" alert asked "a press just
    # before the citizen's?" of three appeals a supervisor had accepted)
    assert _scan(engine, now) == ["flagged_bad"]
    assert [r["window_id"] for r in _rows(engine)] == ["W-002"]


def _daily(window, day, n, level="very_satisfied", stars=5, flagged=False):
    return [{"day": day.isoformat(), "window_id": window, "unit_id": "U-01", "level": level,
             "stars": stars, "flagged": flagged}] * n


def test_zero_bad_looks_at_90_and_180_days_on_a_quiet_window(engine):
    # 16 ratings a day never reach 500 in 30 days: 180 days of them without one bad rating
    # were never alerted.
    now = dt.datetime(2026, 11, 20, 4, tzinfo=UTC)
    today = now.astimezone(TZ).date()
    rows = []
    for k in range(180):
        day = today - dt.timedelta(days=k)
        rows += _daily("W-001", day, 16)
        rows += _daily("W-002", day, 16)
    rows += _daily("W-002", today - dt.timedelta(days=100), 1, "dissatisfied", 2)
    rows += _daily("W-003", today, 10)      # too few in every span
    with write(engine) as conn:
        rollups.add(conn, rows)
    assert _scan(engine, now) == ["zero_bad", "zero_bad"]
    by_window = {r["window_id"]: r for r in _rows(engine, "zero_bad")}
    assert set(by_window) == {"W-001", "W-002"}
    # the longest span without a bad rating that reaches the minimum is told
    assert "in the 173 days to 2026-11-20" in by_window["W-001"]["detail"]   # since June 1
    assert "in the 81 days to 2026-11-20" in by_window["W-002"]["detail"]    # since Sept 1
    _reads_in_chinese(by_window["W-001"])


def test_a_day_far_above_the_windows_usual_number_raises_volume(engine):
    # One 非常满意 every 12 s passes the lockout and the burst rule and is never flagged:
    # 2,400 clean ratings a day on a window that has about 40.
    now = dt.datetime(2026, 11, 20, 10, tzinfo=UTC)
    today = now.astimezone(TZ).date()
    rows = []
    for k in range(1, 29):
        rows += _daily("W-001", today - dt.timedelta(days=k), 40)
        rows += _daily("W-002", today - dt.timedelta(days=k), 40)
    rows += _daily("W-001", today - dt.timedelta(days=2), 2400)   # uploaded late: still seen
    rows += _daily("W-002", today, 130)     # above 3 x 40 but not 100 more: a busy day
    rows += _daily("W-003", today, 900)     # a new window: no usual number yet
    for w in ("W-001", "W-002", "W-003"):   # not zero bad
        rows += _daily(w, today - dt.timedelta(days=10), 1, "dissatisfied", 2)
    with write(engine) as conn:
        rollups.add(conn, rows)
    assert _scan(engine, now) == ["volume"]
    row, = _rows(engine, "volume")
    assert row["window_id"] == "W-001" and "2440 unflagged ratings" in row["detail"]
    _reads_in_chinese(row)


def test_qr_ratings_far_above_the_windows_usual_qr_number_raise_volume(org_setup):
    # The phone page padded from rotating addresses, each under the limit: 150 clean QR
    # ratings on a window whose kiosk has 300 a day, so the day's total is not 3 x usual.
    server = org_setup
    now = utcnow()
    today = now.astimezone(TZ).date()
    with write(server.engine) as conn:
        rollups.add(conn, [r for k in range(0, 29) for r in
                           _daily("W-001", today - dt.timedelta(days=k), 300)]
                    + _daily("W-001", today - dt.timedelta(days=9), 1, "dissatisfied", 2))
    for _ in range(150):
        r = qr_post(server.url, "W-001", data={"level": "very_satisfied"},
                    allow_redirects=False)
        assert r.status_code in (200, 303), r.text
    assert _scan(server.engine, now) == ["volume"]
    row, = _rows(server.engine, "volume")
    assert "150 unflagged QR ratings" in row["detail"], row["detail"]
    _reads_in_chinese(row)


def test_kiosks_are_sent_the_servers_burst_rule_and_use_it(device, server, tmp_path):
    # The burst rule was the kiosk's own setting: a kiosk set to 1,000 presses a minute never
    # flagged a burst, and the server neither sent nor knew the values.
    from kiosk import constants as K
    from kiosk.flow import FlowSettings, RatingFlow
    from kiosk.store import RatingStore

    body = device.get("/api/v1/config").json()
    assert body["trigger"]["burst_count"] == 3 and body["trigger"]["burst_seconds"] == 45
    flow_settings = FlowSettings(burst_count=1000).with_device_config(body)
    assert (flow_settings.burst_count, flow_settings.burst_seconds) == (3, 45)
    clock = type("Clock", (), {"now": 1000.0, "__call__": lambda self: self.now})()
    store = RatingStore(str(tmp_path / "k.db"))
    flow = RatingFlow(store, flow_settings, [], clock=clock)
    for _ in range(4):
        flow.start_rating()
        flow.rate("very_satisfied")
        clock.now += 11                     # past the lockout: 3 presses in the 45 s before the 4th
        flow.tick()
    flags = [e["payload"]["flags"] for e in store.iter_events() if e["type"] == K.EV_RATING]
    store.close()
    assert [K.FLAG_BURST in f for f in flags] == [False, False, False, True]


def test_a_stuck_backlog_seen_over_and_back_without_an_upload_is_opened_again(device, server):
    # The alert is keyed by the last upload; a heartbeat that read the backlog young (a
    # reboot with a clock behind: kiosks have no battery clock) let the scan resolve it, and
    # when the same backlog read old again the alert, resolved under that key, never came back.
    _stuck(device, server)
    assert _scan(server.engine, utcnow()) == ["backlog_stuck"]
    device.post_json("/api/v1/heartbeat", {"pending": 4000, "oldest_pending_age_s": 0.0})
    _scan(server.engine, utcnow())
    assert _rows(server.engine, "backlog_stuck")[0]["resolved_at"] is not None
    device.post_json("/api/v1/heartbeat", {"pending": 4000, "oldest_pending_age_s": 864000.0})
    assert _scan(server.engine, utcnow()) == ["backlog_stuck"]
    rows = _rows(server.engine, "backlog_stuck")
    assert len(rows) == 1 and rows[0]["resolved_at"] is None


# What a kiosk whose disk is full sends (sync/heartbeat.py: its prefix, then the store's
# StoreFullError, kiosk/store.py).
FULL_DISK = ("the kiosk database cannot be written: /var/lib/kiosk/kiosk.db: disk full while "
             "opening the kiosk database; nothing was recorded (database or disk is full)")


def test_a_kiosk_heard_from_that_cannot_record_raises_an_alert_resolved_once_it_records(
        device, server):
    # A kiosk with a full disk answers every press with "please try again" and records
    # nothing, but keeps heartbeating: it was never silent, so no alert was raised and the
    # unit manager's overview said 0 open alerts while the window's ratings were lost.
    assert device.post_json("/api/v1/heartbeat", {"pending": 0, "disk_free_bytes": 0,
                                                  "last_error": FULL_DISK}).status_code == 200
    assert _scan(server.engine, utcnow()) == ["device_fault"]
    row, = _rows(server.engine, "device_fault")
    assert row["device_id"] == device.id and row["severity"] == "high"
    assert row["resolved_at"] is None and "cannot record" in row["detail"]
    _reads_in_chinese(row)
    assert "存储空间已满，无法记录评价" in str(alert_detail(row, translator("zh_CN"), TZ))
    assert _scan(server.engine, utcnow()) == []                    # raised once
    # a heartbeat with only a sync error is not a fault: nothing new
    assert device.post_json("/api/v1/heartbeat", {"pending": 0, "disk_free_bytes": 2**30,
                                                  "last_error": "heartbeat: timed out"}
                            ).status_code == 200
    assert _scan(server.engine, utcnow()) == []
    assert _rows(server.engine, "device_fault")[0]["resolved_at"] is not None   # it records
    # full again later: the same alert opened again, as raised now
    later = utcnow() + dt.timedelta(hours=3)
    assert device.post_json("/api/v1/heartbeat", {"pending": 2, "disk_free_bytes": 40_000}
                            ).status_code == 200                   # under the 1 MiB floor
    assert _scan(server.engine, later) == ["device_fault"]
    rows = _rows(server.engine, "device_fault")
    assert len(rows) == 1 and rows[0]["resolved_at"] is None
    assert abs(rows[0]["created_at"].replace(tzinfo=UTC) - later) < dt.timedelta(seconds=1)
    # a revoked kiosk's fault is over: nothing more to wait for
    assert requests.post(f"{server.url}/api/v1/devices/{device.id}/revoke",
                         headers=server.admin).status_code == 200
    _scan(server.engine, later)
    assert _rows(server.engine, "device_fault")[0]["resolved_at"] is not None
