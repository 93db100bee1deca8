"""Migration 46: an alert keeps the values of its detail as well as its English sentence.

- ``alerts.detail_args``: JSON of the message name and the values the sentence was made of
  (``{"msg": "clock_behind", "device": "kiosk-W-004", "seconds": 845}``), so the dashboard
  tells the detail in the page's language (``dashboard/i18n_alerts.py``); ``detail`` stays
  the English text of logs, the API and the command line. Null in the alerts raised before
  this migration: the dashboard shows their stored ``detail``.

Shipped once released; never edit.
"""

from __future__ import annotations

from sqlalchemy import Column, MetaData, Text

NAME = "alerts keep their detail's values"


def _column() -> Column:
    return Column("detail_args", Text, nullable=True)


def define(md: MetaData) -> None:
    """Add the column to ``md``'s alerts table."""
    if "alerts" in md.tables and "detail_args" not in md.tables["alerts"].c:
        md.tables["alerts"].append_column(_column())


def upgrade(conn) -> None:
    column = _column()
    kind = column.type.compile(dialect=conn.dialect)
    conn.exec_driver_sql(f"ALTER TABLE alerts ADD COLUMN {column.name} {kind}")
