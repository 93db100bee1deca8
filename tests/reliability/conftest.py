"""Fixtures of the reliability tests: the short size of each scenario of tools/reliability.py.

The scenarios themselves live beside this file (one module each, ``run(size)``); these tests run
the short sizes in CI and assert zero losses, zero duplicates and zero 5xx. PostgreSQL rows
need AGGREGATOR_TEST_PG_URL (tests/run.sh sets it)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("KIVY_NO_ARGS", "1")
os.environ.setdefault("SDL_VIDEODRIVER", "offscreen")


@pytest.fixture
def pg_url():
    """The throwaway PostgreSQL cluster's URL, or None (the PostgreSQL row is then skipped)."""
    return os.environ.get("AGGREGATOR_TEST_PG_URL") or None


@pytest.fixture
def assert_row():
    """assert_row(row): skip a skipped row with its reason, else demand a clean PASS."""

    def check(row) -> None:
        d = row.as_dict()
        if d["result"] == "SKIP":
            pytest.skip(d["note"])
        summary = {k: d[k] for k in ("tried", "recorded", "on_server", "duplicates", "losses",
                                     "http_5xx")}
        assert d["result"] == "PASS", f"{d['scenario']}: {summary}\n" + "\n".join(
            p[:500] for p in d["problems"][:10])
        assert d["duplicates"] == 0 and d["losses"] == 0 and d["http_5xx"] == 0
        assert d["tried"] > 0

    return check
