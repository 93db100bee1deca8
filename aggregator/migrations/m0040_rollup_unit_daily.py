"""Migration 40: ``rollup_unit_daily``, the daily rollups summed per unit.

Same measures as ``rollup_daily``, keyed by day × unit × level × flagged only (no window, staff
or service item). The dashboard's daily trend reads it: a month of a scope is then one row per
unit × day × level × flagged (≈ 15,000 rows for 100 units), where ``rollup_daily`` holds one per
window × staff × item × level × flagged (≈ 270,000 for 1,000 windows with 2 staff and 1 item,
≈ 900,000 at the 29 rows per window-day measured in docs/scaling.md) and the trend's cost grew
with every staff member and service item. ``rollups.add`` keeps it equal to the daily rows
summed per unit, in the same transaction (``rollups.check_monthly`` verifies it).
Backfilled here from the existing daily rows: one pass over ``rollup_daily``.

Shipped once released; never edit.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table

NAME = "daily rollups per unit"

ID = 64


def define(md: MetaData) -> None:
    """Add the version-40 tables to ``md``."""
    Table(
        "rollup_unit_daily", md,
        Column("day", String(10), primary_key=True),
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
        'INSERT INTO rollup_unit_daily (day, unit_id, level, flagged, "count", stars_sum, '
        'invited) SELECT day, unit_id, level, flagged, SUM("count"), SUM(stars_sum), '
        'SUM(invited) FROM rollup_daily GROUP BY day, unit_id, level, flagged')
