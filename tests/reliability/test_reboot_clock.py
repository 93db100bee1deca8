"""Fault injection: a power cut reboots a kiosk with a backlog into a clock a month behind.

A kiosk has no battery clock, and a power cut takes the hall's router down too, so a backlog
that spans a reboot is the common case. Boot A (clock right) records ratings while the network
is down; the power cut reboots the kiosk into boot B, whose clock is a month behind; the
network comes back during B, and the real sync client uploads A's and B's ratings together.
The server used to date every event of the upload by the skew measured then (boot B's), so
A's ratings landed a month later: on the wrong day and month, in the wrong rollups and case
deadlines. Each rating must be dated by the clock of its own boot (docs/protocol.md, 1.1).

The real aggregator on loopback, real kiosk stores and sync clients; the server's clock is
moved forward 40 days between the boots (time passing), through ``api_device.utcnow``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from aggregator.dashboard.tables import cases
from aggregator.schema import ratings, rollup_daily, rollup_monthly
from tests.reliability.harness import DeviceClock, LiveServer, Row, check_server_side, free_port

LOCAL = timezone(timedelta(hours=8))  # the server's default timezone_offset_hours
LATER = timedelta(days=40)             # between the power cut and the network's return
BEHIND = timedelta(days=30)            # boot B's clock


def _day(t: datetime) -> str:
    return t.astimezone(LOCAL).date().isoformat()


@pytest.mark.parametrize("a_reached_the_server", [True, False],
                         ids=["boot-A-measured", "boot-A-never-measured"])
def test_ratings_of_a_boot_before_a_power_cut_keep_their_day_and_month(
        tmp_path, monkeypatch, a_reached_the_server):
    import aggregator.api_device as api_device
    from kiosk.store import RatingStore
    from sync.client import SyncClient
    from sync.credentials import Credentials
    from sync.errors import ServerUnavailable

    with LiveServer(tmp_path / "aggregator.db") as srv:
        home = tmp_path / "kiosk"
        kiosk = srv.kiosk(home, "W-REL-1", clock=DeviceClock())  # enrolled, right clock
        kiosk.store.close()
        srv.kiosks.remove(kiosk)
        t0 = datetime.now(timezone.utc)

        # Boot A, clock right. It reached the server once (or never), then the network went.
        store_a = RatingStore(home / "kiosk.db", clock=DeviceClock(), boot_id="boot-A")
        client_a = SyncClient(srv.url, store_a, Credentials.load(home), clock=DeviceClock())
        store_a.record("app_start", {})
        if a_reached_the_server:
            client_a.drain()
        client_a.server_url = f"http://127.0.0.1:{free_port()}"  # the router is down
        a_bad = store_a.record("rating", _payload("very_dissatisfied", 1))
        a_good = store_a.record("rating", _payload("satisfied", 4))
        with pytest.raises(ServerUnavailable):
            client_a.drain()
        store_a.close()  # the power cut

        # 40 days on, boot B: its clock a month behind; the network is back.
        monkeypatch.setattr(api_device, "utcnow", lambda: datetime.now(timezone.utc) + LATER)
        clock_b = DeviceClock(LATER - BEHIND)
        store_b = RatingStore(home / "kiosk.db", clock=clock_b, boot_id="boot-B")
        client_b = SyncClient(srv.url, store_b, Credentials.load(home), clock=clock_b)
        store_b.record("app_start", {})
        b_bad = store_b.record("rating", _payload("dissatisfied", 2))
        assert store_b.pending_count() >= 4
        client_b.drain()  # the first answer is clock_skew: the client corrects and retries
        assert store_b.pending_count() == 0
        store_b.close()

        with srv.engine.connect() as conn:
            days = dict(conn.execute(select(ratings.c.id, ratings.c.day)).all())
            daily = {(r.day, r.level): r.count for r in conn.execute(
                select(rollup_daily).where(rollup_daily.c.window_id == "W-REL-1"))}
            monthly = {(r.month, r.level): r.count for r in conn.execute(
                select(rollup_monthly).where(rollup_monthly.c.window_id == "W-REL-1"))}
            opened = dict(conn.execute(select(cases.c.rating_id, cases.c.opened_day)).all())
        a_day, b_day = _day(t0), _day(t0 + LATER)
        # Before the fix A's ratings were dated t0 + 30 days (boot B's skew): another month.
        assert days == {a_bad["id"]: a_day, a_good["id"]: a_day, b_bad["id"]: b_day}
        assert daily == {(a_day, "very_dissatisfied"): 1, (a_day, "satisfied"): 1,
                         (b_day, "dissatisfied"): 1}
        assert monthly == {(a_day[:7], "very_dissatisfied"): 1, (a_day[:7], "satisfied"): 1,
                           (b_day[:7], "dissatisfied"): 1}
        assert opened == {a_bad["id"]: a_day, b_bad["id"]: b_day}  # deadlines count from these
        row = Row("reboot clock")
        check_server_side(row, srv.engine, [store_b.device_id])
        assert not row.problems, row.problems


def _payload(level: str, stars: int) -> dict:
    return {"level": level, "stars": stars, "scale": 5, "channel": 4, "window_id": "W-REL-1",
            "unit_id": "U-REL", "staff_id": "S-REL-1", "staff_name": "王芳",
            "service_item": None, "case_no": None, "invitation_id": None, "flags": []}
