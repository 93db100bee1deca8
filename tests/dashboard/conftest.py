"""Fixtures of the dashboard tests: a real aggregator with demo data and sample accounts,
served by uvicorn on 127.0.0.1, over SQLite and (when AGGREGATOR_TEST_PG_URL is set)
PostgreSQL; a real headless Chromium (Debian's /usr/bin/chromium) driven by Playwright."""

from __future__ import annotations

import os
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest

from aggregator import Settings, create_app, demo
from aggregator.dashboard import sample
from aggregator.db import utcnow
from tests.dashboard.helpers import Dashboard
from tests.serving import serve

PG_URL = os.environ.get("AGGREGATOR_TEST_PG_URL")
BACKENDS = [
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.skipif(
        not PG_URL, reason="AGGREGATOR_TEST_PG_URL is not set (run tests/aggregator/start_pg.sh)")),
]



@pytest.fixture(scope="module", params=BACKENDS)
def database_url(request, tmp_path_factory):
    """A fresh database: a temp SQLite file or a new PostgreSQL database (dropped after)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('dash') / 'aggregator.db'}"
        return
    import psycopg

    name = f"dash_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield urlunsplit(urlsplit(PG_URL)._replace(path=f"/{name}"))
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _serve(url: str):
    app = create_app(url, settings=Settings(secret="test-secret", admin_token="t"))
    demo.run(app.state.engine, months=2, seed=3, follow_up=False)
    info = sample.seed(app.state.engine, utcnow())
    server, thread, url = serve(app)
    return app, server, thread, Dashboard(url, app.state.engine, info["users"])


@pytest.fixture(scope="module")
def dash(database_url):
    """The running dashboard (module-wide; tests pick distinct cases)."""
    app, server, thread, d = _serve(database_url)
    yield d
    server.should_exit = True
    thread.join(timeout=10)
    app.state.engine.dispose()


@pytest.fixture(scope="module")
def dash_sqlite(tmp_path_factory):
    """The running dashboard over SQLite only (browser tests)."""
    app, server, thread, d = _serve(f"sqlite:///{tmp_path_factory.mktemp('ui') / 'a.db'}")
    yield d
    server.should_exit = True
    thread.join(timeout=10)
    app.state.engine.dispose()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1440, "height": 900},
                                  accept_downloads=True)
    yield context.new_page()
    context.close()
