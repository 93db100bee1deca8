"""Fixtures of the sync tests: a real aggregator on loopback (SQLite in a temp file), a
fault-injecting proxy in front of it, and kiosks (real RatingStore + SyncClient) enrolled to it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from kiosk.store import RatingStore
from sync.backoff import Backoff
from sync.client import AdminClient, SyncClient
from tests.serving import serve
from tests.sync.faultproxy import FaultProxy

ADMIN_TOKEN = "sync-test-admin-token"
UNIT = "U-SYNC"
WINDOWS = ("W-S1", "W-S2", "W-S3", "W-S4")



@dataclass
class Aggregator:
    """A running aggregator: its URL, SQLAlchemy engine and an admin client."""

    url: str
    port: int
    app: object
    engine: object
    admin: AdminClient

    def code(self, window_id: str = WINDOWS[0]) -> str:
        return self.admin.enroll_code(window_id)["code"]

    def events(self, device_id: str) -> list[dict]:
        """The events the server holds for a device, in (stream, seq) order."""
        from sqlalchemy import select

        from aggregator.schema import events

        with self.engine.connect() as conn:
            rows = conn.execute(select(events).where(events.c.device_id == device_id)
                                .order_by(events.c.stream_id, events.c.seq)).mappings().all()
        return [dict(r) for r in rows]

    def device(self, device_id: str) -> dict:
        return next(d for d in self.admin.devices() if d["id"] == device_id)


def wait_for(condition, timeout=60.0):
    """Poll until ``condition()`` holds; the timeout only guards against a hang."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def aggregator_server(tmp_path):
    """The REAL aggregator (``create_app``) served by uvicorn on 127.0.0.1, on SQLite."""
    from aggregator import Settings, create_app

    settings = Settings(admin_token=ADMIN_TOKEN, secret="sync-test-secret",
                        public_url="http://testserver")
    app = create_app(f"sqlite:///{tmp_path / 'aggregator.db'}", settings=settings)
    server, thread, url = serve(app)
    port = int(url.rsplit(":", 1)[1])
    admin = AdminClient(url, ADMIN_TOKEN, timeout=10)
    admin.save("units", [{"id": UNIT, "name": "同步测试便民服务中心"}])
    admin.save("windows", [{"id": w, "name": f"窗口 {w}", "unit_id": UNIT} for w in WINDOWS])
    admin.save("staff", [{"id": "S-SYNC-1", "name": "王芳", "staff_no": "0001", "unit_id": UNIT,
                          "badge": "10000001", "pledge": "一次告知"}])
    yield Aggregator(url, port, app, app.state.engine, admin)
    server.should_exit = True
    thread.join(timeout=10)
    app.state.engine.dispose()


@pytest.fixture
def proxy(aggregator_server):
    """A fault proxy in front of the aggregator; every request passes until scripted."""
    p = FaultProxy("127.0.0.1", aggregator_server.port, delay_seconds=0.6).start()
    yield p
    p.chooser = None
    p.close()


class DeviceClock:
    """A device wall clock the test can set off or jump: real time plus ``offset``."""

    def __init__(self, offset: timedelta = timedelta(0)) -> None:
        self.offset = offset

    def __call__(self) -> datetime:
        return datetime.now(timezone.utc).astimezone() + self.offset


@dataclass
class Kiosk:
    store: RatingStore
    client: SyncClient
    home: Path
    clock: DeviceClock
    extra: list = field(default_factory=list)

    def record(self, n: int, window_id: str = WINDOWS[0]) -> list[dict]:
        return [self.store.record("rating", {
            "level": "satisfied", "stars": 4, "scale": 5, "channel": 4, "window_id": window_id,
            "unit_id": UNIT, "staff_id": "S-SYNC-1", "staff_name": "王芳", "service_item": None,
            "case_no": None, "invitation_id": None, "flags": []}) for _ in range(n)]


@pytest.fixture
def make_kiosk(aggregator_server, tmp_path):
    """Build enrolled kiosks: ``make_kiosk(window, url=…, clock=…, timeout=…)``."""
    made: list[Kiosk] = []

    def make(window_id: str = WINDOWS[0], *, url: str | None = None,
             clock: DeviceClock | None = None, timeout: float = 5, name: str | None = None) -> Kiosk:
        clock = clock or DeviceClock()
        home = tmp_path / (name or f"kiosk-{len(made)}")
        store = RatingStore(home / "kiosk.db", clock=clock)
        client = SyncClient(url or aggregator_server.url, store, timeout=timeout, clock=clock)
        client.enroll(aggregator_server.code(window_id))
        kiosk = Kiosk(store, client, home, clock)
        made.append(kiosk)
        return kiosk

    yield make
    for k in made:
        k.store.close()


@pytest.fixture
def fast_backoff():
    """Backoff that waits milliseconds, so fault tests never sleep for real minutes."""
    return Backoff(base=0.001, cap=0.01, max_retry_after=0.01)
