"""What a QR rating POST costs in ``qr_limits``, and that the limits still hold.

Why: each POST counted its client's ratings of the day as rows by key prefix and forgot old
keys by key prefix, which no index served (SQLite's LIKE is case-insensitive, PostgreSQL's
needs the C collation): every POST read the whole table while holding the write lock, which
on SQLite held every kiosk's upload back too (150,000 rows: 34.5 ms a POST on SQLite, 20.9 ms
on PostgreSQL). Now the day's count is one row (``qr_limits.uses``) and the old keys are
found by kind and time (``ix_qr_limits_kind_last_at``), migration 53.
"""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
import requests
from sqlalchemy import event, select, text

from aggregator import Settings, qr, qr_page
from aggregator.db import driver_time, read, utcnow, write
from aggregator.migrations import available, migrate
from aggregator.schema import qr_limits, ratings
from tests.aggregator.conftest import ADMIN_TOKEN
from tests.aggregator.old_schema import database_at_version
from tests.qr_form import form_id, qr_post

BUDGET = 3


@pytest.fixture
def settings():
    return Settings(admin_token=ADMIN_TOKEN, secret="test-secret", public_url="http://testserver",
                    qr_daily_budget=BUDGET)


def _keys(engine) -> dict[str, int]:
    with read(engine) as conn:
        return dict(conn.execute(select(qr_limits.c.client_key, qr_limits.c.uses)).all())


def _plans(conn, statements) -> list[tuple[str, list[str]]]:
    """Each statement with the lines of its plan: SQLite's query plan, or PostgreSQL's with
    sequential scans off (a table no index can serve is still read whole, "Seq Scan")."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        return [(sql, conn.exec_driver_sql("EXPLAIN " + sql, params).scalars().all())
                for sql, params in statements]
    return [(sql, [row[3] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params)])
            for sql, params in statements]


def test_a_qr_post_reads_qr_limits_by_index_only(device, org_setup):
    # Every statement a QR POST runs on qr_limits (forgetting old keys, the daily budget, the
    # limits of the address and the browser, a follow-up link's one use) is planned on an
    # index; before, the forgetting and the budget's count read the whole table.
    engine = org_setup.engine
    with write(engine) as conn:   # some keys of every kind to choose a plan for
        conn.execute(qr_limits.insert(), [
            {"client_key": f"{kind}|{n:032x}|W-001", "last_at": utcnow()}
            for kind in "cbdef" for n in range(50)])
    seen = []

    def grab(conn, cursor, statement, parameters, context, executemany):
        if "qr_limits" in statement and not statement.startswith("EXPLAIN"):
            seen.append((statement, parameters))
    event.listen(engine, "before_cursor_execute", grab)
    try:
        assert qr_post(org_setup.url, "W-001", data={"level": "satisfied"},
                       allow_redirects=False).status_code == 303
        rating = device.rating("dissatisfied")
        assert device.post_batch([rating]).status_code == 200
        cfg = device.get("/api/v1/config").json()
        token = qr.follow_up_token(cfg["follow_up_qr_key"], rating["id"], int(time.time()) + 600)
        for comment in ("排队太久", "又等了很久"):   # the second: the link's use is looked up
            assert qr_post(org_setup.url, "W-001", data={"t": token, "comment": comment},
                           allow_redirects=False).status_code in (303, 409)
    finally:
        event.remove(engine, "before_cursor_execute", grab)
    with write(engine) as conn:
        plans = _plans(conn, seen)
        conn.rollback()
    kinds = {" ".join(sql.split()[:2]) for sql, _ in plans}
    assert {"DELETE FROM", "INSERT INTO", "SELECT qr_limits.client_key"} <= kinds, kinds
    for sql, plan in plans:
        assert not any(line.startswith("SCAN qr_limits") or "Seq Scan on qr_limits" in line
                       for line in plan), (sql, plan)
    forgets = [plan for sql, plan in plans if sql.startswith("DELETE FROM qr_limits")]
    assert forgets and all(
        any("ix_qr_limits_kind_last_at" in line for line in plan) for plan in forgets), forgets


def test_the_daily_budget_is_one_row_per_client_window_and_day(server):
    # At most the budget of ratings per client, window and day, counted in one row (one row
    # per rating was what the count had to read by prefix).
    now = utcnow()
    with write(server.engine) as conn:
        got = [qr_page._in_budget(conn, "c|aa|W-001", "2026-01-01", BUDGET, now)
               for _ in range(BUDGET + 2)]
        assert qr_page._in_budget(conn, "c|aa|W-002", "2026-01-01", BUDGET, now)  # another window
        assert qr_page._in_budget(conn, "c|bb|W-001", "2026-01-01", BUDGET, now)  # client
        assert qr_page._in_budget(conn, "c|aa|W-001", "2026-01-02", BUDGET, now)  # day
    assert got == [True] * BUDGET + [False, False]
    assert _keys(server.engine) == {"d|aa|W-001|2026-01-01": BUDGET, "d|aa|W-002|2026-01-01": 1,
                                    "d|bb|W-001|2026-01-01": 1, "d|aa|W-001|2026-01-02": 1}


def test_ratings_posted_at_once_from_one_address_stop_at_the_budget(org_setup):
    # The count and its check are one statement: requests at the same moment (a script's loop
    # in parallel) cannot all read the same count and all be stored.
    url = f"{org_setup.url}/r/W-001"
    forms = [{"level": "dissatisfied", "form_id": form_id(org_setup.url, "W-001")}
             for _ in range(BUDGET + 5)]
    barrier, codes = threading.Barrier(len(forms)), []

    def send(form):
        barrier.wait()
        codes.append(requests.post(url, data=form, allow_redirects=False, timeout=30).status_code)
    threads = [threading.Thread(target=send, args=(f,)) for f in forms]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [303] * BUDGET + [429] * 5, codes
    with read(org_setup.engine) as conn:
        assert len(conn.execute(select(ratings.c.id)).all()) == BUDGET
    assert [n for key, n in _keys(org_setup.engine).items() if key.startswith("d|")] == [BUDGET]


def test_old_keys_of_each_kind_are_forgotten_after_their_time(server):
    # An address's and a browser's keys are kept the memory hours, a day's budget (and the
    # retired "e|" keys) 25 hours, a follow-up link's use 8 days; each no longer.
    now = utcnow()
    ages = {"c": (3.9, 4.1), "b": (3.9, 4.1), "d": (24.9, 25.1), "e": (24.9, 25.1),
            "f": (8 * 24 - 0.1, 8 * 24 + 0.1)}
    with write(server.engine) as conn:
        conn.execute(qr_limits.insert(), [
            {"client_key": f"{kind}|{age}", "last_at": now - dt.timedelta(hours=age)}
            for kind, pair in ages.items() for age in pair])
        qr_page._forget_old(conn, now, 60, memory_hours=4)
    assert set(_keys(server.engine)) == {f"{kind}|{pair[0]}" for kind, pair in ages.items()}


def test_a_forgotten_day_counts_from_nothing(server):
    now = utcnow()
    with write(server.engine) as conn:
        for _ in range(BUDGET):
            assert qr_page._in_budget(conn, "c|aa|W-001", "2026-01-01", BUDGET, now)
        assert not qr_page._in_budget(conn, "c|aa|W-001", "2026-01-01", BUDGET, now)
    with write(server.engine) as conn:
        qr_page._forget_old(conn, now + dt.timedelta(hours=26), 60)
    assert _keys(server.engine) == {}
    with write(server.engine) as conn:
        assert qr_page._in_budget(conn, "c|aa|W-001", "2026-01-01", BUDGET, now)


def test_migration_53_counts_the_days_already_used(database_url):
    # A database with the per-rating rows of today's budgets (as written before migration 53)
    # keeps each client's count: one row per day with its number of ratings, the others gone.
    engine = database_at_version(database_url, 52)
    now = utcnow()
    old = {"d|aa|W-001|2026-01-01": 3, "d|bb|W-0|1|2026-01-01": 1,   # a window id with a "|"
           "d|aa|W-002|2026-01-01": 0}
    keys = ["c|aa|W-001", "f|sent|abc"]
    for day, n in old.items():
        keys += [day] + [f"{day}|{i}" for i in range(1, n + 1)]
    with write(engine) as conn:
        for key in keys:
            conn.execute(text("INSERT INTO qr_limits (client_key, last_at) VALUES (:k, :t)"),
                         {"k": key, "t": driver_time(engine.dialect.name, now)})
    assert migrate(engine) == [v for v, _ in available() if v >= 53]
    assert _keys(engine) == {**old, "c|aa|W-001": 0, "f|sent|abc": 0}
    with read(engine) as conn:   # an index on an expression, which SQLite's inspector skips
        assert conn.execute(text(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'qr_limits'"
            if engine.dialect.name == "postgresql" else
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'qr_limits'"
        )).scalars().all().count("ix_qr_limits_kind_last_at") == 1
    with write(engine) as conn:   # the count goes on from there
        assert qr_page._in_budget(conn, "c|aa|W-001", "2026-01-01", 4, now)
        assert not qr_page._in_budget(conn, "c|aa|W-001", "2026-01-01", 4, now)
        assert qr_page._in_budget(conn, "c|bb|W-0|1", "2026-01-01", 2, now)
    engine.dispose()


def test_migration_55_forgets_the_keys_that_name_a_citizens_address(database_url):
    # Before 6d4f1da the page kept "<address>|<window>|r", stamped with its rating's time: which
    # address sent which rating. A site upgrading from then straight to migration 53 kept them
    # for ever (they are of no kind the page forgets). Keys of the page's kinds stay; an IPv6
    # address beginning with one of their letters goes.
    engine = database_at_version(database_url, 54)
    kept = ["b|aa|W-001", "c|aa|W-001", "d|aa|W-001|2026-01-01", "f|sent|abc", "f|r-1"]
    gone = ["10.1.2.10|W-002|r", "fe80::1|W-001|r", "d10.0.0.1|W-001", "2001:db8::7|W-001|r"]
    with write(engine) as conn:
        for key in kept + gone:
            conn.execute(text("INSERT INTO qr_limits (client_key, last_at) VALUES (:k, :t)"),
                         {"k": key, "t": driver_time(engine.dialect.name, utcnow())})
    assert migrate(engine) == [v for v, _ in available() if v >= 55]
    assert set(_keys(engine)) == set(kept)
    engine.dispose()
