"""Migration 45: service items can be retired; users keep the time of their last sign-in.

- ``service_items.retired_at``: a retired item (退出使用) is no longer sent to the kiosks, but
  its row stays, because ratings keep only the item's code and the rankings and drill-downs
  of past months name it from this table. Null: in use.
- ``users.last_login_at``: the account list shows when each user last signed in; filled from
  the audit log's ``login`` rows once here, then at each sign-in.

Shipped once released; never edit.
"""

from __future__ import annotations

from sqlalchemy import Column, MetaData, bindparam, text

from ..db import UTCDateTime

NAME = "service items retired, users' last sign-in"


def _columns() -> dict:
    return {"service_items": Column("retired_at", UTCDateTime, nullable=True),
            "users": Column("last_login_at", UTCDateTime, nullable=True)}


def define(md: MetaData) -> None:
    """Add the columns to whichever of the two tables ``md`` holds."""
    for table, column in _columns().items():
        if table in md.tables and column.name not in md.tables[table].c:
            md.tables[table].append_column(column)


def upgrade(conn) -> None:
    for table, column in _columns().items():
        kind = column.type.compile(dialect=conn.dialect)
        conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column.name} {kind}")
    # One pass over the audit log (it has no index on the user), not one per user.
    last = conn.execute(text("SELECT user_id, max(at) FROM audit_log WHERE action = 'login' "
                             "AND user_id IS NOT NULL GROUP BY user_id")).all()
    stamp = UTCDateTime()
    update = text("UPDATE users SET last_login_at = :at WHERE id = :id").bindparams(
        bindparam("at", type_=stamp))
    for user_id, at in last:
        conn.execute(update, {"id": user_id, "at": stamp.process_result_value(at, conn.dialect)})
