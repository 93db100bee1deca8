"""Fixtures of the aggregator tests: a real server on loopback over SQLite and, when
AGGREGATOR_TEST_PG_URL is set, PostgreSQL (each test in a fresh database)."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import pytest
import uvicorn

from aggregator import Settings, create_app, org
from aggregator.db import write
from tests.aggregator.device import Device, enroll_code

PG_URL = os.environ.get("AGGREGATOR_TEST_PG_URL")
ADMIN_TOKEN = "test-admin-token"
BACKENDS = [
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.skipif(
        not PG_URL, reason="AGGREGATOR_TEST_PG_URL is not set (run tests/aggregator/start_pg.sh)")),
]


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path):
    """A URL of an empty database: a temp SQLite file or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'aggregator.db'}"
        return
    import psycopg

    name = f"agg_test_{uuid.uuid4().hex[:12]}"
    admin_url = PG_URL
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(PG_URL)
    yield urlunsplit(parts._replace(path=f"/{name}"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def settings():
    """Test settings: a known admin token and secret."""
    return Settings(admin_token=ADMIN_TOKEN, secret="test-secret", public_url="http://testserver")


@dataclass
class RunningServer:
    url: str
    app: object
    engine: object
    settings: Settings

    @property
    def admin(self) -> dict:
        return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(database_url, settings):
    """A real aggregator served by uvicorn on 127.0.0.1 in a background thread."""
    app = create_app(database_url, settings=settings)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            lifespan="off", access_log=False)
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    yield RunningServer(f"http://127.0.0.1:{port}", app, app.state.engine, settings)
    srv.should_exit = True
    thread.join(timeout=10)
    app.state.engine.dispose()


@pytest.fixture
def org_setup(server):
    """The server with one region, unit, window W-001 (and W-002), two staff, one item."""
    with write(server.engine) as conn:
        org.save(conn, "regions", {"id": "R-1", "name": "示范区", "level": "district"})
        org.save(conn, "regions", {"id": "R-1a", "name": "城关街道", "level": "town",
                                   "parent_id": "R-1"})
        org.save(conn, "units", {"id": "U-01", "name": "城关便民服务中心", "region_id": "R-1a"})
        org.save(conn, "windows", {"id": "W-001", "name": "民政窗口", "unit_id": "U-01"})
        org.save(conn, "windows", {"id": "W-002", "name": "社保窗口", "unit_id": "U-01"})
        org.save(conn, "staff", {"id": "S-007", "name": "王芳", "staff_no": "0007",
                                 "unit_id": "U-01", "window_id": "W-001", "pin": "1234",
                                 "party_member": True, "stars": 4, "pledge": "一次告知"})
        org.save(conn, "service_items", {"code": "SI-01", "name": "低保申请",
                                         "time_limit": "即办"})
    return server


@pytest.fixture
def device(org_setup):
    """A kiosk identity enrolled to window W-001 of the running server."""
    d = Device(org_setup.url)
    r = d.enroll(enroll_code(org_setup))
    assert r.status_code == 200, r.text
    return d
