"""Migration 50: a case sent back to rectification (``reopen``) is no longer answered.

``reopen`` (answered → rectifying) kept the case's ``answered_at``, and every overdue check
asks whether a case is unanswered past its ``answer_due``: a reopened case was never overdue
again, and the queue sorted it with the cases that only wait to be closed. ``reopen`` now
clears it; this clears it in the cases that are open and not answered (new, verified,
rectifying, appealed): each got there only through a reopen. The first answer stays in the
case's history (the audit log).

Shipped once released; never edit.
"""

from __future__ import annotations

NAME = "reopened cases unanswered"


def upgrade(conn) -> None:
    conn.exec_driver_sql(
        "UPDATE cases SET answered_at = NULL WHERE answered_at IS NOT NULL "
        "AND state IN ('new', 'verified', 'rectifying', 'appealed')")
