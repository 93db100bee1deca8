"""Fixtures of the assessment tests: a real aggregator with demo data, sample accounts and
staff accounts for every staff member of U-01, served by uvicorn on 127.0.0.1 (SQLite); a
small hand-made organisation on SQLite and (with AGGREGATOR_TEST_PG_URL) PostgreSQL for the
store-level rules; Debian's Chromium through Playwright for the browser test."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest

from aggregator import Settings, create_app, demo, org
from aggregator.dashboard import accounts, sample
from aggregator.db import make_engine, utcnow, write
from aggregator.migrations import migrate
from tests.dashboard.helpers import Dashboard
from tests.serving import serve

PG_URL = os.environ.get("AGGREGATOR_TEST_PG_URL")
PASSWORD = sample.PASSWORD
U01_STAFF = [f"S-{n:03d}" for n in range(1, 7)]   # demo: U-01 has W-001..W-003, 2 staff each



def staff_accounts(engine, staff_ids, now) -> dict:
    """A dashboard account (role staff) per staff id: username = staff id lower-cased."""
    out = {}
    with write(engine) as conn:
        for sid in staff_ids:
            name = sid.lower()
            user = accounts.get_user_by_name(conn, name) or accounts.create_user(
                conn, name, PASSWORD, "staff", staff_id=sid, now=now)
            out[sid] = user
    return out


@pytest.fixture(scope="module")
def dash(tmp_path_factory):
    """The running dashboard on demo data with staff accounts s-001 … s-006 (unit U-01)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('assess') / 'aggregator.db'}"
    app = create_app(url, settings=Settings(secret="test-secret", admin_token="t",
                                            public_url="http://testserver"))
    demo.run(app.state.engine, months=2, seed=3)
    info = sample.seed(app.state.engine, utcnow())
    staff_accounts(app.state.engine, U01_STAFF, utcnow())
    server, thread, base = serve(app)
    yield Dashboard(base, app.state.engine, info["users"])
    server.should_exit = True
    thread.join(timeout=10)
    app.state.engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(
    not PG_URL, reason="AGGREGATOR_TEST_PG_URL is not set (run tests/aggregator/start_pg.sh)"))])
def engine(request, tmp_path):
    """A migrated, empty aggregator database (SQLite file or a fresh PostgreSQL database)."""
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'a.db'}")
        migrate(eng)
        yield eng
        eng.dispose()
        return
    import psycopg

    name = f"assess_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    eng = make_engine(urlunsplit(urlsplit(PG_URL)._replace(path=f"/{name}")))
    migrate(eng)
    yield eng
    eng.dispose()
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _save_small_org(conn) -> None:
    """Region R-A; units U-A (windows W-A1, W-A2; staff A1…A5, A1 and A2 at W-A1) and U-B
    (window W-B1; staff B1)."""
    org.save(conn, "regions", {"id": "R-A", "name": "测试区", "level": "district"})
    org.save(conn, "units", {"id": "U-A", "name": "测试中心", "region_id": "R-A"})
    org.save(conn, "units", {"id": "U-B", "name": "另一中心", "region_id": "R-A"})
    for w in ("W-A1", "W-A2"):
        org.save(conn, "windows", {"id": w, "name": f"窗口{w}", "unit_id": "U-A"})
    org.save(conn, "windows", {"id": "W-B1", "name": "窗口B1", "unit_id": "U-B"})
    for n in range(1, 6):
        org.save(conn, "staff", {"id": f"A{n}", "name": f"人员{n}", "unit_id": "U-A",
                                 "window_id": "W-A1" if n <= 2 else "W-A2", "stars": 2})
    org.save(conn, "staff", {"id": "B1", "name": "外单位", "unit_id": "U-B",
                             "window_id": "W-B1"})


@pytest.fixture
def small_org(engine):
    """One unit U-A with windows W-A1/W-A2 and staff A1…A5 (A1, A2 at W-A1), staff accounts."""
    with write(engine) as conn:
        _save_small_org(conn)
    users = staff_accounts(engine, [f"A{n}" for n in range(1, 6)] + ["B1"], utcnow())
    return engine, users


@pytest.fixture
def today() -> dt.date:
    return dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    yield context.new_page()
    context.close()


@pytest.fixture
def small_dash(tmp_path):
    """The running dashboard on the small organisation (as ``small_org``, SQLite) with an
    admin, a supervisor of R-A (``sup``), managers of U-A and U-B (``ua``, ``ub``) and staff
    accounts a1 … a5, b1: a fresh database for each test that needs one to itself."""
    app = create_app(f"sqlite:///{tmp_path / 'a.db'}", settings=Settings(
        secret="test-secret", admin_token="t", public_url="http://testserver"))
    engine = app.state.engine
    with write(engine) as conn:
        _save_small_org(conn)
        for name, role, region, unit in (("admin", "admin", None, None),
                                         ("sup", "supervisor", "R-A", None),
                                         ("ua", "unit_manager", None, "U-A"),
                                         ("ub", "unit_manager", None, "U-B")):
            accounts.create_user(conn, name, PASSWORD, role, region_id=region, unit_id=unit,
                                 display_name=name, now=utcnow())
    users = staff_accounts(engine, [f"A{n}" for n in range(1, 6)] + ["B1"], utcnow())
    server, thread, base = serve(app)
    yield Dashboard(base, engine, users)
    server.should_exit = True
    thread.join(timeout=10)
    engine.dispose()
