"""The heartbeat's ``oldest_pending_age_s`` is measured by clocks that mean something, or null.

Why it matters: it was the kiosk's clock now minus the smallest pending ``device_time``, two
raw readings of clocks that may belong to different boots. A kiosk back from a power cut with
its clock further back reported a 3-day backlog as 0 s (the server's ``backlog_stuck`` alert,
which counts from ``seen - age``, never fired); ratings of a minute ago recorded while the
clock sat at a build date, then set right by NTP, were reported 400 days old (a false alert).
Now the oldest pending event (by seq) is aged by the monotonic clock when it is of this boot,
by its own boot's measured clock offset when it is of an earlier one, and null otherwise.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from kiosk.store import RatingStore
from sync.client import SyncClient
from sync.credentials import Credentials

from .conftest import UNIT, WINDOWS, DeviceClock
from .fakeserver import FakeServer, json_answer

DAY = 86400.0


class World:
    """The real time as the server tells it (``shift`` from this machine's clock)."""

    def __init__(self) -> None:
        self.shift = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(timezone.utc) + self.shift


class Mono:
    def __init__(self, ns: int) -> None:
        self.ns = ns

    def __call__(self) -> int:
        return self.ns


@pytest.fixture
def world():
    w = World()
    server = FakeServer(lambda m, p, b: json_answer({"server_time": w.now().isoformat()})).start()
    w.url = server.url
    yield w
    server.close()


def _record(store, n=3):
    for _ in range(n):
        store.record("rating", {"level": "satisfied", "stars": 4, "scale": 5, "channel": 4,
                                "window_id": WINDOWS[0], "unit_id": UNIT, "staff_id": "S-1",
                                "staff_name": "王芳", "flags": []})


def _boot(path, world, clock, boot_id, mono):
    store = RatingStore(path, clock=clock, boot_id=boot_id, monotonic_ns=mono)
    creds = Credentials.generate(store.device_id)
    creds.window_id = WINDOWS[0]
    return store, SyncClient(world.url, store, creds, clock=clock)


def test_a_backlog_of_an_earlier_boot_keeps_its_days_after_the_clock_came_back_earlier(
        tmp_path, world):
    clock = DeviceClock()   # right in boot 1, and measured so by a heartbeat
    store, client = _boot(tmp_path / "kiosk.db", world, clock, "boot-1", Mono(10**9))
    client.heartbeat()
    _record(store)
    store.close()
    # Three days on, the kiosk boots with its clock 30 days back, the backlog still unsent.
    world.shift = timedelta(days=3)
    clock.offset = timedelta(days=3 - 30)
    store, client = _boot(tmp_path / "kiosk.db", world, clock, "boot-2", Mono(5 * 10**9))
    try:
        # This boot's clock is not measured yet: no figure rather than a wrong one.
        assert client.health()["oldest_pending_age_s"] is None
        client.heartbeat()   # its answer measures this boot's clock
        age = client.health()["oldest_pending_age_s"]
        assert age == pytest.approx(3 * DAY, abs=60)
    finally:
        store.close()


def test_ratings_recorded_under_a_build_date_clock_are_aged_by_the_monotonic_clock(
        tmp_path, world):
    clock = DeviceClock(timedelta(days=-400))
    mono = Mono(100 * 10**9)
    store, client = _boot(tmp_path / "kiosk.db", world, clock, "boot-1", mono)
    try:
        _record(store)
        clock.offset = timedelta(0)   # NTP set the clock right a minute later
        mono.ns += 60 * 10**9
        assert client.health()["oldest_pending_age_s"] == pytest.approx(60.0, abs=0.2)
    finally:
        store.close()


def test_the_oldest_is_the_lowest_seq_not_the_smallest_device_time(tmp_path, world):
    clock = DeviceClock()
    mono = Mono(100 * 10**9)
    store, client = _boot(tmp_path / "kiosk.db", world, clock, "boot-1", mono)
    try:
        _record(store, 1)
        mono.ns += 120 * 10**9
        clock.offset = timedelta(days=-2)   # the clock stepped back within the boot
        _record(store, 1)
        mono.ns += 30 * 10**9
        diag = store.diagnostics()
        assert diag["oldest_pending_seq"] == 1
        assert client.health()["oldest_pending_age_s"] == pytest.approx(150.0, abs=0.2)
    finally:
        store.close()


def test_a_backlog_of_a_boot_whose_clock_was_never_measured_is_sent_as_null(
        aggregator_server, make_kiosk, tmp_path):
    kiosk = make_kiosk()
    path, creds = kiosk.store.path, kiosk.client.credentials
    kiosk.store.close()
    old = RatingStore(path, clock=kiosk.clock, boot_id="boot-offline", monotonic_ns=Mono(10**9))
    _record(old)
    old.close()
    kiosk.store = RatingStore(path, clock=kiosk.clock, boot_id="boot-now")
    client = SyncClient(aggregator_server.url, kiosk.store, creds, clock=kiosk.clock)
    assert client.health()["oldest_pending_age_s"] is None
    # The server takes the null (aggregator/fleet.py check_heartbeat) and keeps the backlog.
    client.heartbeat()
    beat = aggregator_server.device(kiosk.store.device_id)["last_heartbeat"]
    assert beat["pending"] == 3 and "oldest_pending_age_s" not in beat
