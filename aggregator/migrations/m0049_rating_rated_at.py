"""Migration 49: the time each rating was made, corrected for its kiosk's clock.

Ingest dates a rating by its device time corrected for the skew of the boot it was recorded
in (``boot_clocks``), or by its boot's monotonic clock when the wall clock was stepped, never
later than server time; only the local date of that time was kept (``ratings.day``). Every
time of day shown (the dashboard's weekday × hour grid, the per-rating export's time, a case's
rating) still read the raw device clock: a kiosk whose clock is 8 h off (its RTC set to local
time and read as UTC) put every rating 8 hours off.

- ``ratings.rated_at``: that corrected time, whose local date is ``day``; the kiosk's own
  reading stays in ``device_time`` (evidence), the arrival in ``server_time``. A QR rating's
  is its server time. Null in the ratings stored before this migration: readers use
  ``min(device_time, server_time)`` for them, as before (``ratings.rated_time``).

Shipped once released; never edit.
"""

from __future__ import annotations

from sqlalchemy import Column, MetaData

from ..db import UTCDateTime

NAME = "corrected time of each rating"


def _column() -> Column:
    return Column("rated_at", UTCDateTime, nullable=True)


def define(md: MetaData) -> None:
    """Add the column to ``md``'s ratings table."""
    if "ratings" in md.tables and "rated_at" not in md.tables["ratings"].c:
        md.tables["ratings"].append_column(_column())


def upgrade(conn) -> None:
    column = _column()
    kind = column.type.compile(dialect=conn.dialect)
    conn.exec_driver_sql(f"ALTER TABLE ratings ADD COLUMN {column.name} {kind}")
