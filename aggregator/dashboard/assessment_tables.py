"""The assessment's tables, for queries, built from migration 30's definitions."""

from __future__ import annotations

from sqlalchemy import MetaData

from ..migrations import m0030_assessment

metadata = MetaData()
m0030_assessment.define(metadata)

t = metadata.tables
staff_users = t["staff_users"]
peer_reviews = t["peer_reviews"]
peer_review_scores = t["peer_review_scores"]
leader_comments = t["leader_comments"]
pledges = t["pledges"]
pledge_items = t["pledge_items"]
assessment_published = t["assessment_published"]
assessment_results = t["assessment_results"]
