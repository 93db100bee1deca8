"""The dashboard's tables, for queries, built from migration 10's definitions."""

from __future__ import annotations

from sqlalchemy import MetaData

from ..migrations import (
    m0010_dashboard,
    m0045_item_retired_last_login,
    m0051_users_must_change_password,
    m0052_case_callback_due,
)

metadata = MetaData()
m0010_dashboard.define(metadata)
m0045_item_retired_last_login.define(metadata)  # users.last_login_at
m0051_users_must_change_password.define(metadata)  # users.must_change_password
m0052_case_callback_due.define(metadata)  # cases.callback_due

t = metadata.tables
users = t["users"]
user_sessions = t["user_sessions"]
login_failures = t["login_failures"]
cases = t["cases"]
case_callbacks = t["case_callbacks"]
audit_log = t["audit_log"]
dashboard_kv = t["dashboard_kv"]
