"""Two admins deactivating each other at the same moment leave one of them active."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from aggregator.dashboard import accounts, user_admin
from aggregator.dashboard.tables import users
from aggregator.db import make_engine, read, utcnow, write
from aggregator.migrations import migrate


def test_two_admins_deactivating_each_other_at_once_leave_one_active(database_url):
    # Why: each counted the other as still active and both went through, so on PostgreSQL no
    # active admin was left and nobody could manage the system from the dashboard. The
    # second must wait for the first and then be refused.
    engine = make_engine(database_url)
    migrate(engine)
    with write(engine) as conn:
        a = accounts.create_user(conn, "race-admin-a", "a-long-password-a", "admin", now=utcnow())
        b = accounts.create_user(conn, "race-admin-b", "a-long-password-b", "admin", now=utcnow())
    outcome = {}

    def b_deactivates_a():
        try:
            with write(engine) as conn:
                user_admin.set_active(conn, b, "race-admin-a", False, set(), utcnow())
            outcome["b"] = "done"
        except user_admin.Refused as exc:
            outcome["b"] = exc.key

    with write(engine) as conn:   # a's change, not yet committed while b tries
        user_admin.set_active(conn, a, "race-admin-b", False, set(), utcnow())
        other = threading.Thread(target=b_deactivates_a)
        other.start()
        other.join(timeout=2)   # b waits for a's commit (or, unserialised, went through)
    other.join(timeout=30)
    with read(engine) as conn:
        active = conn.execute(select(func.count()).select_from(users).where(
            users.c.role == "admin", users.c.active.is_(True))).scalar()
    engine.dispose()
    assert outcome == {"b": "cannot_deactivate_last_admin"} and active == 1
