"""The words of the wire (docs/protocol.md §1), shared by the kiosk and the aggregator.

Scale levels are stored as a stable key plus stars, because exports number them in opposite
orders: GB/T 39046-2020 has 1 = 非常满意, some provincial interfaces 1 = 非常不满意.
"""

from __future__ import annotations

# The five-level 好差评 scale (GB/T 39734-2020), best first.
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
BAD_LEVELS = frozenset({"dissatisfied", "very_dissatisfied"})
BAD_STARS = 2  # stars <= 2 is a bad rating (差评)

# How each level looks, wherever a citizen sees it (the kiosk's face buttons, the face images
# tools/make_assets.py draws, the QR phone page): its colour, and the curve of the face's
# mouth from 1 (a full smile) to -1 (a full frown).
FACES = {
    "very_satisfied": ("#2ea043", 1.0),
    "satisfied": ("#7ab83a", 0.55),
    "basic_satisfied": ("#e8b01d", 0.0),
    "dissatisfied": ("#ec7a26", -0.55),
    "very_dissatisfied": ("#d63b34", -1.0),
}


def rgb(colour: str) -> tuple[int, int, int]:
    """``"#2ea043"`` as (46, 160, 67)."""
    return tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]

# Channels of the national list: 3 = QR code, 4 = hall tablet (政务大厅平板电脑).
CHANNEL_QR = 3
CHANNEL_HALL_TABLET = 4

# The numbering of the levels an export writes, by target: the national data standard
# (GB/T 39046-2020) counts from the best level, the provincial 好差评 interfaces from the worst.
# A 4-level scale keeps the codes of the 5-level list (no code 3 is written).
EXPORT_TARGETS = ("national", "provincial")


def level_code(level: str, target: str) -> int:
    """The numeric code of ``level`` in an export to ``target`` ("national" or "provincial").

    >>> [level_code(key, "national") for key in LEVELS_5]
    [1, 2, 3, 4, 5]
    >>> [level_code(key, "provincial") for key in LEVELS_5]
    [5, 4, 3, 2, 1]
    >>> [level_code(key, "national") for key in LEVELS_4]
    [1, 2, 4, 5]
    >>> level_code("satisfied", "municipal")
    Traceback (most recent call last):
    ...
    ValueError: export target must be national or provincial, got 'municipal'
    """
    if target not in EXPORT_TARGETS:
        raise ValueError(f"export target must be national or provincial, got {target!r}")
    stars = STARS[level]   # an unknown level is a KeyError: it must never get a code
    return 6 - stars if target == "national" else stars

# Follow-up reasons after a bad rating, chosen by level and versioned.
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

# Event types.
EV_APP_START = "app_start"
EV_RATING = "rating"
EV_FOLLOW_UP = "follow_up"
EV_NOT_RATED = "not_rated"
EV_INVITATION = "invitation"
EV_STAFF_SIGN_IN = "staff_sign_in"
EV_STAFF_SIGN_OUT = "staff_sign_out"
EV_PAUSE = "pause"
EV_RESUME = "resume"
EV_CONFIG_APPLIED = "config_applied"
EV_DB_RECOVERED = "db_recovered"
EV_TECH_LOGIN = "tech_login"
EV_SETTINGS_CHANGED = "settings_changed"
EV_EXPORT = "export"
EVENT_TYPES = frozenset({
    EV_APP_START, EV_RATING, EV_FOLLOW_UP, EV_NOT_RATED, EV_INVITATION,
    EV_STAFF_SIGN_IN, EV_STAFF_SIGN_OUT, EV_PAUSE, EV_RESUME, EV_CONFIG_APPLIED,
    EV_DB_RECOVERED, EV_TECH_LOGIN, EV_SETTINGS_CHANGED, EV_EXPORT,
})

# Flags on a suspicious press: stored, counted apart, never dropped.
FLAG_LOCKOUT = "lockout"
FLAG_OUTSIDE_INVITATION = "outside_invitation"
FLAG_BURST = "burst"
FLAG_NO_STAFF = "no_staff"
FLAGS = frozenset({FLAG_LOCKOUT, FLAG_OUTSIDE_INVITATION, FLAG_BURST, FLAG_NO_STAFF})

# Trigger modes.
MODE_OPEN = "open"
MODE_INVITED = "invited"
