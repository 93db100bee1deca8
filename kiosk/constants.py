"""Names shared across the kiosk: the wire vocabulary (sync/vocabulary.py) and screen states."""

from __future__ import annotations

from sync.vocabulary import *  # noqa: F403  (levels, reasons, event types, flags, modes)
from sync.vocabulary import BAD_LEVELS, LEVELS_4, LEVELS_5


def levels_for(scale: int) -> tuple[str, ...]:
    """Level keys shown for a 5- or 4-level scale, best first."""
    return LEVELS_5 if scale == 5 else LEVELS_4


def is_bad(level: str) -> bool:
    """True for the bottom two levels (差评)."""
    return level in BAD_LEVELS


# States of one rating session (kiosk/flow.py); the screens are named after them.
ST_PAUSED = "paused"
ST_IDLE = "idle"
ST_RATE = "rate"
ST_FOLLOW_UP = "follow_up"
ST_THANKS = "thanks"
ST_RETRY = "retry"

# Why the flow refused an invitation (``RatingFlow.refusal``); the local endpoint answers each
# with 409 and this code as its ``error`` (kiosk/invite_server.py).
REFUSED_BUSY = "busy"                   # nobody on duty, paused, or a rating under way
REFUSED_RATED = "already_rated"         # the case number was rated lately (一次一评)
