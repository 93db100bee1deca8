"""Upgrades from the first released schema (migration 1 alone) to the latest, with data kept,
on SQLite and PostgreSQL: the path every site that installed the first release will take."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import inspect, text

from aggregator import rollups, stats
from aggregator.dashboard import sync_cases
from aggregator.db import driver_time, make_engine, read, utcnow, write
from aggregator.enroll import create_code
from aggregator.migrations import available, m0001_initial, m0043_rollups_clustered, migrate, schema_migrations
from aggregator.schema import metadata
from sync.protocol import canonical_json
from tests.aggregator.device import Device

TZ = dt.timezone(dt.timedelta(hours=8))
LEVELS = [("very_satisfied", 5), ("satisfied", 4), ("basic_satisfied", 3),
          ("dissatisfied", 2), ("very_dissatisfied", 1)]


def install_first_release(engine) -> None:
    """The database as release 1 left it: migration 1 applied and recorded, nothing else."""
    with write(engine) as conn:
        schema_migrations.create(conn)
        m0001_initial.upgrade(conn)
        conn.execute(schema_migrations.insert().values(version=1, name=m0001_initial.NAME,
                                                       applied_at=utcnow()))


def fill_with_release_1_sql(engine, device: Device) -> dict:
    """Org, a device, 40 hash-chained rating events over two months (some flagged, some
    invited) and 3 timed-out invitations, written with release 1's SQL: events, ratings and
    the daily rollups it kept. Returns the expected figures."""
    now = utcnow()
    d = engine.dialect.name
    events, ratings, daily = [], [], {}
    for k in range(40):
        level, stars = LEVELS[k % 5]
        when = dt.datetime(2026, 1, 29, 10, tzinfo=TZ) + dt.timedelta(days=k % 6)
        flagged = k % 9 == 0
        invitation = f"inv-{k}" if k % 4 == 0 else None
        ev = device.rating(level, device_time=when.isoformat(),
                           flags=["lockout"] if flagged else [], invitation_id=invitation)
        events.append(ev)
        day = when.date().isoformat()
        ratings.append({"id": ev["id"], "device_id": device.id, "window_id": "W-001",
                        "unit_id": "U-01", "staff_id": "S-007", "staff_name": "王芳",
                        "service_item": "SI-01", "case_no": None, "invitation_id": invitation,
                        "channel": 4, "level": level, "stars": stars, "scale": 5,
                        "reasons": None, "reasons_version": None, "comment": None,
                        "phone": None, "callback_consent": False,
                        "device_time": driver_time(d, when), "server_time": driver_time(d, now),
                        "day": day, "flags": json.dumps(ev["payload"]["flags"]),
                        "flagged": flagged})
        key = (day, level, 1 if flagged else 0)
        m = daily.setdefault(key, [0, 0, 0])
        m[0] += 1
        m[1] += stars
        m[2] += 1 if invitation else 0
    for day in ("2026-01-31", "2026-02-01", "2026-02-01"):  # not_rated pseudo-level
        m = daily.setdefault((day, "not_rated", 0), [0, 0, 0])
        m[0] += 1
    with write(engine) as conn:
        conn.execute(text("INSERT INTO regions (id, name, level, parent_id) VALUES "
                          "('R-1', '示范区', 'district', NULL)"))
        conn.execute(text("INSERT INTO units (id, name, region_id, hotline, scale, trigger_mode, "
                          "lockout_seconds, invite_timeout_seconds) VALUES "
                          "('U-01', '便民服务中心', 'R-1', '12345', 5, 'open', 10, 20)"))
        conn.execute(text("INSERT INTO windows (id, name, unit_id, active) VALUES "
                          "('W-001', '民政窗口', 'U-01', :t)"), {"t": True})
        conn.execute(text("INSERT INTO staff (id, name, staff_no, party_member, stars, unit_id, "
                          "window_id, active) VALUES ('S-007', '王芳', '0007', :t, 4, 'U-01', "
                          "'W-001', :t)"), {"t": True})
        conn.execute(text("INSERT INTO service_items (code, name, time_limit, unit_id) VALUES "
                          "('SI-01', '低保申请', '即办', NULL)"))
        conn.execute(text("INSERT INTO devices (id, window_id, unit_id, public_key, app_version, "
                          "enrolled_at, last_seen_at, last_skew_s) VALUES "
                          "(:id, 'W-001', 'U-01', :pk, '0.1.0', :t, :t, 0)"),
                     {"id": device.id, "pk": device.public_key_b64, "t": driver_time(d, now)})
        conn.execute(text(
            "INSERT INTO events (id, device_id, stream_id, seq, type, device_time, boot_id, "
            "mono_ns, payload, prev_hash, hash, batch_id, server_time) VALUES (:id, :device_id, "
            ":stream_id, :seq, :type, :device_time, :boot_id, :mono_ns, :payload, :prev_hash, "
            ":hash, 'b-1', :st)"),
            [{**{k: e[k] for k in ("id", "device_id", "stream_id", "seq", "type", "device_time",
                                   "boot_id", "mono_ns", "prev_hash", "hash")},
              "payload": canonical_json(e["payload"]).decode(), "st": driver_time(d, now)}
             for e in events])
        conn.execute(text(
            "INSERT INTO streams (device_id, stream_id, high_water, max_seq, first_seen_at, "
            "last_event_at) VALUES (:d, :s, 40, 40, :t, :t)"),
            {"d": device.id, "s": device.stream_id, "t": driver_time(d, now)})
        cols = list(ratings[0])
        conn.execute(text(f"INSERT INTO ratings ({', '.join(cols)}) VALUES "
                          f"({', '.join(':' + c for c in cols)})"), ratings)
        conn.execute(text(
            'INSERT INTO rollup_daily (day, window_id, unit_id, staff_id, service_item, level, '
            'flagged, "count", stars_sum, invited) VALUES (:day, \'W-001\', \'U-01\', '
            '\'S-007\', \'SI-01\', :level, :flagged, :c, :s, :i)'),
            [{"day": k[0], "level": k[1], "flagged": k[2], "c": v[0], "s": v[1], "i": v[2]}
             for k, v in sorted(daily.items())])
        conn.execute(text("INSERT INTO alerts (kind, severity, dedupe_key, device_id, "
                          "window_id, detail, created_at) VALUES ('device_silent', 'warning', "
                          "'old-alert', :d, 'W-001', 'silent', :t)"),
                     {"d": device.id, "t": driver_time(d, now)})
    bad = sum(1 for r in ratings if r["stars"] <= 2 and not r["flagged"])
    return {"ratings": ratings, "daily": daily, "bad_unflagged": bad}


@pytest.mark.parametrize("served", [False, True], ids=["in-process", "served"])
def test_first_release_database_upgrades_to_latest_with_data_kept(database_url, processes,
                                                                  served):
    engine = make_engine(database_url)
    install_first_release(engine)
    device = Device("http://unused")
    expected = fill_with_release_1_sql(engine, device)

    if served:  # the way a site upgrades: start the new release on the old database
        base, _ = processes.aggregator(database_url, workers=1, name="upgraded")
        device.base_url = base
    else:
        assert migrate(engine) == [v for v, _ in available() if v != 1]
    with read(engine) as conn:
        versions = [r[0] for r in conn.execute(text(
            "SELECT version FROM schema_migrations ORDER BY version"))]
        assert versions == [v for v, _ in available()]
        # Every row kept, byte for byte where it matters (the chain hashes).
        kept = {r.id: r for r in conn.execute(text("SELECT * FROM ratings"))}
        assert set(kept) == {r["id"] for r in expected["ratings"]}
        for r in expected["ratings"]:
            assert (kept[r["id"]].level, kept[r["id"]].stars, kept[r["id"]].day,
                    bool(kept[r["id"]].flagged)) == (r["level"], r["stars"], r["day"],
                                                     r["flagged"])
        assert conn.execute(text("SELECT count(*) FROM events")).scalar() == 40
        assert conn.execute(text("SELECT detail FROM alerts")).scalar() == "silent"
        # Migration 2 backfilled the monthly rollups from release 1's daily rows.
        assert rollups.check_monthly(conn) == []
        monthly = {(r[0], r[1], int(r[2])): (int(r[3]), int(r[4]), int(r[5]))
                   for r in conn.exec_driver_sql(
                       'SELECT month, level, flagged, "count", stars_sum, invited '
                       'FROM rollup_monthly')}
        want: dict = {}
        for (day, level, flagged), v in expected["daily"].items():
            m = want.setdefault((day[:7], level, flagged), [0, 0, 0])
            for j in range(3):
                m[j] += v[j]
        assert monthly == {k: tuple(v) for k, v in want.items()}
        # Migration 43 rebuilt the rollup tables on SQLite (stored in key order) and dropped
        # rollup_daily's second index on day, on both stores, with every daily row kept.
        daily = {(r[0], r[1], int(r[2])): (int(r[3]), int(r[4]), int(r[5]))
                 for r in conn.exec_driver_sql(
                     'SELECT day, level, flagged, "count", stars_sum, invited FROM rollup_daily')}
        assert daily == {k: tuple(v) for k, v in expected["daily"].items()}
        assert "ix_rollup_day" not in {ix["name"] for ix in inspect(conn).get_indexes("rollup_daily")}
        if conn.dialect.name == "sqlite":
            for name in m0043_rollups_clustered.TABLES:
                create = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = ?",
                                              (name,)).scalar()
                assert create.rstrip().endswith("WITHOUT ROWID"), name
        # A whole month's ranking (monthly rows) equals the same month from the daily rows.
        jan = stats.compute(conn, "window", dt.date(2026, 1, 1), dt.date(2026, 1, 31))
        jan_rated = sum(v[0] for (day, level, f), v in expected["daily"].items()
                        if day.startswith("2026-01") and level != "not_rated" and not f)
        assert jan["rows"][0]["rated"] == jan_rated
    insp = inspect(engine)
    for name, table in metadata.tables.items():
        assert {c["name"] for c in insp.get_columns(name)} == set(table.c.keys()), name
    with write(engine) as conn:
        # The dashboard (migration 10) takes over the old bad ratings as cases.
        assert sync_cases(conn, utcnow(), full=True) == expected["bad_unflagged"]

    if served:
        # The upgraded server goes on with the same device's stream: the stored chain head
        # (written by release 1) must link, and the new ratings add to the old rollups.
        evs = [device.rating("very_dissatisfied") for _ in range(5)]
        r = device.post_batch(evs)
        assert r.status_code == 200, r.text
        assert {x["status"] for x in r.json()["results"]} == {"accepted"}
        assert r.json()["high_water"] == {device.stream_id: 45}
        with read(engine) as conn:
            assert rollups.check_monthly(conn) == []
            total = conn.exec_driver_sql("SELECT SUM(\"count\") FROM rollup_daily "
                                         "WHERE level <> 'not_rated'").scalar()
            assert total == 45
            assert conn.exec_driver_sql("SELECT count(*) FROM cases").scalar() == \
                expected["bad_unflagged"] + 5
        with write(engine) as conn:  # an enrolment code still works on the upgraded schema
            assert create_code(conn, "W-001", utcnow())["code"]
    engine.dispose()


def test_a_database_of_a_newer_release_is_refused_and_serve_does_not_start(database_url):
    # After a downgrade (or a backup of the newer release restored under the older one),
    # `migrate` said "up to date" and `serve` served a schema it does not know: rows written
    # without the newer columns' values, what the newer release stored misread.
    import subprocess
    import sys

    from tests.ops.helpers import ROOT, free_port

    engine = make_engine(database_url)
    migrate(engine)
    ours = available()[-1][0]
    with write(engine) as conn:
        conn.execute(schema_migrations.insert().values(version=ours + 1, name="next_release",
                                                       applied_at=utcnow()))
    for argv in (["migrate"], ["serve", "--port", str(free_port())], ["devices"]):
        try:
            out = subprocess.run([sys.executable, "-m", "aggregator", *argv, "--database",
                                  database_url], cwd=ROOT, capture_output=True, text=True,
                                 timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail(f"`aggregator {argv[0]}` went on with a newer release's database")
        assert out.returncode == 2, (argv, out.stderr)
        assert f"schema version {ours + 1} is newer than this release knows ({ours}); " \
               "install the newer release" in out.stderr, (argv, out.stderr)
    with read(engine) as conn:
        assert max(conn.execute(text("SELECT version FROM schema_migrations")).scalars()) \
            == ours + 1
    engine.dispose()
