"""The current tables, for queries. Built from the migrations' definitions.

When a migration changes a table, change it here too (the tests migrate a fresh database
and compare it with this metadata).
"""

from __future__ import annotations

from sqlalchemy import MetaData

from .migrations import (
    m0001_initial,
    m0002_rollup_monthly,
    m0040_rollup_unit_daily,
    m0042_rollup_window_monthly,
    m0043_rollups_clustered,
    m0045_item_retired_last_login,
    m0046_alert_detail_args,
    m0047_device_boots,
    m0048_device_boot_mono,
    m0049_rating_rated_at,
    m0053_qr_limits_day_count,
)

metadata = MetaData()
m0001_initial.define(metadata)
m0002_rollup_monthly.define(metadata)
m0040_rollup_unit_daily.define(metadata)
m0042_rollup_window_monthly.define(metadata)
m0043_rollups_clustered.define(metadata)
m0045_item_retired_last_login.define(metadata)
m0046_alert_detail_args.define(metadata)
m0047_device_boots.define(metadata)
m0048_device_boot_mono.define(metadata)
m0049_rating_rated_at.define(metadata)
m0053_qr_limits_day_count.define(metadata)

t = metadata.tables
meta_kv = t["meta_kv"]
regions = t["regions"]
units = t["units"]
windows = t["windows"]
photos = t["photos"]
staff = t["staff"]
service_items = t["service_items"]
devices = t["devices"]
enroll_codes = t["enroll_codes"]
nonces = t["nonces"]
streams = t["streams"]
events = t["events"]
quarantine = t["quarantine"]
ratings = t["ratings"]
rollup_daily = t["rollup_daily"]
rollup_monthly = t["rollup_monthly"]
rollup_unit_daily = t["rollup_unit_daily"]
rollup_window_monthly = t["rollup_window_monthly"]
pending_attachments = t["pending_attachments"]
alerts = t["alerts"]
qr_limits = t["qr_limits"]
device_boots = t["device_boots"]
