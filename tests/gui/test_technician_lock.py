"""Technician PIN lockout (kiosk/technician.py): plain Python, a fake clock, no window."""

from kiosk.pin import hash_pin
from kiosk.technician import TechnicianLock


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_empty_hash_means_factory_pin_000000():
    lock = TechnicianLock("", clock=Clock())
    assert lock.check("000000").ok
    assert not lock.check("123456").ok


def test_configured_hash_is_checked_and_factory_pin_no_longer_works():
    lock = TechnicianLock(hash_pin("246810", iterations=1000), clock=Clock())
    assert lock.check("246810").ok
    assert not lock.check("000000").ok


def test_wrong_pins_count_down_then_lock():
    clock = Clock()
    lock = TechnicianLock("", max_tries=3, lockout_seconds=60, clock=clock)
    assert lock.check("1").tries_left == 2
    assert lock.check("2").tries_left == 1
    third = lock.check("3")
    assert not third.ok and third.locked_for == 60


def test_right_pin_is_refused_while_locked_and_accepted_after():
    clock = Clock()
    lock = TechnicianLock("", max_tries=1, lockout_seconds=60, clock=clock)
    lock.check("1")
    clock.now = 59
    refused = lock.check("000000")
    assert not refused.ok and 0 < refused.locked_for <= 1
    clock.now = 60
    assert lock.check("000000").ok


def test_each_further_failure_after_a_lockout_doubles_the_delay():
    clock = Clock()
    lock = TechnicianLock("", max_tries=2, lockout_seconds=60, clock=clock)
    lock.check("1")
    assert lock.check("2").locked_for == 60
    clock.now += 60
    assert lock.check("3").locked_for == 120
    clock.now += 120
    assert lock.check("4").locked_for == 240


def test_success_resets_the_lockout_ladder():
    clock = Clock()
    lock = TechnicianLock("", max_tries=1, lockout_seconds=10, clock=clock)
    lock.check("1")
    clock.now += 10
    assert lock.check("000000").ok
    assert lock.check("9").locked_for == 10       # back to the first step
