"""Full-jitter exponential backoff (1 s … 15 min) that honours ``Retry-After``.

After the n-th consecutive failure the wait is ``uniform(0, min(cap, base * 2**n))``, but never
less than the server's ``Retry-After``; a success starts again from zero. Random source and
clock are injectable, so tests need not sleep.

>>> b = Backoff(uniform=lambda lo, hi: hi)
>>> [b.failure() for _ in range(3)], b.failure(retry_after=60)
([1.0, 2.0, 4.0], 60)
>>> b.success(); b.failure()
1.0
"""

from __future__ import annotations

import random
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Callable

BASE_SECONDS = 1.0
CAP_SECONDS = 15 * 60.0


def full_jitter(failures: int, base: float = BASE_SECONDS, cap: float = CAP_SECONDS,
                uniform: Callable[[float, float], float] = random.uniform) -> float:
    """Seconds to wait after ``failures`` consecutive failures (counting from 0)."""
    # 2**n overflows float past n ~ 1000; the cap is reached long before.
    ceiling = cap if failures >= 64 else min(cap, base * 2 ** failures)
    return uniform(0, ceiling)


def parse_http_date(value: str | None) -> datetime | None:
    """An HTTP-date (``Date``, ``Retry-After``) as an aware datetime; None if absent or bad
    (a year no calendar holds, "99999999999999999999", raised OverflowError)."""
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP-date); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    when = parse_http_date(value)
    if when is None:
        return None
    now = now or datetime.now(timezone.utc)
    return max(0.0, (when - now).total_seconds())


class Backoff:
    """Counts consecutive failures and says how long to wait before the next try."""

    def __init__(self, base: float = BASE_SECONDS, cap: float = CAP_SECONDS, *,
                 uniform: Callable[[float, float], float] = random.uniform,
                 max_retry_after: float = 24 * 3600.0) -> None:
        self.base = base
        self.cap = cap
        self.uniform = uniform
        self.max_retry_after = max_retry_after
        self.failures = 0

    def failure(self, retry_after: float | None = None) -> float:
        """Note one failure; return the seconds to wait before the next attempt."""
        delay = full_jitter(self.failures, self.base, self.cap, self.uniform)
        self.failures += 1
        if retry_after is not None and retry_after > delay:
            # A server shedding load knows best, within reason.
            delay = min(retry_after, self.max_retry_after)
        return delay

    def success(self) -> None:
        self.failures = 0
