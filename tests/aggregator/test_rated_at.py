"""Each rating keeps the time it was made, corrected for its kiosk's clock as its day is
(``ratings.rated_at``, migration 49), on SQLite and PostgreSQL, whichever way ingest dated it:
its boot's skew, the upload's skew, its boot's monotonic clock, its neighbours for a boot never
measured, server time for a clock in the future, a USB export; a QR rating's is its arrival.

Why: only the corrected day was kept, and every time of day shown (the staffing grid, the
export's time, a case) read the raw device clock: hours off for a kiosk whose clock was wrong
(tests/dashboard/test_rated_at.py shows it where a supervisor sees it).
"""

from __future__ import annotations

import datetime as dt
import doctest

from sqlalchemy import inspect, select, text

from aggregator import ratings as rating_store
from aggregator.dashboard import drill, rating_export
from aggregator.dashboard.i18n import translator
from aggregator.db import driver_time, make_engine, read, utcnow, write
from aggregator.migrations import available, migrate, schema_migrations
from aggregator.schema import ratings
from tests.aggregator.device import Device, now_iso, usb_export
from tests.qr_form import qr_post

TZ = dt.timezone(dt.timedelta(hours=8))
HOUR = 3600.0
DAY_NS = 86400 * 10**9
BUILD = dt.datetime(2026, 1, 1, 8, tzinfo=TZ)
NEAR = dt.timedelta(seconds=30)   # an upload's latency, and no more


def _payload(d: Device, level: str = "satisfied") -> dict:
    return {"level": level, "stars": {"very_dissatisfied": 1, "satisfied": 4}[level],
            "scale": 5, "channel": 4, "window_id": d.window_id, "unit_id": "U-01",
            "staff_id": "S-007", "staff_name": "王芳", "service_item": "SI-01", "case_no": None,
            "invitation_id": None, "flags": []}


def _rating(d: Device, boot: str, clock_ahead_s: float, true_ago_s: float, **fields) -> dict:
    """A rating made ``true_ago_s`` ago by a kiosk whose clock ran ``clock_ahead_s`` ahead."""
    return d.event("rating", _payload(d), device_time=now_iso(clock_ahead_s - true_ago_s),
                   boot_id=boot, **fields)


def _post(d: Device, events: list, headers: dict) -> None:
    r = d.post_batch(events, headers=headers)
    assert r.status_code == 200, r.text
    assert {x["status"] for x in r.json()["results"]} == {"accepted"}, r.text


def _stored(engine) -> dict:
    with read(engine) as conn:
        return {r.id: r for r in conn.execute(select(
            ratings.c.id, ratings.c.day, ratings.c.rated_at, ratings.c.device_time,
            ratings.c.server_time))}


def _ago(seconds: float) -> dt.datetime:
    return dt.datetime.now(TZ) - dt.timedelta(seconds=seconds)


def test_every_way_ingest_dates_a_rating_stores_the_time_whose_date_is_its_day(device,
                                                                              org_setup):
    # Boot F: clock 8 h ahead (RTC on local time read as UTC), its offset known (skew +8 h).
    fast = _rating(device, "boot-F", 8 * HOUR, 5 * HOUR)
    # the same boot, a reading 2 h in the future even after its correction: server time
    future = _rating(device, "boot-F", 10 * HOUR, 0)
    _post(device, [fast, future], {"X-Clock-Offset": f"{-8 * HOUR:.3f}", "X-Boot-Id": "boot-F"})
    # boot S: clock at its build date, stepped right before the upload: its monotonic clock
    now_mono = 3 * DAY_NS
    mono = now_mono - 20 * 3600 * 10**9   # made 20 h ago
    stepped = device.event("rating", _payload(device, "very_dissatisfied"),
                           device_time=(BUILD + dt.timedelta(seconds=mono / 1e9)).isoformat(),
                           boot_id="boot-S", mono_ns=mono)
    _post(device, [stepped], {"X-Boot-Id": "boot-S", "X-Mono-Ns": str(now_mono)})
    # boot U never reached the server (its clock a year behind), between S's rating and B's:
    # dated by its neighbours (clamped up to S's rating); B's clock is right
    unknown = _rating(device, "boot-U", -365 * 86400, 10 * HOUR)
    after = _rating(device, "boot-B", 0, 3 * HOUR)
    _post(device, [unknown, after], {"X-Boot-Id": "boot-B"})
    # a kiosk that does not say its boot: the upload's skew (clock 3 h behind)
    old_kiosk = device.event("rating", _payload(device), device_time=now_iso(-3 * HOUR - 600))
    _post(device, [old_kiosk], {"X-Clock-Offset": f"{3 * HOUR:.3f}"})
    sent_qr = dt.datetime.now(TZ)
    assert qr_post(org_setup.url, "W-001", data={"level": "satisfied"},
                         timeout=10).status_code == 200
    stored = _stored(org_setup.engine)
    assert len(stored) == 7
    for r in stored.values():   # the invariant, whatever the path: the day is rated_at's date
        assert r.rated_at is not None and r.rated_at <= r.server_time, r
        assert r.rated_at.astimezone(TZ).date().isoformat() == r.day, r
    want = {fast["id"]: _ago(5 * HOUR), stepped["id"]: _ago(20 * HOUR),
            unknown["id"]: _ago(20 * HOUR), after["id"]: _ago(3 * HOUR),
            old_kiosk["id"]: _ago(600)}
    for rid, true in want.items():
        assert abs(stored[rid].rated_at - true) < NEAR, (rid, stored[rid], true)
    assert stored[future["id"]].rated_at == stored[future["id"]].server_time
    (qr,) = [r for rid, r in stored.items() if rid not in {e["id"] for e in (
        fast, future, stepped, unknown, after, old_kiosk)}]
    assert qr.device_time is None and qr.rated_at == qr.server_time
    assert abs(qr.rated_at - sent_qr) < NEAR
    # the kiosk's own readings are kept as they came, the evidence of its clock
    assert stored[fast["id"]].device_time == dt.datetime.fromisoformat(fast["device_time"])
    assert stored[stepped["id"]].device_time == dt.datetime.fromisoformat(stepped["device_time"])


def test_a_usb_export_stores_the_corrected_time(device, org_setup, tmp_path):
    # A dead kiosk's export is dated by the clock its boot had while online (8 h ahead).
    from aggregator.backup import import_kiosk_export

    _post(device, [device.event("app_start", {}, boot_id="boot-F")],
          {"X-Clock-Offset": f"{-8 * HOUR:.3f}", "X-Boot-Id": "boot-F"})
    a = _rating(device, "boot-F", 8 * HOUR, 2 * HOUR)
    folder = tmp_path / "export"
    usb_export(folder, device, [a])
    out = import_kiosk_export(org_setup.engine, folder, org_setup.settings)
    assert out["results"] == {"accepted": 1}
    r = _stored(org_setup.engine)[a["id"]]
    assert abs(r.rated_at - _ago(2 * HOUR)) < NEAR, r
    assert r.rated_at.astimezone(TZ).date().isoformat() == r.day


def test_migration_49_adds_rated_at_and_older_ratings_read_as_before(database_url):
    # Ratings stored before the migration have no corrected time: they keep NULL, and the
    # hour grid and the export read them as they did (the kiosk's clock, never later than
    # the arrival; the export leaves the time out when that is another day than the stored).
    engine = make_engine(database_url)
    with write(engine) as conn:
        schema_migrations.create(conn)
        for version, module in available():
            if version < 49:
                module.upgrade(conn)
                conn.execute(schema_migrations.insert().values(
                    version=version, name=module.NAME, applied_at=utcnow()))
    assert "rated_at" not in {c["name"] for c in inspect(engine).get_columns("ratings")}
    now = utcnow()
    arrived = dt.datetime(2026, 11, 23, 3, 10, tzinfo=dt.timezone.utc)   # 11:10 local
    rows = {  # id: (device time, server time, day)
        "early": (arrived - dt.timedelta(hours=2), arrived, "2026-11-23"),   # 09:10 local
        "future": (arrived + dt.timedelta(hours=3), arrived, "2026-11-23"),  # arrival's 11:10
        "elsewhere": (arrived - dt.timedelta(days=2, hours=10), arrived,  # 01:10 local,
                      "2026-11-23"),                                   # on another day
        "qr": (None, arrived, "2026-11-23")}
    d = engine.dialect.name
    with write(engine) as conn:
        for rid, (device_time, server_time, day) in rows.items():
            conn.execute(text(
                "INSERT INTO ratings (id, device_id, window_id, unit_id, channel, level, stars, "
                "scale, callback_consent, device_time, server_time, day, flags, flagged) VALUES "
                "(:id, 'k', 'W-001', 'U-01', 4, 'satisfied', 4, 5, :f, :dt, :st, :day, '[]', :f)"),
                {"id": rid, "f": False, "dt": driver_time(d, device_time),
                 "st": driver_time(d, server_time), "day": day})
    assert migrate(engine)[0] == 49   # and those after it
    assert "rated_at" in {c["name"] for c in inspect(engine).get_columns("ratings")}
    with read(engine) as conn:
        assert set(conn.execute(select(ratings.c.rated_at)).scalars()) == {None}
        grid = drill.patterns(conn, "U-01", dt.date(2026, 11, 23), dt.date(2026, 11, 23),
                              include_flagged=True)["grid"]
        sel = rating_export.Selection(dt.date(2026, 11, 23), dt.date(2026, 11, 23), ("U-01",),
                                      "national", True, now)
        times = {r[0]: r[2] for r in rating_export.rows(conn, sel, translator("zh_CN"), 8)}
    assert grid == {(0, 9): (1, 0), (0, 11): (2, 0), (0, 1): (1, 0)}   # 2026-11-23: a Monday
    assert times == {"early": "09:10:00", "future": "11:10:00", "elsewhere": "",
                     "qr": "11:10:00"}
    engine.dispose()


def test_the_ratings_module_doctests_pass():
    # RowMaker's example shows what rated_at is for a kiosk 8 h ahead; the examples must hold.
    failed, attempted = doctest.testmod(rating_store)
    assert attempted >= 6 and failed == 0
