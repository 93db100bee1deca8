"""The database layer's own guarantees (aggregator/db.py)."""

from __future__ import annotations

import fcntl
import os
import threading

from aggregator.db import make_engine, write


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
