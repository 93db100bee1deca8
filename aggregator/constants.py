"""Names shared across the aggregator: scale levels, event types, flags, alert kinds.

The level keys, event types and flags are the wire vocabulary of docs/protocol.md; they are
repeated here (not imported from ``kiosk``) so the server installs without the Kivy app.
"""

from __future__ import annotations

# The five-level 好差评 scale (GB/T 39734-2020), best first: stable key and stars.
LEVELS = (
    ("very_satisfied", 5),
    ("satisfied", 4),
    ("basic_satisfied", 3),
    ("dissatisfied", 2),
    ("very_dissatisfied", 1),
)
STARS = dict(LEVELS)
LEVELS_5 = tuple(key for key, _ in LEVELS)
LEVELS_4 = tuple(key for key in LEVELS_5 if key != "basic_satisfied")
BAD_STARS = 2  # stars <= 2 is a bad rating (差评)
BAD_LEVELS = ("dissatisfied", "very_dissatisfied")
SATISFIED_STARS = 3  # stars >= 3 counts as satisfied
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

# Channels of the national list.
CHANNEL_QR = 3
CHANNEL_HALL_TABLET = 4
CHANNELS = frozenset({CHANNEL_QR, CHANNEL_HALL_TABLET})

REASONS_VERSION = 1
REASONS = {
    "very_dissatisfied": (
        "attitude", "efficiency", "unclear_policy", "come_back_again",
        "waiting_time", "asked_for_favours", "environment", "other",
    ),
    "dissatisfied": (
        "attitude", "efficiency", "unclear_policy", "come_back_again",
        "waiting_time", "environment", "other",
    ),
}
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

# Event types (docs/protocol.md section 1).
EV_RATING = "rating"
EV_FOLLOW_UP = "follow_up"
EV_NOT_RATED = "not_rated"
EV_STAFF_SIGN_IN = "staff_sign_in"
EV_STAFF_SIGN_OUT = "staff_sign_out"
EV_DB_RECOVERED = "db_recovered"
EVENT_TYPES = frozenset({
    "app_start", EV_RATING, EV_FOLLOW_UP, EV_NOT_RATED, "invitation",
    EV_STAFF_SIGN_IN, EV_STAFF_SIGN_OUT, "pause", "resume", "config_applied",
    EV_DB_RECOVERED, "tech_login", "settings_changed", "export",
})

# Flags on a suspicious press.
FLAG_LOCKOUT = "lockout"
FLAG_OUTSIDE_INVITATION = "outside_invitation"
FLAG_BURST = "burst"
FLAG_NO_STAFF = "no_staff"
FLAGS = frozenset({FLAG_LOCKOUT, FLAG_OUTSIDE_INVITATION, FLAG_BURST, FLAG_NO_STAFF})

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
ALERT_KINDS = (
    AL_CONFLICT, AL_CHAIN_BREAK, AL_SEQ_GAP, AL_NEW_STREAM, AL_DB_RECOVERED,
    AL_CLOCK, AL_NO_STAFF, AL_BURST, AL_ZERO_BAD, AL_SILENT,
)

# Event statuses in a batch answer.
ST_ACCEPTED = "accepted"
ST_DUPLICATE = "duplicate"
ST_CONFLICT = "conflict"
ST_REJECTED = "rejected"

# Region levels, top down.
REGION_LEVELS = ("province", "city", "district", "town")
TRIGGER_MODES = ("open", "invited")
