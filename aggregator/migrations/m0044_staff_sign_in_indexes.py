"""Migration 44: indexes of the staff by badge and by unit and staff number.

A badge (anywhere) and a staff number (in a unit) name one active person (``org.sign_in_clash``,
2026-12-03): every staff row saved looks up who else holds them. Without these indexes each
look-up read the whole staff table: a 5,000-row roster import took 9.0 s, against 3.2 s before
the rule and 3.4 s with these indexes (and each row checked once), on this project's 2-core
machine (a scratch script, one run each).

Shipped once released; never edit.
"""

from __future__ import annotations

NAME = "staff sign-in indexes"

INDEXES = ("CREATE INDEX IF NOT EXISTS ix_staff_badge ON staff (badge)",
           "CREATE INDEX IF NOT EXISTS ix_staff_unit_no ON staff (unit_id, staff_no)")


def upgrade(conn) -> None:
    for statement in INDEXES:
        conn.exec_driver_sql(statement)
