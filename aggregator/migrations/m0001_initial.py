"""Migration 1: the initial schema. Shipped; never edit. Change the schema in a new migration."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from ..db import UTCDateTime

NAME = "initial schema"

ID = 64  # length of ids: uuids, device ids, org codes


def define(md: MetaData) -> None:
    """Add the version-1 tables to ``md``."""
    Table("meta_kv", md, Column("key", String(64), primary_key=True),
          Column("value", Text, nullable=False))
    Table("regions", md,
          Column("id", String(ID), primary_key=True),
          Column("name", String(200), nullable=False),
          Column("level", String(16), nullable=False),
          Column("parent_id", String(ID), ForeignKey("regions.id"), nullable=True))
    Table("units", md,
          Column("id", String(ID), primary_key=True),
          Column("name", String(200), nullable=False),
          Column("region_id", String(ID), ForeignKey("regions.id"), nullable=True),
          Column("hotline", String(32), nullable=True),
          Column("scale", Integer, nullable=False, default=5),
          Column("trigger_mode", String(16), nullable=False, default="open"),
          Column("lockout_seconds", Integer, nullable=False, default=10),
          Column("invite_timeout_seconds", Integer, nullable=False, default=20))
    Table("windows", md,
          Column("id", String(ID), primary_key=True),
          Column("name", String(200), nullable=False),
          Column("unit_id", String(ID), ForeignKey("units.id"), nullable=False),
          Column("active", Boolean, nullable=False, default=True))
    Table("photos", md,
          Column("sha256", String(64), primary_key=True),
          Column("content_type", String(32), nullable=False),
          Column("data", LargeBinary, nullable=False),
          Column("created_at", UTCDateTime, nullable=False))
    Table("staff", md,
          Column("id", String(ID), primary_key=True),
          Column("name", String(100), nullable=False),
          Column("staff_no", String(32), nullable=True),
          Column("post", String(100), nullable=True),
          Column("party_member", Boolean, nullable=False, default=False),
          Column("stars", Integer, nullable=False, default=0),
          Column("pledge", Text, nullable=True),
          Column("badge", String(64), nullable=True),
          Column("pin_hash", String(200), nullable=True),
          Column("photo_sha256", String(64), nullable=True),
          Column("unit_id", String(ID), ForeignKey("units.id"), nullable=True),
          Column("window_id", String(ID), ForeignKey("windows.id"), nullable=True),
          Column("active", Boolean, nullable=False, default=True))
    Table("service_items", md,
          Column("code", String(ID), primary_key=True),
          Column("name", String(200), nullable=False),
          Column("time_limit", String(64), nullable=True),
          Column("unit_id", String(ID), ForeignKey("units.id"), nullable=True))
    Table("devices", md,
          Column("id", String(ID), primary_key=True),
          Column("window_id", String(ID), nullable=False),
          Column("unit_id", String(ID), nullable=True),
          Column("public_key", String(64), nullable=False),
          Column("app_version", String(32), nullable=True),
          Column("enrolled_at", UTCDateTime, nullable=False),
          Column("revoked_at", UTCDateTime, nullable=True),
          Column("last_seen_at", UTCDateTime, nullable=True),
          Column("last_upload_at", UTCDateTime, nullable=True),
          Column("last_skew_s", Float, nullable=True),
          Column("last_heartbeat", Text, nullable=True),
          Column("staff_id", String(ID), nullable=True),
          Column("staff_name", String(100), nullable=True))
    Table("enroll_codes", md,
          Column("code_hash", String(64), primary_key=True),
          Column("window_id", String(ID), nullable=False),
          Column("created_at", UTCDateTime, nullable=False),
          Column("expires_at", UTCDateTime, nullable=False),
          Column("used_at", UTCDateTime, nullable=True),
          Column("device_id", String(ID), nullable=True))
    Table("nonces", md,
          Column("device_id", String(ID), primary_key=True),
          Column("nonce", String(64), primary_key=True),
          Column("seen_at", UTCDateTime, nullable=False, index=True))
    Table("streams", md,
          Column("device_id", String(ID), primary_key=True),
          Column("stream_id", String(ID), primary_key=True),
          Column("high_water", BigInteger, nullable=False, default=0),
          Column("max_seq", BigInteger, nullable=False, default=0),
          Column("gap_since", UTCDateTime, nullable=True),
          Column("first_seen_at", UTCDateTime, nullable=False),
          Column("last_event_at", UTCDateTime, nullable=False))
    Table("events", md,
          Column("id", String(ID), primary_key=True),
          Column("device_id", String(ID), nullable=False),
          Column("stream_id", String(ID), nullable=False),
          Column("seq", BigInteger, nullable=False),
          Column("type", String(32), nullable=False),
          Column("device_time", String(64), nullable=False),
          Column("boot_id", String(128), nullable=False),
          Column("mono_ns", BigInteger, nullable=False),
          Column("payload", Text, nullable=False),
          Column("prev_hash", String(64), nullable=False),
          Column("hash", String(64), nullable=False),
          Column("batch_id", String(ID), nullable=False),
          Column("server_time", UTCDateTime, nullable=False),
          UniqueConstraint("device_id", "stream_id", "seq", name="uq_events_stream_seq"))
    Table("quarantine", md,
          Column("id", Integer, primary_key=True, autoincrement=True),
          Column("event_id", String(200), nullable=True, index=True),
          Column("device_id", String(ID), nullable=False),
          Column("batch_id", String(ID), nullable=False),
          Column("status", String(16), nullable=False),
          Column("reason", Text, nullable=False),
          Column("event", Text, nullable=False),
          Column("received_at", UTCDateTime, nullable=False))
    ratings = Table(
        "ratings", md,
        Column("id", String(ID), primary_key=True),
        Column("device_id", String(ID), nullable=True),
        Column("window_id", String(ID), nullable=False),
        Column("unit_id", String(ID), nullable=True),
        Column("staff_id", String(ID), nullable=True),
        Column("staff_name", String(100), nullable=True),
        Column("service_item", String(ID), nullable=True),
        Column("case_no", String(100), nullable=True),
        Column("invitation_id", String(ID), nullable=True),
        Column("channel", Integer, nullable=False),
        Column("level", String(32), nullable=False),
        Column("stars", Integer, nullable=False),
        Column("scale", Integer, nullable=False),
        Column("reasons", Text, nullable=True),
        Column("reasons_version", Integer, nullable=True),
        Column("comment", Text, nullable=True),
        Column("phone", String(32), nullable=True),
        Column("callback_consent", Boolean, nullable=False, default=False),
        Column("device_time", UTCDateTime, nullable=True),
        Column("server_time", UTCDateTime, nullable=False),
        Column("day", String(10), nullable=False),
        Column("flags", Text, nullable=False),
        Column("flagged", Boolean, nullable=False))
    Index("ix_ratings_window_day", ratings.c.window_id, ratings.c.day)
    rollup = Table(
        "rollup_daily", md,
        Column("day", String(10), primary_key=True),
        Column("window_id", String(ID), primary_key=True),
        Column("unit_id", String(ID), primary_key=True),
        Column("staff_id", String(ID), primary_key=True),
        Column("service_item", String(ID), primary_key=True),
        Column("level", String(32), primary_key=True),
        Column("flagged", Integer, primary_key=True),
        Column("count", BigInteger, nullable=False),
        Column("stars_sum", BigInteger, nullable=False),
        Column("invited", BigInteger, nullable=False))
    Index("ix_rollup_day", rollup.c.day)
    Table("pending_attachments", md,
          Column("id", Integer, primary_key=True, autoincrement=True),
          Column("rating_id", String(ID), nullable=False, index=True),
          Column("kind", String(16), nullable=False),
          Column("data", Text, nullable=False),
          Column("created_at", UTCDateTime, nullable=False))
    Table("alerts", md,
          Column("id", Integer, primary_key=True, autoincrement=True),
          Column("kind", String(32), nullable=False, index=True),
          Column("severity", String(16), nullable=False),
          Column("dedupe_key", String(300), nullable=False, unique=True),
          Column("device_id", String(ID), nullable=True),
          Column("window_id", String(ID), nullable=True),
          Column("detail", Text, nullable=False),
          Column("created_at", UTCDateTime, nullable=False),
          Column("resolved_at", UTCDateTime, nullable=True))
    Table("qr_limits", md,
          Column("client_key", String(200), primary_key=True),
          Column("last_at", UTCDateTime, nullable=False))


def upgrade(conn) -> None:
    md = MetaData()
    define(md)
    md.create_all(conn)
