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
guessing one number stays slow (at most one try per 5 minutes once it locked). At most
``STAFF_KEPT_NUMBERS`` numbers are counted; a guesser typing ever new numbers grows nothing.

Across a restart (``keeper``: kiosk/local_settings.py ``LockKeeper``): the counts were in
memory only, so pulling the plug gave a guesser a fresh set of tries. Each lock now keeps its
wrong PINs, lockouts, the time of the last wrong PIN and the running lockout (its end and its
whole length) in the kiosk database, written before the answer to a wrong PIN is shown; a
right PIN clears them. The times are the monotonic clock's, which counts from the kiosk's
boot, and a kiosk has no battery clock: how long it was off cannot be known. So, after a
restart of the app in the same boot (the kernel's boot id, as the store records it with every
event) the times are taken as they are: a lockout ends when it would have, wrong PINs are
forgotten when they would have been. After a reboot (another boot id, or none known) the time
between is not counted: a lockout that was running starts over in full (a restart never
shortens a lockout; one the app saw end while it ran is not started again), and the quiet time
after which a staff number's wrong PINs are forgotten starts at the restart. Storage that
cannot be read or written (a full disk, a read-only or damaged database) is logged and the
counts go on in memory: the keypad keeps working.

An empty ``pin_hash`` means the factory PIN 000000 (``kiosk set-pin`` replaces it).

>>> lock = TechnicianLock("", max_tries=2, lockout_seconds=60, clock=lambda: 0.0)
>>> lock.check("1").ok, lock.check("2").locked_for
(False, 60.0)
>>> staff = StaffPinLock(max_tries=1, lockout_seconds=60, clock=lambda: 0.0)
>>> staff.check("0012", "9999", lambda pin: False).locked_for, staff.remaining("0007")
(60.0, 0.0)
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Callable

from .pin import DEFAULT_TECH_PIN, check_pin

log = logging.getLogger(__name__)

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
# At most this many staff numbers are counted and kept: a guesser typing ever new numbers
# grows neither memory nor the kiosk database. Past it the number that says least goes
# (StaffPinLock); a window's roster has a handful of numbers.
STAFF_KEPT_NUMBERS = 100
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


def _seconds(value: Any) -> float | None:
    """A time or length from a kept state: None, or a finite number (ValueError otherwise)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"not a number of seconds: {value!r}")
    return float(value)


class TechnicianLock:
    """Checks technician PINs and enforces the lockout; one instance per kiosk app.

    ``keeper`` keeps its counts across a restart (kiosk/local_settings.py ``LockKeeper``: its
    ``load()`` gives the state kept and whether it was kept in this boot, ``save(state)``
    keeps one, neither raises): they are taken up when the lock is made (``restore``) and
    kept at every change.
    """

    def __init__(self, pin_hash: str, *, max_tries: int = 5, lockout_seconds: float = 60,
                 clock: Callable[[], float] = time.monotonic,
                 checker: Callable[[str, str], bool] = check_pin,
                 max_lockout_seconds: float = MAX_LOCKOUT_SECONDS,
                 forget_after: float | None = None,
                 keeper: Any = None,
                 on_change: Callable[[], None] | None = None) -> None:
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
        self.lock_seconds = 0.0      # the running lockout's whole length (a reboot restarts it)
        self.last_failure: float | None = None
        self._keeper = keeper
        self._on_change = on_change  # called when the counts changed (StaffPinLock keeps them)
        if keeper is not None:
            state, same_boot = keeper.load()
            self.restore(state, same_boot=same_boot)

    def _matches(self, pin: str) -> bool:
        if not self.pin_hash:
            return pin == DEFAULT_TECH_PIN
        return self._check(pin, self.pin_hash)

    def _changed(self) -> None:
        if self._keeper is not None:
            self._keeper.save(self.state())
        if self._on_change is not None:
            self._on_change()

    def state(self) -> dict[str, Any] | None:
        """What a restart must not forget, by this lock's clock; None when nothing is counted."""
        if self.last_failure is None and self.locked_until is None \
                and not self.failures and not self.lockouts:
            return None
        return {"failures": self.failures, "lockouts": self.lockouts,
                "last_failure": self.last_failure, "locked_until": self.locked_until,
                "lock_seconds": self.lock_seconds}

    def restore(self, state: Any, *, same_boot: bool) -> None:
        """Take up ``state``, what ``state()`` gave before a restart (the module's docstring
        says the rule). ``same_boot``: it was kept in this boot, so its times are on this
        lock's clock and are taken as they are; otherwise the time between is not counted: a
        lockout then running starts over in full, and the quiet time before wrong PINs are
        forgotten starts now. A state that makes no sense is logged and ignored."""
        if not state:
            return
        try:
            failures, lockouts = int(state["failures"]), int(state["lockouts"])
            last, until = _seconds(state["last_failure"]), _seconds(state["locked_until"])
            seconds = _seconds(state.get("lock_seconds")) or self.lockout_seconds
            if failures < 0 or lockouts < 0 or seconds < 0:
                raise ValueError("a negative count")
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            log.error("ignoring a PIN lockout kept in the kiosk database: %r (%s)", state, exc)
            return
        now = self._clock()
        seconds = min(seconds, self.max_lockout_seconds)
        if not same_boot or (last is not None and last > now):
            # Another boot (or a clock that went back): how long the kiosk was off cannot be
            # measured, it has no battery clock; none of it is counted.
            last = now if last is not None or until is not None else None
            until = now + seconds if until is not None else None
        elif until is not None:
            until = min(until, now + seconds)   # never longer than it was set for
        self.failures, self.lockouts = failures, min(lockouts, 64)
        self.last_failure, self.locked_until = last, until
        self.lock_seconds = seconds if until is not None else 0.0

    def remaining(self) -> float:
        """Seconds the entry stays locked (0 when open)."""
        if self.locked_until is None:
            return 0.0
        left = self.locked_until - self._clock()
        if left <= 0:
            self.locked_until, self.lock_seconds = None, 0.0
            self._changed()   # seen ended: a reboot from now on does not start it over
            return 0.0
        return left

    def quiet(self) -> bool:
        """True when nothing is counted any more: no wrong PIN, or none for ``forget_after``
        seconds (and no lockout running); the wrong PINs are then forgotten."""
        if self.last_failure is not None and self.forget_after is not None \
                and self.remaining() == 0 and self._clock() - self.last_failure >= self.forget_after:
            self.failures, self.lockouts, self.last_failure = 0, 0, None
            self._changed()
        return self.last_failure is None

    def _lock(self) -> float:
        seconds = min(self.lockout_seconds * (2 ** min(self.lockouts, 32)), self.max_lockout_seconds)
        self.lockouts += 1
        self.locked_until = self._clock() + seconds
        self.lock_seconds = seconds
        return seconds

    def check(self, pin: str, matches: Callable[[str], bool] | None = None) -> Attempt:
        """One PIN entry; ``matches`` checks it instead of this lock's own hash (the staff
        sign-in, whose PIN is the staff member's). Never called while locked. A wrong PIN is
        kept (``keeper``) before the answer is returned, so before anyone is told."""
        left = self.remaining()
        if left > 0:
            return Attempt(False, 0, left)
        self.quiet()   # wrong PINs long ago no longer count
        if (matches or self._matches)(pin):
            counted = self.state() is not None
            self.failures, self.lockouts, self.locked_until, self.last_failure = 0, 0, None, None
            self.lock_seconds = 0.0
            if counted:
                self._changed()
            return Attempt(True, self.max_tries)
        self.last_failure = self._clock()
        if self.lockouts:
            # Once locked, every further wrong PIN locks again, for twice as long.
            attempt = Attempt(False, 0, self._lock())
        else:
            self.failures += 1
            if self.failures >= self.max_tries:
                self.failures = 0
                attempt = Attempt(False, 0, self._lock())
            else:
                attempt = Attempt(False, self.max_tries - self.failures)
        self._changed()
        return attempt


class StaffPinLock:
    """The staff PIN sign-in's lockout: one ``TechnicianLock`` ladder per staff number, capped
    at ``STAFF_MAX_LOCKOUT_SECONDS`` and forgotten after ``STAFF_FORGET_SECONDS`` of quiet.

    Wrong PINs typed for one number never lock another: a colleague signs in with their own
    number and PIN (or their badge) while someone keeps trying another number. A right PIN
    clears its number's count. At most ``kept_numbers`` numbers are counted (and kept by
    ``keeper`` across a restart); past that the one that says least is forgotten: a number
    not locked before a locked one, fewer lockouts and wrong PINs first, the longest quiet
    first, never the number just tried.

    >>> lock = StaffPinLock(max_tries=5, lockout_seconds=60)          # doctest: +SKIP
    >>> lock.check(staff_no, pin, lambda given: flow.sign_in_pin(staff_no, given))   # doctest: +SKIP
    """

    def __init__(self, *, max_tries: int = 5, lockout_seconds: float = 60,
                 clock: Callable[[], float] = time.monotonic,
                 max_lockout_seconds: float = STAFF_MAX_LOCKOUT_SECONDS,
                 forget_after: float = STAFF_FORGET_SECONDS,
                 keeper: Any = None,
                 kept_numbers: int = STAFF_KEPT_NUMBERS) -> None:
        self.max_tries = max_tries
        self.lockout_seconds = lockout_seconds
        self.max_lockout_seconds = max_lockout_seconds
        self.forget_after = forget_after
        self.kept_numbers = max(1, int(kept_numbers))
        self._clock = clock
        self._numbers: dict[str, TechnicianLock] = {}
        self._keeper = keeper
        self._dirty = False   # the counts changed since they were last kept
        if keeper is not None:
            self._restore(*keeper.load())

    def _new(self) -> TechnicianLock:
        return TechnicianLock("", max_tries=self.max_tries, lockout_seconds=self.lockout_seconds,
                              clock=self._clock, max_lockout_seconds=self.max_lockout_seconds,
                              forget_after=self.forget_after, on_change=self._mark)

    def _mark(self) -> None:
        self._dirty = True

    def _restore(self, state: Any, same_boot: bool) -> None:
        numbers = state.get("numbers") if isinstance(state, dict) else None
        if state and not isinstance(numbers, dict):
            log.error("ignoring the staff PIN lockouts kept in the kiosk database: %r", state)
            return
        for staff_no, saved in (numbers or {}).items():
            lock = self._new()
            lock.restore(saved, same_boot=same_boot)
            if lock.state() is not None:
                self._numbers[str(staff_no)] = lock
        self._bound()
        self._dirty = False

    def _save(self) -> None:
        if not self._dirty or self._keeper is None:
            return
        self._dirty = False
        numbers = {n: s for n, lock in self._numbers.items() if (s := lock.state()) is not None}
        self._keeper.save({"numbers": numbers} if numbers else None)

    def _bound(self, keep: str | None = None) -> None:
        """Forget the numbers past ``kept_numbers`` that say least (never ``keep``)."""
        while len(self._numbers) > self.kept_numbers:
            number = min((n for n in self._numbers if n != keep), key=lambda n: (
                self._numbers[n].remaining() > 0, self._numbers[n].lockouts,
                self._numbers[n].failures, self._numbers[n].last_failure or 0.0))
            del self._numbers[number]
            self._dirty = True

    def remaining(self, staff_no: str) -> float:
        """Seconds the PIN entry of ``staff_no`` stays locked (0 when open)."""
        lock = self._numbers.get(staff_no)
        left = lock.remaining() if lock is not None else 0.0
        self._save()
        return left

    def settle(self) -> None:
        """Forget the numbers whose wrong PINs are forgotten and note the lockouts that ended,
        kept when that changed anything: the app calls it at every tick, so that a lockout it
        saw end is not started over by a reboot. Cheap when nothing is counted."""
        if not self._numbers:
            return
        for number in [n for n, lock in self._numbers.items() if lock.quiet()]:
            del self._numbers[number]
            self._dirty = True
        self._save()

    def check(self, staff_no: str, pin: str, matches: Callable[[str], bool]) -> Attempt:
        """One PIN entry for ``staff_no``; ``matches(pin)`` checks it (and signs in)."""
        # Numbers whose wrong PINs are forgotten go, so that typing many numbers keeps nothing.
        for number in [n for n, lock in self._numbers.items() if lock.quiet()]:
            del self._numbers[number]
            self._dirty = True
        lock = self._numbers.get(staff_no) or self._new()
        attempt = lock.check(pin, matches)
        if attempt.ok:
            if self._numbers.pop(staff_no, None) is not None:
                self._dirty = True
        else:
            self._numbers[staff_no] = lock
            self._bound(keep=staff_no)
        self._save()   # before the answer: a wrong PIN counts even if the plug is pulled now
        return attempt
