"""Migration 52: each real-name bad rating's case has a callback deadline (回访时限).

Every bad rating whose citizen left a number with consent is called back (100 % 回访), but
nothing said by when: a case could be verified, answered and closed, or sit answered for
ever, without a call, and never show overdue. ``cases.callback_due`` is the day by which the
callback is due (YYYY-MM-DD, the case's answer deadline, later for a number given after
the case was answered or closed; docs/dashboard.md); null when no callback was asked for.
The case is overdue ("回访超期") after that day while no callback is on record, even closed.

This fills it, with the answer deadline, for the cases of ratings that asked, and adds
``ix_cases_callback_due``, partial on the cases that have one: the overdue counts read the
closed cases still owed a callback from it instead of every closed case.

Shipped once released; never edit.
"""

from __future__ import annotations

from sqlalchemy import Column, MetaData, String

NAME = "case callback deadline"

CALLBACK_DUE = ("CREATE INDEX IF NOT EXISTS ix_cases_callback_due ON cases (unit_id, "
                "callback_due) WHERE callback_due IS NOT NULL")


def _column() -> Column:
    return Column("callback_due", String(10), nullable=True)


def define(md: MetaData) -> None:
    """Add the column to ``md``'s cases table."""
    table = md.tables["cases"]
    if "callback_due" not in table.c:
        table.append_column(_column())


def upgrade(conn) -> None:
    kind = _column().type.compile(dialect=conn.dialect)
    conn.exec_driver_sql(f"ALTER TABLE cases ADD COLUMN callback_due {kind}")
    conn.exec_driver_sql(
        "UPDATE cases SET callback_due = answer_due WHERE EXISTS (SELECT 1 FROM ratings r "
        "WHERE r.id = cases.rating_id AND r.callback_consent AND r.phone IS NOT NULL "
        "AND r.phone <> '')")
    conn.exec_driver_sql(CALLBACK_DUE)
