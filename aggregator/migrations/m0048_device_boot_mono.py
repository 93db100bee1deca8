"""Migration 48: a reference pair of each boot's monotonic clock.

A kiosk boots before the hall's router, its clock at a build date, records ratings offline,
then NTP steps its clock right and the backlog uploads: the skew measured then is ~0, and the
boot's earlier events were dated by their wrong wall time. Their ``mono_ns`` (ns since boot)
no wall-clock step moves; a kiosk now sends its monotonic clock with every request
(``X-Mono-Ns``, the heartbeat's ``mono_ns``).

- ``device_boots.mono_ns``, ``device_boots.mono_at``: the device's monotonic clock at its
  newest request that sent one during that boot, and the server time then. Ingest dates every
  event of the boot as ``mono_at − (mono_ns − event.mono_ns)`` (``boot_clocks``). Null for
  boots of kiosks that do not send it: their skew dates them, as before.

Shipped once released; never edit.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, MetaData

from ..db import UTCDateTime

NAME = "monotonic clock reference per device boot"


def _columns() -> list[Column]:
    return [Column("mono_ns", BigInteger, nullable=True),
            Column("mono_at", UTCDateTime, nullable=True)]


def define(md: MetaData) -> None:
    """Add the columns to ``md``'s device_boots table."""
    table = md.tables.get("device_boots")
    if table is not None and "mono_ns" not in table.c:
        for column in _columns():
            table.append_column(column)


def upgrade(conn) -> None:
    for column in _columns():
        kind = column.type.compile(dialect=conn.dialect)
        conn.exec_driver_sql(f"ALTER TABLE device_boots ADD COLUMN {column.name} {kind}")
