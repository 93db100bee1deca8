"""The database layer's own guarantees (aggregator/db.py)."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading

import pytest

from aggregator.db import WRITER_FIRST, Savepoint, make_engine, write


def test_sqlite_writers_queue_on_the_lock_file_not_on_sqlites_busy_polling(tmp_path):
    # Several `serve` workers share one SQLite file. SQLite's busy handler polls with sleeps of
    # up to 100 ms, so two workers ingested less than one; writers now wait their turn on a
    # flock of <database>.lock, which wakes the next one at once. Held by another process
    # (another open file description), the lock must keep our write transaction waiting.
    engine = make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    with write(engine) as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    other = os.open(tmp_path / "a.db.lock", os.O_RDONLY)
    fcntl.flock(other, fcntl.LOCK_EX)
    inside = threading.Event()

    def writer():
        with write(engine) as conn:
            inside.set()
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")
    t = threading.Thread(target=writer)
    t.start()
    try:
        assert not inside.wait(0.5), "the write transaction began while another held the lock"
    finally:
        fcntl.flock(other, fcntl.LOCK_UN)
        os.close(other)
    t.join(30)
    assert inside.is_set() and not t.is_alive()
    with write(engine) as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 1
    engine.dispose()


def test_a_driver_savepoint_undoes_only_its_own_block_on_error(database_url):
    # insert_new's savepoint goes straight to the driver (SQLAlchemy's begin_nested cost ~160
    # µs per savepoint). A statement failing inside must undo the block, leave the outer
    # transaction usable (PostgreSQL aborts a transaction on error until ROLLBACK TO) and
    # reach the caller as the driver's own error.
    engine = make_engine(database_url)
    with write(engine) as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER PRIMARY KEY)")
    with write(engine) as conn:
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        with pytest.raises(Exception) as raised:
            with Savepoint(conn):
                conn.exec_driver_sql("INSERT INTO t VALUES (2)")
                conn.exec_driver_sql("INSERT INTO t VALUES (1)")  # duplicate key
        assert "unique" in str(raised.value).lower() or "duplicate" in str(raised.value).lower()
        with Savepoint(conn):
            conn.exec_driver_sql("INSERT INTO t VALUES (3)")
    with write(engine) as conn:
        assert [r[0] for r in conn.exec_driver_sql("SELECT x FROM t ORDER BY x")] == [1, 3]
    engine.dispose()


def test_none_and_bool_bind_as_before_with_the_registered_adapters(tmp_path):
    # aggregator.db registers sqlite3 adapters for None and bool, which skip the driver's slow
    # adapter lookup; they must store exactly what sqlite3 stored without them: NULL, 1, 0.
    engine = make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    with write(engine) as conn:
        conn.exec_driver_sql("CREATE TABLE t (a, b, c)")
        conn.exec_driver_sql("INSERT INTO t VALUES (?, ?, ?)", [(None, True, False)] * 2)
        rows = conn.exec_driver_sql("SELECT a, b, c, typeof(a), typeof(b) FROM t").all()
    assert [tuple(r) for r in rows] == [(None, 1, 0, "null", "integer")] * 2
    for kind in (type(None), bool):  # and the fast path is in place
        assert (kind, sqlite3.PrepareProtocol) in sqlite3.adapters
    engine.dispose()


def test_batch_checks_pause_while_another_thread_of_the_process_writes(tmp_path):
    # A thread checking a batch in the same process as the writer would make the writer wait
    # for the GIL after every row it steps (a 400-row insert: 1.8 ms alone, 224 ms beside a
    # busy thread). The checks pause between chunks while a sibling holds the write lock;
    # the writer's own calls (and everybody's when nobody writes) pass at once.
    engine = make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    passed = threading.Event()

    def checker():
        WRITER_FIRST.pause()
        passed.set()
    with write(engine):
        WRITER_FIRST.pause()  # the writer itself
        t = threading.Thread(target=checker)
        t.start()
        assert not passed.wait(0.3), "a check ran while another thread held the write lock"
    t.join(30)
    assert passed.is_set()
    WRITER_FIRST.pause()  # nobody writes
    engine.dispose()


def test_a_full_disk_is_told_apart_from_other_database_errors():
    # The server answers 503 storage_full for these (tests/reliability/disk_full.py fills a
    # real disk under SQLite); PostgreSQL's disk_full is recognised by its SQLSTATE, 53100.
    import psycopg.errors
    from sqlalchemy.exc import OperationalError

    from aggregator.db import is_disk_full

    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (x)")
    conn.execute("PRAGMA max_page_count = 2")
    with pytest.raises(sqlite3.OperationalError) as full:
        conn.execute("INSERT INTO t VALUES (zeroblob(100000))")
    assert is_disk_full(OperationalError("INSERT", {}, full.value))
    pg_full = psycopg.errors.DiskFull("could not extend file \"base/16384/16385\"")
    assert is_disk_full(OperationalError("INSERT", {}, pg_full))
    with pytest.raises(sqlite3.OperationalError) as other:
        conn.execute("SELECT * FROM missing")
    assert not is_disk_full(OperationalError("SELECT", {}, other.value))
    assert not is_disk_full(OperationalError("SELECT", {}, psycopg.errors.UndefinedTable("t")))
    # On a full disk SQLite can also fail to grow its -shm file: "disk I/O error", with the
    # extended code SQLITE_IOERR_SHMSIZE (seen by `aggregator enroll-code` on a full tmpfs).
    shm = sqlite3.OperationalError("disk I/O error")
    shm.sqlite_errorcode = sqlite3.SQLITE_IOERR_SHMSIZE
    assert is_disk_full(OperationalError("INSERT", {}, shm))


def test_an_upgrade_says_each_migration_as_it_starts_and_ends(database_url):
    # A migration on a large table takes minutes while the server does not listen yet, and
    # nothing said why: an operator saw a service that would not come up.
    import logging

    from aggregator.migrations import available, migrate
    from tests.aggregator.old_schema import database_at_version

    said: list[str] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: said.append(record.getMessage())
    logger = logging.getLogger("aggregator.migrations")   # its own handler: `aggregator`
    logger.addHandler(handler)                             # may not propagate (logs.setup)
    level = logger.level
    logger.setLevel(logging.INFO)
    last = available()[-1][0]
    engine = database_at_version(database_url, last - 2)
    try:
        assert migrate(engine) == [last - 1, last]
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        engine.dispose()
    assert said[0].startswith(f"migration {last - 1} (") and said[0].endswith("starting")
    assert said[1].startswith(f"migration {last - 1} done in ")
    assert said[2].startswith(f"migration {last} (") and said[3].startswith(f"migration {last} done")
    assert said[4].startswith("2 migrations applied in ") and said[4].endswith(f"version {last}")
