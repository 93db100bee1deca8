"""Migration 2: ``rollup_monthly``, the per-month twin of ``rollup_daily``.

Same keys with ``month`` (``YYYY-MM`` of the local day) instead of ``day``, same measures.
``rollups.add`` keeps it equal to the daily rows summed per month, in the same transaction;
``stats.compute`` reads it for every whole month of a range, so a month's ranking reads one row
per window × staff × item × level × flagged whatever the number of days and ratings.
Backfilled here from the existing daily rows.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table

NAME = "monthly rollups"

ID = 64


def define(md: MetaData) -> None:
    """Add the version-2 tables to ``md``."""
    Table(
        "rollup_monthly", md,
        Column("month", String(7), primary_key=True),
        Column("window_id", String(ID), primary_key=True),
        Column("unit_id", String(ID), primary_key=True),
        Column("staff_id", String(ID), primary_key=True),
        Column("service_item", String(ID), primary_key=True),
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
        'INSERT INTO rollup_monthly (month, window_id, unit_id, staff_id, service_item, level, '
        'flagged, "count", stars_sum, invited) '
        'SELECT substr(day, 1, 7), window_id, unit_id, staff_id, service_item, level, flagged, '
        'SUM("count"), SUM(stars_sum), SUM(invited) FROM rollup_daily '
        'GROUP BY substr(day, 1, 7), window_id, unit_id, staff_id, service_item, level, flagged')
