"""PIN entry with lockout (the technician's, and the staff sign-in's): plain Python, an
injected clock, no widgets.

After ``max_tries`` wrong PINs in a row the entry locks for ``lockout_seconds``; every further
wrong PIN after a lockout locks again for twice as long as the last time (60 s, 120 s, 240 s …,
capped at a day). A right PIN resets everything. While locked, ``check`` refuses without
looking at the PIN, so guessing during a lockout costs nothing and gains nothing.

An empty ``pin_hash`` means the factory PIN 000000 (``kiosk set-pin`` replaces it).

>>> lock = TechnicianLock("", max_tries=2, lockout_seconds=60, clock=lambda: 0.0)
>>> lock.check("1").ok, lock.check("2").locked_for
(False, 60.0)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from .pin import DEFAULT_TECH_PIN, check_pin

MAX_LOCKOUT_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Attempt:
    """The answer to one PIN entry."""

    ok: bool
    tries_left: int = 0
    locked_for: float = 0.0  # seconds until the entry opens again; 0 when not locked


class TechnicianLock:
    """Checks technician PINs and enforces the lockout; one instance per kiosk app."""

    def __init__(self, pin_hash: str, *, max_tries: int = 5, lockout_seconds: float = 60,
                 clock: Callable[[], float] = time.monotonic,
                 checker: Callable[[str, str], bool] = check_pin) -> None:
        self.pin_hash = pin_hash
        self.max_tries = max(1, int(max_tries))
        self.lockout_seconds = float(lockout_seconds)
        self._clock = clock
        self._check = checker
        self.failures = 0            # wrong PINs since the last lockout ended (or the last success)
        self.lockouts = 0            # lockouts since the last success
        self.locked_until: float | None = None

    def _matches(self, pin: str) -> bool:
        if not self.pin_hash:
            return pin == DEFAULT_TECH_PIN
        return self._check(pin, self.pin_hash)

    def remaining(self) -> float:
        """Seconds the entry stays locked (0 when open)."""
        if self.locked_until is None:
            return 0.0
        left = self.locked_until - self._clock()
        if left <= 0:
            self.locked_until = None
            return 0.0
        return left

    def _lock(self) -> float:
        seconds = min(self.lockout_seconds * (2 ** self.lockouts), MAX_LOCKOUT_SECONDS)
        self.lockouts += 1
        self.locked_until = self._clock() + seconds
        return seconds

    def check(self, pin: str, matches: Callable[[str], bool] | None = None) -> Attempt:
        """One PIN entry; ``matches`` checks it instead of this lock's own hash (the staff
        sign-in, whose PIN is the staff member's). Never called while locked."""
        left = self.remaining()
        if left > 0:
            return Attempt(False, 0, left)
        if (matches or self._matches)(pin):
            self.failures, self.lockouts, self.locked_until = 0, 0, None
            return Attempt(True, self.max_tries)
        if self.lockouts:
            # Once locked, every further wrong PIN locks again, for twice as long.
            return Attempt(False, 0, self._lock())
        self.failures += 1
        if self.failures >= self.max_tries:
            self.failures = 0
            return Attempt(False, 0, self._lock())
        return Attempt(False, self.max_tries - self.failures)
