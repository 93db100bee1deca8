"""Migration 20: kiosk fleet operations.

- ``device_requests``: a remote "sync now" per device, asked on the dashboard's device page
  and handed to the kiosk in its next heartbeat answer (``"sync_now": true``), then marked
  delivered. One row per device; asking again while undelivered changes nothing.
- ``ix_events_config_applied``: a partial index so the device page finds each kiosk's last
  ``config_applied`` event (its config version) without reading its other events. On a large
  PostgreSQL database create it beforehand with ``CREATE INDEX CONCURRENTLY IF NOT EXISTS``
  (docs/operations.md); this migration then finds it and does nothing.

Shipped once released; never edit.
"""

from __future__ import annotations

from sqlalchemy import Column, MetaData, String, Table

from ..db import UTCDateTime

NAME = "fleet: sync-now requests, config version index"

ID = 64


def define(md: MetaData) -> None:
    """Add the version-20 tables to ``md``."""
    Table("device_requests", md,
          Column("device_id", String(ID), primary_key=True),
          Column("sync_now_at", UTCDateTime, nullable=True),
          Column("requested_by", String(64), nullable=True),
          Column("delivered_at", UTCDateTime, nullable=True))


def upgrade(conn) -> None:
    md = MetaData()
    define(md)
    md.create_all(conn)
    conn.exec_driver_sql("CREATE INDEX IF NOT EXISTS ix_events_config_applied ON events "
                         "(device_id, stream_id, seq) WHERE type = 'config_applied'")
