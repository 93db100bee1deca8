"""Migration 42: ``rollup_window_monthly``, the monthly rollups summed per window.

Same measures as ``rollup_monthly``, keyed by month × window × unit × level × flagged (no staff
or service item). A month's ranking by window, unit or region reads it: one row per window ×
level × flagged (≈ 8 per window-month), where ``rollup_monthly`` holds one per staff × item ×
level × flagged as well (≈ 108 per window-month measured in docs/scaling.md: 3 staff on shifts,
8 service items), and the ranking's cost grew with every staff member and service item.
``rollups.add`` keeps it equal to the daily rows summed per month and window, in the same
transaction (``rollups.check_monthly`` verifies it). Backfilled here from the existing daily
rows: one GROUP BY over all of ``rollup_daily``.

Shipped once released; never edit.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table

NAME = "monthly rollups per window"

ID = 64


def define(md: MetaData) -> None:
    """Add the version-42 tables to ``md``."""
    Table(
        "rollup_window_monthly", md,
        Column("month", String(7), primary_key=True),
        Column("window_id", String(ID), primary_key=True),
        Column("unit_id", String(ID), primary_key=True),
        Column("level", String(32), primary_key=True),
        Column("flagged", Integer, primary_key=True),
        Column("count", BigInteger, nullable=False),
        Column("stars_sum", BigInteger, nullable=False),
        Column("invited", BigInteger, nullable=False))


def upgrade(conn) -> None:
    md = MetaData()
    define(md)
    md.create_all(conn)
    conn.exec_driver_sql(
        'INSERT INTO rollup_window_monthly (month, window_id, unit_id, level, flagged, "count", '
        'stars_sum, invited) SELECT substr(day, 1, 7), window_id, unit_id, level, flagged, '
        'SUM("count"), SUM(stars_sum), SUM(invited) FROM rollup_daily '
        'GROUP BY substr(day, 1, 7), window_id, unit_id, level, flagged')
