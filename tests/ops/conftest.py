"""Fixtures of the operations tests: real aggregator processes (``aggregator serve``), a real
nginx from Debian's package in front of them, real PostgreSQL, all on loopback.

PostgreSQL cases need AGGREGATOR_TEST_PG_URL (tests/run.sh starts a throwaway cluster); the
proxy case needs the ``nginx`` binary (apt-get install nginx). Without them those cases skip
and say why. Everything a test starts is stopped when it ends.
"""

from __future__ import annotations

import pytest

from tests.ops.helpers import BACKENDS, PG_URL, Processes, drop_pg_database, new_pg_database


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path):
    """An empty database: a temp SQLite file, or a fresh PostgreSQL database (dropped after)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'aggregator.db'}"
        return
    url = new_pg_database()
    yield url
    drop_pg_database(url)


@pytest.fixture
def pg_url():
    """A fresh PostgreSQL database (the test is skipped without AGGREGATOR_TEST_PG_URL)."""
    if not PG_URL:
        pytest.skip("AGGREGATOR_TEST_PG_URL is not set (run tests/aggregator/start_pg.sh)")
    url = new_pg_database()
    yield url
    drop_pg_database(url)


@pytest.fixture
def processes(tmp_path):
    """Start servers with ``processes.aggregator(url)`` / ``processes.nginx(ports)``."""
    p = Processes(tmp_path)
    yield p
    p.stop_all()
