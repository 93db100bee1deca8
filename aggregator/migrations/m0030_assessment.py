"""Migration 30: the periodic quantified assessment (量化考核) — staff accounts, peer reviews
(互评), leader comments (领导点评), pledges and their items (践诺), published results with star
levels and the rotating award (流动红旗).

Shipped; never edit. ``aggregator.dashboard.assessment_tables`` builds its query tables from
``define``. See docs/assessment.md.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from ..db import UTCDateTime

NAME = "assessment"

ID = 64


def define(md: MetaData) -> None:
    """Add the version-30 tables to ``md``."""
    # A dashboard user of role "staff" is one staff member (who may peer-review colleagues).
    Table("staff_users", md,
          Column("user_id", Integer, primary_key=True, autoincrement=False),
          Column("staff_id", String(ID), nullable=False, unique=True))
    # One review per reviewer per colleague per period (the unique key); reviewer_id is kept
    # only to enforce that and is never shown to anybody.
    reviews = Table(
        "peer_reviews", md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("period", String(8), nullable=False),
        Column("unit_id", String(ID), nullable=False),
        Column("reviewer_id", String(ID), nullable=False),
        Column("reviewee_id", String(ID), nullable=False),
        Column("self_review", Boolean, nullable=False, default=False),
        Column("created_at", UTCDateTime, nullable=False),
        UniqueConstraint("period", "reviewer_id", "reviewee_id", name="uq_peer_review_once"))
    Index("ix_peer_reviews_period_unit", reviews.c.period, reviews.c.unit_id)
    Table("peer_review_scores", md,
          Column("review_id", Integer, ForeignKey("peer_reviews.id"), primary_key=True,
                 autoincrement=False),
          Column("criterion", String(32), primary_key=True),
          Column("score", Integer, nullable=False))
    comments = Table(
        "leader_comments", md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("period", String(8), nullable=False),
        Column("unit_id", String(ID), nullable=False),
        Column("target_kind", String(8), nullable=False),    # staff | window
        Column("target_id", String(ID), nullable=False),
        Column("author_id", Integer, nullable=False),
        Column("author_name", String(100), nullable=False),
        Column("score", Float, nullable=False),               # 0-100
        Column("comment", Text, nullable=False),
        Column("created_at", UTCDateTime, nullable=False),
        Column("updated_at", UTCDateTime, nullable=False),
        UniqueConstraint("period", "target_kind", "target_id", "author_id",
                         name="uq_leader_comment_once"))
    Index("ix_leader_comments_period_unit", comments.c.period, comments.c.unit_id)
    Table("pledges", md,
          Column("id", Integer, primary_key=True, autoincrement=True),
          Column("unit_id", String(ID), nullable=False, index=True),
          Column("owner_kind", String(8), nullable=False),      # staff | window
          Column("owner_id", String(ID), nullable=False),
          Column("title", Text, nullable=False),
          Column("active", Boolean, nullable=False, default=True),
          Column("created_at", UTCDateTime, nullable=False))
    Table("pledge_items", md,
          Column("id", Integer, primary_key=True, autoincrement=True),
          Column("pledge_id", Integer, ForeignKey("pledges.id"), nullable=False, index=True),
          Column("text", Text, nullable=False),
          Column("status", String(16), nullable=False),         # kept | in_progress | broken
          Column("evidence", Text, nullable=True),
          Column("updated_at", UTCDateTime, nullable=False),
          Column("updated_by", String(64), nullable=True))
    # A unit's period is published once its results are frozen here; kiosks show the newest.
    Table("assessment_published", md,
          Column("period", String(8), primary_key=True),
          Column("unit_id", String(ID), primary_key=True),
          Column("published_at", UTCDateTime, nullable=False),
          Column("published_by", String(64), nullable=True))
    results = Table(
        "assessment_results", md,
        Column("period", String(8), primary_key=True),
        Column("kind", String(8), primary_key=True),            # staff | window
        Column("target_id", String(ID), primary_key=True),
        Column("unit_id", String(ID), nullable=False),
        Column("region_id", String(ID), nullable=True),
        Column("name", String(200), nullable=False),
        Column("citizens", Float, nullable=True),
        Column("rated", Integer, nullable=False, default=0),
        Column("peers", Float, nullable=True),
        Column("reviewers", Integer, nullable=False, default=0),
        Column("leaders", Float, nullable=True),
        Column("composite", Float, nullable=True),
        Column("weights", Text, nullable=False),                # JSON of the weights used
        Column("stars", Integer, nullable=True),
        Column("award", Boolean, nullable=False, default=False))
    Index("ix_assessment_results_unit", results.c.unit_id, results.c.period)


def upgrade(conn) -> None:
    md = MetaData()
    define(md)
    md.create_all(conn)
