import datetime as dt
import subprocess
import sys

import pytest
from sqlalchemy import func, select, update

from aggregator import alerts, cli, demo, stats
from aggregator.dashboard.tables import cases
from aggregator.db import make_engine, read, utcnow, write
from aggregator.migrations import migrate
from aggregator.schema import devices, streams


def test_demo_loads_a_district_and_stats_answer(database_url, tmp_path):
    engine = make_engine(database_url)
    migrate(engine)
    summary = demo.run(engine, months=1, seed=3, enroll_code_file=str(tmp_path / "code"))
    assert summary["windows"] == 12 and summary["ratings"] > 3000
    assert 0.95 <= 1 - summary["bad"] / summary["ratings"] <= 0.995
    assert len((tmp_path / "code").read_text().strip()) == 11
    again = demo.run(engine, months=1, seed=3)
    assert again["ratings"] == 0  # idempotent: nothing counted twice
    today = dt.date.fromisoformat(summary["to"])
    with read(engine) as conn:
        s = stats.compute(conn, "region", today - dt.timedelta(days=40), today, region="R-D")
        # less the demo's flagged presses and the ratings of the appeals it accepted since
        # (flagged appeal_accepted)
        accepted = conn.execute(select(func.count()).select_from(cases).where(
            cases.c.resolution == "invalid")).scalar()
    assert len(s["rows"]) == 4
    assert s["total"]["rated"] == summary["ratings"] - summary["flagged"] - accepted
    assert 0.95 < s["total"]["rate"] < 1
    engine.dispose()


def test_alert_scan_finds_silent_devices_open_gaps_and_zero_bad(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    now = utcnow()
    old = now - dt.timedelta(days=3)
    with write(engine) as conn:
        demo.build_org(conn)
        conn.execute(devices.insert().values(id="k1", window_id="W-001", public_key="x",
                                             enrolled_at=old, last_seen_at=old))
        conn.execute(streams.insert().values(device_id="k1", stream_id="s1", high_water=4,
                                             max_seq=9, gap_since=old, first_seen_at=old,
                                             last_event_at=old))
        from aggregator import rollups
        rollups.add(conn, [{"day": (now - dt.timedelta(days=1)).date().isoformat(),
                            "window_id": "W-002", "unit_id": "U-01", "level": "very_satisfied",
                            "stars": 5, "flagged": False} for _ in range(600)])
    with write(engine) as conn:
        raised = alerts.scan(conn, now)
    kinds = sorted(a["kind"] for a in raised)
    assert kinds == ["device_silent", "seq_gap", "zero_bad"]
    with write(engine) as conn:
        assert alerts.scan(conn, now) == []  # raised once, not on every scan
        conn.execute(update(devices).values(last_seen_at=now))
    engine.dispose()


def test_cli_help_bad_arguments_and_enroll_code(tmp_path, capsys):
    assert subprocess.run([sys.executable, "-m", "aggregator", "--help"],
                          capture_output=True).returncode == 0
    with pytest.raises(SystemExit) as exc:
        cli.main(["serve", "--port", "x"])
    assert exc.value.code == 2
    url = f"sqlite:///{tmp_path / 'a.db'}"
    assert cli.main(["demo", "--database", url, "--months", "1"]) == 0
    assert cli.main(["enroll-code", "--database", url, "--window", "W-001"]) == 0
    out = capsys.readouterr().out
    assert "enrolment code for window W-001" in out and "█" in out
    assert "(UTC+0800), one use only" in out   # the hall's time (it was UTC, 8 hours off)
    assert cli.main(["enroll-code", "--database", url, "--window", "W-999"]) == 2
    assert "W-999" in capsys.readouterr().err
    assert cli.main(["revoke-device", "--database", url, "--device", "nope"]) == 2
    assert cli.main(["scan-alerts", "--database", url]) == 0
    assert cli.main(["migrate", "--database", url]) == 0


def test_serve_refuses_a_port_or_host_it_cannot_listen_on_before_starting(tmp_path, capsys):
    # --port 99999 started a server listening on some other port without a word, and a bad
    # --host ended in uvicorn's bare "Name or service not known".
    with pytest.raises(SystemExit) as exc:
        cli.main(["serve", "--port", "99999"])
    assert exc.value.code == 2
    assert "--port: must be a TCP port from 1 to 65535, got '99999'" in capsys.readouterr().err
    url = f"sqlite:///{tmp_path / 'a.db'}"
    assert cli.main(["serve", "--database", url, "--host", "999.1.1.1"]) == 2
    assert "--host '999.1.1.1' is not an address this machine can listen on" in \
        capsys.readouterr().err
    assert not (tmp_path / "a.db").exists()   # refused before anything was made


def test_cli_database_errors_name_the_database_and_hide_its_password(tmp_path, capsys):
    # The message was SQLAlchemy's text: the driver's error, then a link to sqlalche.me, and
    # not which database; an operator with several could not tell which file was damaged.
    bad = tmp_path / "aggregator.db"
    bad.write_bytes(b"not a database" * 100)
    assert cli.main(["migrate", "--database", f"sqlite:///{bad}"]) == 1
    err = capsys.readouterr().err
    assert f"aggregator migrate: database sqlite:///{bad}: file is not a database" in err
    assert "aggregator restore" in err and "sqlalche.me" not in err
    assert cli.main(["scan-alerts", "--database",
                     "postgresql://kiosk:s3cret@127.0.0.1:1/none"]) == 1
    err = capsys.readouterr().err
    assert "database postgresql://kiosk:***@127.0.0.1:1/none: connection failed" in err
    assert "s3cret" not in err

def test_demo_follows_up_its_bad_ratings_like_an_office(tmp_path):
    # The demo's overview showed hundreds of overdue cases because nobody had ever worked one;
    # a demo should look like a hall that does its job.
    from sqlalchemy import func, select

    from aggregator.dashboard.tables import audit_log, cases
    from aggregator.db import make_engine
    from aggregator.migrations import migrate

    engine = make_engine(f"sqlite:///{tmp_path / 'demo.db'}")
    migrate(engine)
    summary = demo.run(engine, months=1, seed=5)
    with engine.connect() as conn:
        by_state = dict(conn.execute(select(cases.c.state, func.count()).group_by(cases.c.state)).all())
        audited = conn.execute(select(func.count()).select_from(audit_log)).scalar()
    assert summary["bad"] > 0 and sum(by_state.values()) > 0
    assert by_state.get("closed", 0) > sum(by_state.values()) / 2
    assert audited > 0


def test_shrink_photos_scales_photos_stored_before_and_moves_the_roster(database_url, capsys):
    # Why: photos uploaded before uploads were scaled can be 12-megapixel phone photos, ~50 MB
    # of a kiosk's memory each; the command fixes them without asking anyone to upload again.
    import hashlib
    import io

    from PIL import Image
    from sqlalchemy import select

    from aggregator.schema import photos, staff

    out = io.BytesIO()
    Image.new("RGB", (1800, 2400), (90, 120, 200)).save(out, "JPEG")
    big = out.getvalue()
    big_sha, junk_sha = hashlib.sha256(big).hexdigest(), "f" * 64
    engine = make_engine(database_url)
    migrate(engine)
    with write(engine) as conn:
        demo.build_org(conn)
        conn.execute(photos.insert(), [
            {"sha256": big_sha, "content_type": "image/jpeg", "data": big, "created_at": utcnow()},
            {"sha256": junk_sha, "content_type": "image/png", "data": b"\x89PNG\r\n\x1a\n-",
             "created_at": utcnow()}])
        first = conn.execute(select(staff.c.id).order_by(staff.c.id)).scalars().first()
        conn.execute(update(staff).where(staff.c.id == first).values(photo_sha256=big_sha))
    assert cli.main(["shrink-photos", "--database", database_url]) == 0
    printed = capsys.readouterr().out
    assert "2 photos checked; 1 scaled" in printed and "1 staff now show" in printed
    assert f"unreadable: {junk_sha}" in printed
    with read(engine) as conn:
        new_sha = conn.execute(select(staff.c.photo_sha256).where(staff.c.id == first)).scalar()
        data = conn.execute(select(photos.c.data).where(photos.c.sha256 == new_sha)).scalar()
        kept = conn.execute(select(photos.c.sha256).where(photos.c.sha256 == big_sha)).scalar()
    assert new_sha != big_sha and hashlib.sha256(bytes(data)).hexdigest() == new_sha
    assert Image.open(io.BytesIO(bytes(data))).size == (600, 800)
    assert kept == big_sha  # a kiosk may still hold a config naming it
    assert cli.main(["shrink-photos", "--database", database_url]) == 0
    assert "3 photos checked; 0 scaled" in capsys.readouterr().out  # idempotent
    engine.dispose()


def test_the_demo_dates_nothing_after_now(tmp_path):
    # The demo put today's ratings at random hours up to 16:59, its cases' opening at 17:30
    # and their steps up to 17:00: in the morning the dashboard counted ratings from the
    # afternoon, and the per-rating export (up to now) disagreed with the pages.
    from aggregator.dashboard.tables import audit_log
    from aggregator.schema import ratings

    engine = make_engine(f"sqlite:///{tmp_path / 'demo.db'}")
    migrate(engine)
    beijing = dt.timezone(dt.timedelta(hours=8))
    now = dt.datetime.combine(dt.date.today(), dt.time(10, 30), beijing)
    summary = demo.run(engine, months=1, seed=5, now=now)
    assert summary["to"] == now.date().isoformat()
    with read(engine) as conn:
        latest = [conn.execute(select(func.max(c))).scalar() for c in (
            ratings.c.server_time, ratings.c.rated_at, ratings.c.device_time, cases.c.created_at,
            cases.c.updated_at, audit_log.c.at)]
        today = conn.execute(select(func.count()).select_from(ratings).where(
            ratings.c.day == now.date().isoformat())).scalar()
    assert all(t <= now for t in latest), latest
    # a weekday's morning has its ratings from 09:00 on, and no more
    assert today > 0 or now.weekday() >= 5
    engine.dispose()
