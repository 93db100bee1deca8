"""Migration 10: the supervisor dashboard (users, sessions, login lockout, bad-rating cases,
callbacks, audit log, dashboard settings) and an index for the bad-rating queue.

Shipped; never edit. ``aggregator.dashboard.tables`` builds its query tables from ``define``.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from ..db import UTCDateTime

NAME = "dashboard"

ID = 64


def define(md: MetaData) -> None:
    """Add the version-10 tables to ``md``."""
    Table("users", md,
          Column("id", Integer, primary_key=True, autoincrement=True),
          Column("username", String(64), nullable=False, unique=True),
          Column("display_name", String(100), nullable=True),
          Column("password_hash", String(200), nullable=False),
          Column("role", String(16), nullable=False),
          Column("region_id", String(ID), nullable=True),
          Column("unit_id", String(ID), nullable=True),
          Column("language", String(8), nullable=False, default="zh_CN"),
          Column("active", Boolean, nullable=False, default=True),
          Column("created_at", UTCDateTime, nullable=False))
    Table("user_sessions", md,
          Column("token_hash", String(64), primary_key=True),
          Column("user_id", Integer, ForeignKey("users.id"), nullable=False, index=True),
          Column("csrf_token", String(64), nullable=False),
          Column("created_at", UTCDateTime, nullable=False),
          Column("last_seen_at", UTCDateTime, nullable=False),
          Column("expires_at", UTCDateTime, nullable=False, index=True),
          Column("ip", String(64), nullable=True))
    Table("login_failures", md,
          Column("key", String(200), primary_key=True),
          Column("count", Integer, nullable=False),
          Column("first_at", UTCDateTime, nullable=False),
          Column("locked_until", UTCDateTime, nullable=True))
    cases = Table(
        "cases", md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("rating_id", String(ID), nullable=False, unique=True),
        Column("unit_id", String(ID), nullable=True),
        Column("window_id", String(ID), nullable=False),
        Column("staff_id", String(ID), nullable=True),
        Column("opened_day", String(10), nullable=False),
        Column("state", String(16), nullable=False),
        Column("appeal_from", String(16), nullable=True),
        Column("appeal_reason", Text, nullable=True),
        Column("resolution", String(16), nullable=True),
        Column("assignee_id", Integer, ForeignKey("users.id"), nullable=True),
        Column("first_contact_due", String(10), nullable=False),
        Column("answer_due", String(10), nullable=False),
        Column("first_contact_at", UTCDateTime, nullable=True),
        Column("answered_at", UTCDateTime, nullable=True),
        Column("closed_at", UTCDateTime, nullable=True),
        Column("note", Text, nullable=True),
        Column("created_at", UTCDateTime, nullable=False),
        Column("updated_at", UTCDateTime, nullable=False))
    Index("ix_cases_unit_state", cases.c.unit_id, cases.c.state)
    Index("ix_cases_state_due", cases.c.state, cases.c.answer_due)
    Table("case_callbacks", md,
          Column("id", Integer, primary_key=True, autoincrement=True),
          Column("case_id", Integer, ForeignKey("cases.id"), nullable=False, index=True),
          Column("day", String(10), nullable=False),
          Column("result", String(32), nullable=False),
          Column("note", Text, nullable=True),
          Column("user_id", Integer, nullable=True),
          Column("created_at", UTCDateTime, nullable=False))
    Table("audit_log", md,
          Column("id", Integer, primary_key=True, autoincrement=True),
          Column("at", UTCDateTime, nullable=False),
          Column("user_id", Integer, nullable=True),
          Column("username", String(64), nullable=True),
          Column("action", String(32), nullable=False),
          Column("case_id", Integer, nullable=True, index=True),
          Column("target", String(200), nullable=True),
          Column("detail", Text, nullable=True),
          Column("ip", String(64), nullable=True))
    Table("dashboard_kv", md,
          Column("key", String(64), primary_key=True),
          Column("value", Text, nullable=False))


def upgrade(conn) -> None:
    md = MetaData()
    define(md)
    md.create_all(conn)
    # The bad-rating queue and drill-downs read ratings by unit and day, and the case
    # catch-up looks only at bad ratings by arrival time.
    conn.exec_driver_sql("CREATE INDEX IF NOT EXISTS ix_ratings_unit_day ON ratings (unit_id, day)")
    conn.exec_driver_sql("CREATE INDEX IF NOT EXISTS ix_ratings_bad_time ON ratings "
                         "(server_time) WHERE stars <= 2")
