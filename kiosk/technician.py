"""PIN entry with lockout (the technician's, and the staff sign-in's): plain Python, an
injected clock, no widgets.

Technician (``TechnicianLock``): after ``max_tries`` wrong PINs in a row the entry locks for
``lockout_seconds``; every further wrong PIN after a lockout locks again for twice as long as
the last time (60 s, 120 s, 240 s …, capped at a day). A right PIN resets everything. While
locked, ``check`` refuses without looking at the PIN, so guessing during a lockout costs
nothing and gains nothing.

Staff (``StaffPinLock``): the same ladder, but counted per staff number, never longer than
``STAFF_MAX_LOCKOUT_SECONDS`` (5 minutes), and forgotten after ``STAFF_FORGET_SECONDS`` (30
minutes) without a wrong PIN for that number. One shared ladder up to a day let anyone at the
counter keep every colleague's PIN sign-in locked for hours with a wrong PIN now and then;
guessing one number stays slow (at most one try per 5 minutes once it locked).

An empty ``pin_hash`` means the factory PIN 000000 (``kiosk set-pin`` replaces it).

>>> lock = TechnicianLock("", max_tries=2, lockout_seconds=60, clock=lambda: 0.0)
>>> lock.check("1").ok, lock.check("2").locked_for
(False, 60.0)
>>> staff = StaffPinLock(max_tries=1, lockout_seconds=60, clock=lambda: 0.0)
>>> staff.check("0012", "9999", lambda pin: False).locked_for, staff.remaining("0007")
(60.0, 0.0)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from .pin import DEFAULT_TECH_PIN, check_pin

MAX_LOCKOUT_SECONDS = 24 * 3600
# The technician screen closes after this long without a touch (or a key) on it
# (docs/kiosk-deployment.md, "Maintenance"): the PIN entry after a minute, the unlocked panel
# (export of every phone number, exit to desktop, the rating mode) after five. While it is
# open the window takes no invitation and shows no faces.
TECH_PIN_IDLE_SECONDS = 60
TECH_PANEL_IDLE_SECONDS = 5 * 60
# Staff PIN sign-in (docs/kiosk-deployment.md, "Staff sign-in"): a lockout of one staff number
# never lasts longer than this, and its wrong PINs are forgotten after this long without one.
STAFF_MAX_LOCKOUT_SECONDS = 5 * 60
STAFF_FORGET_SECONDS = 30 * 60
# PIN hashes no kiosk should take into a hall (`kiosk check-config` warns of them): the demo
# roster's, whose salt reads "demo-salt…" and whose PINs (1234, 5678) config.yaml prints, and
# any made with fewer PBKDF2 iterations than this (`kiosk set-pin` uses 200,000): a four-digit
# PIN is then found from the hash in moments.
DEMO_SALT_HEX = b"demo-salt".hex()
MIN_PIN_ITERATIONS = 10_000


def factory_pin(pin_hash: str) -> bool:
    """True when the technician PIN is still the factory PIN 000000 (no hash set)."""
    return not pin_hash


def weak_pin_hash(pin_hash: str) -> str | None:
    """Why a stored PIN hash must not go into a hall: "demo_salt", "few_iterations", or None
    (also for an empty or malformed one, which the config check refuses on its own).

    >>> weak_pin_hash("pbkdf2_sha256$1000$64656d6f2d73616c742d303030377878$" + "0" * 64)
    'demo_salt'
    >>> weak_pin_hash("pbkdf2_sha256$200000$00ff$" + "0" * 64) is None
    True
    """
    try:
        _algo, iterations, salt_hex, _digest = pin_hash.split("$")
        rounds = int(iterations)
    except ValueError:
        return None
    if salt_hex.lower().startswith(DEMO_SALT_HEX):
        return "demo_salt"
    if rounds < MIN_PIN_ITERATIONS:
        return "few_iterations"
    return None


def panel_warning_rows(tr: Callable[..., str], *, pin_hash: str,
                       invite: tuple[str, str] | None) -> list[tuple[str, str]]:
    """The technician panel's status rows beside the store's and the sync's: the factory
    PIN while it is in use, and the invitation endpoint's state (``invite``: ("listening",
    "127.0.0.1:8765") or ("unavailable", the error); None when the endpoint is off)."""
    rows = []
    if factory_pin(pin_hash):
        rows.append((tr("tech.pin_row"), tr("tech.factory_pin")))
    if invite is not None:
        state, detail = invite
        rows.append((tr("tech.invite_endpoint"), tr(f"tech.invite_{state}", detail=detail)))
    return rows


def technician_left_alone(stage: str, idle_seconds: float, busy: bool) -> bool:
    """True when the technician screen at ``stage`` ("pin", "panel", "touch") should close:
    nobody touched it for its stage's time, and no action it started (an export, an
    enrolment) is still running, which would be cut off from the panel that says how it ended.

    >>> technician_left_alone("pin", 61, busy=False), technician_left_alone("panel", 61, busy=False)
    (True, False)
    """
    if busy:
        return False
    limit = TECH_PIN_IDLE_SECONDS if stage == "pin" else TECH_PANEL_IDLE_SECONDS
    return idle_seconds >= limit


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
                 checker: Callable[[str, str], bool] = check_pin,
                 max_lockout_seconds: float = MAX_LOCKOUT_SECONDS,
                 forget_after: float | None = None) -> None:
        self.pin_hash = pin_hash
        self.max_tries = max(1, int(max_tries))
        self.max_lockout_seconds = float(max_lockout_seconds)
        self.lockout_seconds = min(float(lockout_seconds), self.max_lockout_seconds)
        self.forget_after = forget_after   # None: wrong PINs count until a right one
        self._clock = clock
        self._check = checker
        self.failures = 0            # wrong PINs since the last lockout ended (or the last success)
        self.lockouts = 0            # lockouts since the last success
        self.locked_until: float | None = None
        self.last_failure: float | None = None

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

    def quiet(self) -> bool:
        """True when nothing is counted any more: no wrong PIN, or none for ``forget_after``
        seconds (and no lockout running); the wrong PINs are then forgotten."""
        if self.last_failure is not None and self.forget_after is not None \
                and self.remaining() == 0 and self._clock() - self.last_failure >= self.forget_after:
            self.failures, self.lockouts, self.last_failure = 0, 0, None
        return self.last_failure is None

    def _lock(self) -> float:
        seconds = min(self.lockout_seconds * (2 ** min(self.lockouts, 32)), self.max_lockout_seconds)
        self.lockouts += 1
        self.locked_until = self._clock() + seconds
        return seconds

    def check(self, pin: str, matches: Callable[[str], bool] | None = None) -> Attempt:
        """One PIN entry; ``matches`` checks it instead of this lock's own hash (the staff
        sign-in, whose PIN is the staff member's). Never called while locked."""
        left = self.remaining()
        if left > 0:
            return Attempt(False, 0, left)
        self.quiet()   # wrong PINs long ago no longer count
        if (matches or self._matches)(pin):
            self.failures, self.lockouts, self.locked_until, self.last_failure = 0, 0, None, None
            return Attempt(True, self.max_tries)
        self.last_failure = self._clock()
        if self.lockouts:
            # Once locked, every further wrong PIN locks again, for twice as long.
            return Attempt(False, 0, self._lock())
        self.failures += 1
        if self.failures >= self.max_tries:
            self.failures = 0
            return Attempt(False, 0, self._lock())
        return Attempt(False, self.max_tries - self.failures)


class StaffPinLock:
    """The staff PIN sign-in's lockout: one ``TechnicianLock`` ladder per staff number, capped
    at ``STAFF_MAX_LOCKOUT_SECONDS`` and forgotten after ``STAFF_FORGET_SECONDS`` of quiet.

    Wrong PINs typed for one number never lock another: a colleague signs in with their own
    number and PIN (or their badge) while someone keeps trying another number. A right PIN
    clears its number's count.

    >>> lock = StaffPinLock(max_tries=5, lockout_seconds=60)          # doctest: +SKIP
    >>> lock.check(staff_no, pin, lambda given: flow.sign_in_pin(staff_no, given))   # doctest: +SKIP
    """

    def __init__(self, *, max_tries: int = 5, lockout_seconds: float = 60,
                 clock: Callable[[], float] = time.monotonic,
                 max_lockout_seconds: float = STAFF_MAX_LOCKOUT_SECONDS,
                 forget_after: float = STAFF_FORGET_SECONDS) -> None:
        self.max_tries = max_tries
        self.lockout_seconds = lockout_seconds
        self.max_lockout_seconds = max_lockout_seconds
        self.forget_after = forget_after
        self._clock = clock
        self._numbers: dict[str, TechnicianLock] = {}

    def _new(self) -> TechnicianLock:
        return TechnicianLock("", max_tries=self.max_tries, lockout_seconds=self.lockout_seconds,
                              clock=self._clock, max_lockout_seconds=self.max_lockout_seconds,
                              forget_after=self.forget_after)

    def remaining(self, staff_no: str) -> float:
        """Seconds the PIN entry of ``staff_no`` stays locked (0 when open)."""
        lock = self._numbers.get(staff_no)
        return lock.remaining() if lock is not None else 0.0

    def check(self, staff_no: str, pin: str, matches: Callable[[str], bool]) -> Attempt:
        """One PIN entry for ``staff_no``; ``matches(pin)`` checks it (and signs in)."""
        # Numbers whose wrong PINs are forgotten go, so that typing many numbers keeps nothing.
        for number in [n for n, lock in self._numbers.items() if lock.quiet()]:
            del self._numbers[number]
        lock = self._numbers.get(staff_no) or self._new()
        attempt = lock.check(pin, matches)
        if attempt.ok:
            self._numbers.pop(staff_no, None)
        else:
            self._numbers[staff_no] = lock
        return attempt
