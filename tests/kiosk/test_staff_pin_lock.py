"""The staff PIN sign-in lockout (kiosk/technician.py StaffPinLock): plain Python, a fake clock.

Why it matters: the staff entry used the technician's lock, one ladder shared by every staff
number that doubled up to a day. Five wrong PINs and then one now and then (3840 s after seven
more) kept every colleague's PIN sign-in locked for hours, their right PIN refused, and only a
restart opened it again. Guessing must stay slow, but nobody may lock staff out for long.
"""

from kiosk.technician import (
    STAFF_FORGET_SECONDS,
    STAFF_KEPT_NUMBERS,
    STAFF_MAX_LOCKOUT_SECONDS,
    StaffPinLock,
    TechnicianLock,
)

PINS = {"0007": "1234", "0012": "5678"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def right(staff_no):
    return lambda pin: PINS.get(staff_no) == pin


def attempt(lock, staff_no, pin):
    return lock.check(staff_no, pin, right(staff_no))


def test_wrong_pins_for_one_number_never_lock_a_colleagues_number():
    clock = Clock()
    lock = StaffPinLock(max_tries=5, lockout_seconds=60, clock=clock)
    for _ in range(5):
        last = attempt(lock, "0012", "0000")
    assert last.locked_for == 60
    assert attempt(lock, "0012", "5678").locked_for > 0     # the number tried is locked …
    assert attempt(lock, "0007", "1234").ok                 # … its colleague's is not
    assert lock.remaining("0007") == 0


def test_a_guesser_keeping_a_number_locked_never_gets_past_a_few_minutes():
    clock = Clock()
    lock = StaffPinLock(max_tries=5, lockout_seconds=60, clock=clock)
    for _ in range(5):
        attempt(lock, "0007", "0000")
    longest = 0.0
    for _ in range(30):                         # one wrong PIN as soon as each lockout ends
        clock.now += lock.remaining("0007") + 1
        longest = max(longest, attempt(lock, "0007", "0000").locked_for)
    assert longest == STAFF_MAX_LOCKOUT_SECONDS == 300
    clock.now += lock.remaining("0007") + 1
    assert attempt(lock, "0007", "1234").ok      # the owner gets in once it has passed


def test_guessing_stays_slow_once_a_number_is_locked():
    # At most one try per lockout: a locked entry does not look at the PIN at all.
    clock = Clock()
    lock = StaffPinLock(max_tries=5, lockout_seconds=60, clock=clock)
    for _ in range(5):
        attempt(lock, "0007", "0000")
    clock.now += 30
    refused = attempt(lock, "0007", "1234")
    assert not refused.ok and refused.locked_for == 30


def test_wrong_pins_are_forgotten_after_a_quiet_period():
    clock = Clock()
    lock = StaffPinLock(max_tries=5, lockout_seconds=60, clock=clock)
    for _ in range(5):
        attempt(lock, "0007", "0000")
    clock.now += 61
    assert attempt(lock, "0007", "0000").locked_for == 120       # still on the ladder
    clock.now += STAFF_FORGET_SECONDS + 120
    first = attempt(lock, "0007", "0000")                       # a fresh start: 4 tries left
    assert not first.ok and first.locked_for == 0 and first.tries_left == 4
    assert lock._numbers.keys() == {"0007"}


def test_numbers_whose_wrong_pins_are_forgotten_are_not_kept():
    clock = Clock()
    lock = StaffPinLock(clock=clock)
    for n in range(100):
        attempt(lock, f"{n:04d}", "0000")
    clock.now += STAFF_FORGET_SECONDS
    attempt(lock, "0007", "1234")
    assert lock._numbers == {}


def test_a_right_pin_clears_its_numbers_count():
    clock = Clock()
    lock = StaffPinLock(max_tries=3, lockout_seconds=60, clock=clock)
    attempt(lock, "0007", "0000")
    attempt(lock, "0007", "0000")
    assert attempt(lock, "0007", "1234").ok
    assert attempt(lock, "0007", "0000").tries_left == 2


def test_a_long_configured_first_lockout_is_cut_to_the_staff_maximum():
    clock = Clock()
    lock = StaffPinLock(max_tries=1, lockout_seconds=86400, clock=clock)
    assert attempt(lock, "0007", "0000").locked_for == STAFF_MAX_LOCKOUT_SECONDS


def test_the_technician_lock_keeps_its_own_rule():
    # Kept as it was: a technician PIN opens the whole kiosk; nobody at the counter needs it.
    clock = Clock()
    lock = TechnicianLock("", max_tries=1, lockout_seconds=60, clock=clock)
    steps = []
    for _ in range(12):
        steps.append(lock.check("1").locked_for)
        clock.now += steps[-1] + 1
    assert steps[:3] == [60, 120, 240] and steps[-1] == 24 * 3600
    clock.now += 10 * 24 * 3600                 # no forgetting for the technician
    assert lock.check("1").locked_for == 24 * 3600


def test_typing_ever_new_numbers_keeps_only_a_bounded_count():
    # Why it matters: every number typed was kept for 30 minutes, in memory and now in the
    # kiosk database; a guesser cycling through numbers must not grow either without limit.
    clock = Clock()
    lock = StaffPinLock(clock=clock)
    for _ in range(5):
        attempt(lock, "0007", "0000")                 # the number under attack: locked
    for n in range(3 * STAFF_KEPT_NUMBERS):
        attempt(lock, f"9{n:04d}", "0000")
    assert len(lock._numbers) == STAFF_KEPT_NUMBERS
    assert attempt(lock, "0007", "1234").locked_for == 60   # its lockout was not pushed out
