"""Migration 47: the clock skew of each boot of each device.

A kiosk has no battery clock: each boot may start with another wrong clock (a power cut resets
it to a build date, say). The skew measured at an upload was applied to every event of the
batch, so ratings recorded in an earlier boot, with another clock, still in the backlog when
the kiosk rebooted, were dated by the new boot's clock: on the wrong day or month.

- ``device_boots``: per (device, boot id) the skew (device clock − server clock, seconds)
  measured at the newest upload or heartbeat the device sent during that boot (``X-Boot-Id``,
  the heartbeat's ``boot_id``), and when it was first and last measured. Ingest dates each
  event by its own boot's skew (``boot_clocks``). Empty for kiosks that do not say their boot.

Shipped once released; never edit.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, MetaData, String, Table

from ..db import UTCDateTime

NAME = "clock skew per device boot"

ID = 64


def define(md: MetaData) -> None:
    """Add the version-47 table to ``md``."""
    Table(
        "device_boots", md,
        Column("device_id", String(ID), primary_key=True),
        Column("boot_id", String(128), primary_key=True),
        Column("skew_s", Float, nullable=False),
        Column("first_at", UTCDateTime, nullable=False),
        Column("last_at", UTCDateTime, nullable=False))


def upgrade(conn) -> None:
    md = MetaData()
    define(md)
    md.create_all(conn)
