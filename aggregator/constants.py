"""Names shared across the aggregator: scale levels, event types, flags, alert kinds.

The level keys, channels, reasons, event types and flags are the wire vocabulary of
docs/protocol.md, defined once in ``sync/vocabulary.py``; the rest is the server's own.
"""

from __future__ import annotations

from sync.vocabulary import *  # noqa: F403  (levels, channels, reasons, event types, flags)
from sync.vocabulary import CHANNEL_HALL_TABLET, CHANNEL_QR, FLAG_BURST, FLAG_LOCKOUT  # noqa: F401

SATISFIED_STARS = 3  # stars >= 3 counts as satisfied
# The years a date may have anywhere: an event's device time is corrected by the device's
# clock skew (at most ±200 years, sync.protocol.MAX_CLOCK_OFFSET_SECONDS) and converted to UTC,
# and a period or a date range reaches a year before or after: years near 1 or 9999 overflow
# ``datetime``. A kiosk without a battery clock reads 1969/1970 or its build date.
MIN_YEAR, MAX_YEAR = 1000, 8999
LEVEL_NAMES_ZH = {
    "very_satisfied": "非常满意",
    "satisfied": "满意",
    "basic_satisfied": "基本满意",
    "dissatisfied": "不满意",
    "very_dissatisfied": "非常不满意",
}
LEVEL_NAMES_EN = {
    "very_satisfied": "Very satisfied",
    "satisfied": "Satisfied",
    "basic_satisfied": "Fairly satisfied",
    "dissatisfied": "Dissatisfied",
    "very_dissatisfied": "Very dissatisfied",
}
# Rollup pseudo-level for an invitation that timed out without an answer (invited mode).
NOT_RATED = "not_rated"

CHANNELS = frozenset({CHANNEL_QR, CHANNEL_HALL_TABLET})
# The channels a device's batch may name: a kiosk is the hall tablet. QR ratings (channel 3)
# are made by the server's own phone page (``qr_page``), never uploaded by a kiosk: one that
# said 3 would move its ratings into the QR figures.
DEVICE_CHANNELS = frozenset({CHANNEL_HALL_TABLET})

REASON_NAMES_ZH = {
    "attitude": "服务态度", "efficiency": "办事效率", "unclear_policy": "政策解释不清",
    "come_back_again": "多次跑腿", "waiting_time": "等候时间长", "asked_for_favours": "吃拿卡要",
    "environment": "办事环境", "other": "其他",
}
REASON_NAMES_EN = {
    "attitude": "Attitude", "efficiency": "Efficiency", "unclear_policy": "Policy unclear",
    "come_back_again": "Had to come back", "waiting_time": "Waiting time",
    "asked_for_favours": "Asked for favours", "environment": "Environment", "other": "Other",
}

# Integrity alert kinds (docs/aggregator.md, "Alerts").
AL_CONFLICT = "conflict"
AL_CHAIN_BREAK = "chain_break"
AL_SEQ_GAP = "seq_gap"
AL_NEW_STREAM = "new_stream"
AL_DB_RECOVERED = "db_recovered"
AL_CLOCK = "clock_offset"
AL_NO_STAFF = "no_staff"
AL_BURST = "burst"
AL_ZERO_BAD = "zero_bad"
AL_SILENT = "device_silent"
AL_AFTER_REVOCATION = "after_revocation"
AL_BACKLOG = "backlog_stuck"      # heard from, but its ratings wait to be uploaded
AL_FLAGGED_BAD = "flagged_bad"    # a window's day with bad ratings flagged (left out of rates)
AL_VOLUME = "volume"              # a window's day far above its usual number of ratings
AL_DEVICE_FAULT = "device_fault"  # heard from, but its heartbeat says it cannot record
ALERT_KINDS = (
    AL_CONFLICT, AL_CHAIN_BREAK, AL_SEQ_GAP, AL_NEW_STREAM, AL_DB_RECOVERED,
    AL_CLOCK, AL_NO_STAFF, AL_BURST, AL_ZERO_BAD, AL_SILENT, AL_AFTER_REVOCATION,
    AL_BACKLOG, AL_FLAGGED_BAD, AL_VOLUME, AL_DEVICE_FAULT,
)

# The server's own flag (not a kiosk's, so not in the wire's FLAGS): a rating of a revoked
# device's USB export recorded after the revocation, by the kiosk's clock corrected by its
# last measured skew. Kept and counted apart like any flagged rating, never dropped.
FLAG_AFTER_REVOCATION = "after_revocation"
# The server's own flag too: a bad rating whose case was closed by an accepted appeal
# (误评/恶意差评, ``accept_appeal``). Kept, counted apart like any flagged rating and back in the
# figures with "include flagged"; set in the transaction that closes the case.
FLAG_APPEAL_ACCEPTED = "appeal_accepted"
# A device's rating may not carry these: a kiosk that flagged its own bad rating
# ``appeal_accepted`` would have the case page call the appeal accepted.
SERVER_FLAGS = frozenset({FLAG_AFTER_REVOCATION, FLAG_APPEAL_ACCEPTED})

# Event statuses in a batch answer.
ST_ACCEPTED = "accepted"
ST_DUPLICATE = "duplicate"
ST_CONFLICT = "conflict"
ST_REJECTED = "rejected"

# Region levels, top down.
REGION_LEVELS = ("province", "city", "district", "town")
TRIGGER_MODES = ("open", "invited")

# A window, a unit's month (the public page) or a staff member's citizens' part ("我的考核")
# with fewer ratings shows no rate and no bad count: too few to mean anything, and with one or
# two ratings they told what a citizen had chosen (a hall's month of 3 ratings read 66.6 %:
# one of the three was not satisfied).
MIN_VOLUME = 10
