"""Fault injection: a kiosk boots with its clock at a build date and NTP sets it right later.

The most common case after a power cut: a kiosk has no battery clock, it boots before the
hall's router, its clock starts at a build date (2026-01-01), citizens rate offline, then the
network returns, NTP steps the wall clock right, and the backlog uploads. The skew the server
measured at that upload was ~0, so the boot's earlier ratings were dated by their wrong wall
time: January, with wrong rollups, rankings and case deadlines. The events' ``mono_ns``
(CLOCK_MONOTONIC since boot) no wall-clock step moves; the kiosk sends its monotonic clock with
each request (``X-Mono-Ns``, the heartbeat's ``mono_ns``) and the server dates each event of
the boot by it (docs/protocol.md, 1.1).

The real aggregator on loopback, a real kiosk store and sync client. The scenario's days pass
by moving the kiosk's monotonic clock and its wall clock forward together (the server's clock
is real: the upload happens now, so the ratings were truly recorded one and two days ago).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from aggregator.dashboard.tables import cases
from aggregator.schema import device_boots, ratings, rollup_daily, rollup_monthly
from tests.reliability.harness import DeviceClock, LiveServer, Row, check_server_side, free_port

LOCAL = timezone(timedelta(hours=8))  # the server's default timezone_offset_hours
BUILD = datetime(2026, 1, 1, 8, tzinfo=LOCAL)  # the clock a kiosk boots with
DAY = timedelta(days=1)


class MonoClock:
    """A kiosk's CLOCK_MONOTONIC: real monotonic time plus ``base`` ns, moved on by ``advance``."""

    def __init__(self, since_boot: timedelta) -> None:
        self.base = _ns(since_boot) - time.monotonic_ns()

    def __call__(self) -> int:
        return time.monotonic_ns() + self.base

    def advance(self, by: timedelta) -> None:
        self.base += _ns(by)


def _ns(t: timedelta) -> int:
    return int(t.total_seconds() * 1e9)


def _day(t: datetime) -> str:
    return t.astimezone(LOCAL).date().isoformat()


@pytest.mark.parametrize("uploaded_by", ["same-boot", "next-boot"])
def test_ratings_before_ntp_set_the_clock_right_keep_their_true_day(tmp_path, uploaded_by):
    from kiosk.store import RatingStore
    from sync.client import SyncClient
    from sync.credentials import Credentials
    from sync.errors import ServerUnavailable

    with LiveServer(tmp_path / "aggregator.db") as srv:
        home = tmp_path / "kiosk"
        kiosk = srv.kiosk(home, "W-REL-1", clock=DeviceClock())  # enrolled earlier
        kiosk.store.close()
        srv.kiosks.remove(kiosk)
        t0 = datetime.now(timezone.utc)

        # The power came back two days ago (in the scenario) plus an hour: the kiosk booted
        # at the build date; the router did not.
        since_boot = timedelta(hours=1)
        mono = MonoClock(since_boot)
        wall = DeviceClock(BUILD + since_boot - datetime.now(timezone.utc))
        store = RatingStore(home / "kiosk.db", clock=wall, monotonic_ns=mono, boot_id="boot-N")
        client = SyncClient(f"http://127.0.0.1:{free_port()}", store, Credentials.load(home),
                            clock=wall)  # the router is down
        store.record("app_start", {})
        bad = store.record("rating", _payload("very_dissatisfied", 1))        # two days ago
        with pytest.raises(ServerUnavailable):
            client.drain()
        mono.advance(DAY)  # a day passes offline; the wrong wall clock runs on with it
        wall.offset += DAY
        good = store.record("rating", _payload("satisfied", 4))               # a day ago
        mono.advance(DAY)
        wall.offset = timedelta(0)  # the router is back: NTP steps the wall clock right
        client.server_url = srv.url
        now_rating = store.record("rating", _payload("dissatisfied", 2))      # now
        assert bad["device_time"].startswith("2026-01-01")
        if uploaded_by == "same-boot":
            client.drain()
        else:
            # The boot only got a heartbeat out before the next power cut; the next boot
            # (clock right this time) uploads the backlog.
            client.heartbeat()
            store.close()
            store = RatingStore(home / "kiosk.db", clock=DeviceClock(),
                                monotonic_ns=MonoClock(timedelta(minutes=2)), boot_id="boot-M")
            client = SyncClient(srv.url, store, Credentials.load(home), clock=DeviceClock())
            client.drain()
        assert store.pending_count() == 0
        store.close()

        with srv.engine.connect() as conn:
            days = dict(conn.execute(select(ratings.c.id, ratings.c.day)).all())
            daily = {(r.day, r.level): r.count for r in conn.execute(
                select(rollup_daily).where(rollup_daily.c.window_id == "W-REL-1"))}
            monthly = {(r.month, r.level): r.count for r in conn.execute(
                select(rollup_monthly).where(rollup_monthly.c.window_id == "W-REL-1"))}
            opened = dict(conn.execute(select(cases.c.rating_id, cases.c.opened_day)).all())
            refs = dict(conn.execute(select(device_boots.c.boot_id, device_boots.c.mono_ns)).all())
        bad_day, good_day, today = _day(t0 - 2 * DAY), _day(t0 - DAY), _day(t0)
        # Before the fix the first two were dated 2026-01-02 and 2026-01-03 (their wall time).
        assert days == {bad["id"]: bad_day, good["id"]: good_day, now_rating["id"]: today}
        assert daily == {(bad_day, "very_dissatisfied"): 1, (good_day, "satisfied"): 1,
                         (today, "dissatisfied"): 1}
        want_monthly: dict = {}
        for day, level in daily:
            want_monthly[(day[:7], level)] = want_monthly.get((day[:7], level), 0) + 1
        assert monthly == want_monthly
        assert opened == {bad["id"]: bad_day, now_rating["id"]: today}  # deadlines count from these
        assert refs["boot-N"] is not None  # the reference the kiosk sent
        row = Row("ntp step")
        check_server_side(row, srv.engine, [store.device_id])
        assert not row.problems, row.problems


def _payload(level: str, stars: int) -> dict:
    return {"level": level, "stars": stars, "scale": 5, "channel": 4, "window_id": "W-REL-1",
            "unit_id": "U-REL", "staff_id": "S-REL-1", "staff_name": "王芳",
            "service_item": None, "case_no": None, "invitation_id": None, "flags": []}
