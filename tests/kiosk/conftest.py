"""Fixtures for the kiosk's plain-Python parts: config, store, flow (no window)."""

from __future__ import annotations

import pytest

from kiosk.flow import FlowSettings, RatingFlow
from kiosk.pin import hash_pin
from kiosk.store import RatingStore


class FakeClock:
    """A monotonic clock the test moves by hand, so timeouts need no sleeping."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "kiosk.db"


@pytest.fixture
def store(db_path):
    s = RatingStore(db_path)
    yield s
    s.close()


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def roster():
    return [
        {"staff_id": "S-1", "name": "王芳", "staff_no": "0001", "badge": "10000001",
         "pin_hash": hash_pin("1234", iterations=1000)},
        {"staff_id": "S-2", "name": "李明", "staff_no": "0002", "badge": "10000002", "pin_hash": ""},
    ]


@pytest.fixture
def make_flow(store, clock, roster):
    """Build a flow on the real store with settings overridden per test."""

    def make(**overrides) -> RatingFlow:
        return RatingFlow(store, FlowSettings(**overrides), roster, clock=clock)

    return make


@pytest.fixture
def events_of():
    """events_of(store, type) → the store's events of that type, in sequence order."""

    def events(store, type_=None):
        return [e for e in store.iter_events() if type_ is None or e["type"] == type_]

    return events


@pytest.fixture
def config_file(tmp_path):
    """A copy of the documented config.yaml in ``tmp_path``."""
    import shutil

    from tests.kiosk.cli_run import ROOT

    path = tmp_path / "config.yaml"
    shutil.copy(ROOT / "config.yaml", path)
    return path


class FailingStore:
    """The real store, except that recording ratings and follow-ups fails as on a full disk
    while ``fail`` is set (set at first)."""

    def __init__(self, store):
        self.store = store
        self.fail = True

    def record(self, type_, payload=None):
        from kiosk import constants as C
        from kiosk.errors import StoreFullError

        if self.fail and type_ in (C.EV_RATING, C.EV_FOLLOW_UP):
            raise StoreFullError("disk full while recording; nothing was recorded")
        return self.store.record(type_, payload)

    def __getattr__(self, name):
        return getattr(self.store, name)
