"""PIN lockouts kept across a restart (kiosk/technician.py, kiosk/local_settings.py LockKeeper):
the real store on a file, reopened as a restarted app opens it; fake monotonic clocks.

Why it matters: the technician's and the staff sign-in's wrong-PIN counts were in memory
only, so anyone at the counter could pull the plug (or get the app restarted) and have a fresh
set of tries: the lockout did not slow a PIN guesser at all. The kiosk has no battery clock
and its lock times are the monotonic clock's, which starts again at every boot, so a reboot
must neither shorten a lockout nor count the time the kiosk was off.
"""

from __future__ import annotations

import json
import logging
import sqlite3

from kiosk.errors import StoreFullError
from kiosk.local_settings import STAFF_LOCK_KEY, TECH_LOCK_KEY, LockKeeper
from kiosk.store import RatingStore
from kiosk.technician import STAFF_FORGET_SECONDS, StaffPinLock, TechnicianLock

from .conftest import FakeClock

PINS = {"0007": "1234", "0012": "5678"}


def right(staff_no):
    return lambda pin: PINS.get(staff_no) == pin


class Kiosk:
    """One run of the app's locks on the database at ``db``: its own store and clock, as a
    started app has them (the store names the boot, the clock counts from it)."""

    def __init__(self, db, boot_id="boot-1", clock=None, store=None) -> None:
        self.store = store if store is not None else RatingStore(db, boot_id=boot_id)
        self.clock = clock or FakeClock()
        self.tech = TechnicianLock("", max_tries=3, lockout_seconds=60, clock=self.clock,
                                   keeper=LockKeeper(lambda: self.store, TECH_LOCK_KEY, boot_id))
        self.staff = StaffPinLock(max_tries=3, lockout_seconds=60, clock=self.clock,
                                  keeper=LockKeeper(lambda: self.store, STAFF_LOCK_KEY, boot_id))

    def wrong(self, staff_no="0007"):
        return self.staff.check(staff_no, "0000", right(staff_no))

    def close(self) -> None:
        self.store.close()


def test_wrong_technician_pins_are_still_counted_after_the_app_restarts(db_path):
    first = Kiosk(db_path)
    assert first.tech.check("1").tries_left == 2
    assert first.tech.check("2").tries_left == 1
    first.close()                                   # the plug is pulled
    again = Kiosk(db_path)                          # same boot: the monotonic clock went on
    third = again.tech.check("3")
    assert not third.ok and third.locked_for == 60  # the third wrong PIN locks: no fresh tries
    again.close()


def test_a_technician_lockout_survives_a_restart_and_refuses_the_right_pin(db_path):
    first = Kiosk(db_path)
    for pin in "123":
        first.tech.check(pin)
    first.clock.advance(20)
    first.close()
    clock = FakeClock(first.clock.now + 5)          # the app back 5 s later, same boot
    again = Kiosk(db_path, clock=clock)
    refused = again.tech.check("000000")
    assert not refused.ok and refused.locked_for == 35   # ends when it would have, not sooner
    clock.advance(35)
    assert again.tech.check("000000").ok
    again.close()


def test_a_lockout_running_at_a_reboot_starts_over_in_full(db_path):
    first = Kiosk(db_path, boot_id="boot-1")
    for pin in "123":
        first.tech.check(pin)
    first.clock.advance(50)                         # 10 s of the 60 left when the power goes
    first.close()
    # A new boot: its monotonic clock starts near zero, and how long the kiosk was off is
    # unknown (no battery clock). A restart must never shorten a lockout: all 60 s again.
    again = Kiosk(db_path, boot_id="boot-2", clock=FakeClock(3.0))
    assert again.tech.remaining() == 60
    refused = again.tech.check("000000")
    assert not refused.ok and refused.locked_for == 60
    again.close()


def test_a_lockout_the_app_saw_end_is_not_started_again_by_a_reboot(db_path):
    first = Kiosk(db_path, boot_id="boot-1")
    for pin in "123":
        first.tech.check(pin)
    first.clock.advance(61)
    assert first.tech.remaining() == 0              # the app's tick sees it end
    first.close()
    again = Kiosk(db_path, boot_id="boot-2", clock=FakeClock(3.0))
    assert again.tech.remaining() == 0              # open after the reboot …
    assert again.tech.check("4").locked_for == 120  # … and the ladder goes on where it was
    again.close()


def test_an_unknown_boot_is_never_taken_for_the_same_boot(db_path):
    # Without /proc the store's boot id is "unknown": two boots would look alike, and a
    # monotonic time from the last boot read on this one's clock could end a lockout at once.
    first = Kiosk(db_path, boot_id="unknown", clock=FakeClock(100_000.0))
    for pin in "123":
        first.tech.check(pin)
    first.close()
    again = Kiosk(db_path, boot_id="unknown", clock=FakeClock(200_000.0))
    assert again.tech.remaining() == 60
    again.close()


def test_staff_wrong_pins_survive_a_restart_per_number(db_path):
    first = Kiosk(db_path)
    first.wrong("0007")
    first.wrong("0007")
    assert first.wrong("0007").locked_for == 60
    first.wrong("0012")
    first.close()
    again = Kiosk(db_path)
    assert again.staff.remaining("0007") == 60
    assert again.staff.check("0007", "1234", right("0007")).locked_for == 60   # still locked
    assert again.wrong("0012").tries_left == 1     # its one wrong PIN still counts
    assert again.staff.check("0012", "5678", right("0012")).ok   # a colleague is not locked
    again.close()


def test_staff_wrong_pins_are_forgotten_only_after_quiet_time_the_kiosk_saw(db_path):
    first = Kiosk(db_path, boot_id="boot-1")
    first.wrong("0007")
    first.wrong("0007")
    first.close()
    # After a reboot the time the kiosk was off is not counted: the 30 quiet minutes start
    # at the restart, not at the last wrong PIN (which may have been seconds before).
    clock = FakeClock(5000.0)   # a monotonic time of another boot: not comparable with 1000
    again = Kiosk(db_path, boot_id="boot-2", clock=clock)
    clock.advance(STAFF_FORGET_SECONDS - 1)
    assert again.wrong("0007").locked_for == 60     # the third wrong PIN in a row
    clock.advance(60 + STAFF_FORGET_SECONDS)
    assert again.wrong("0007").tries_left == 2      # forgotten after 30 quiet minutes
    again.close()


def test_a_right_pin_clears_what_was_kept(db_path):
    first = Kiosk(db_path)
    first.tech.check("1")
    first.wrong("0007")
    assert first.tech.check("000000").ok
    assert first.staff.check("0007", "1234", right("0007")).ok
    assert first.store.get_meta(TECH_LOCK_KEY) == ""
    assert first.store.get_meta(STAFF_LOCK_KEY) == ""
    first.close()
    again = Kiosk(db_path)
    assert again.tech.check("1").tries_left == 2
    assert again.wrong("0007").tries_left == 2
    again.close()


def test_a_staff_number_forgotten_by_the_tick_is_forgotten_in_the_database(db_path):
    first = Kiosk(db_path)
    first.wrong("0007")
    first.clock.advance(STAFF_FORGET_SECONDS)
    first.staff.settle()                            # the app's tick
    assert first.store.get_meta(STAFF_LOCK_KEY) == ""
    first.close()


def test_lock_state_stays_out_of_the_rating_event_log(db_path):
    # The event log is append-only, chained and sent to the server: lock counts are not events.
    first = Kiosk(db_path)
    before = [e["seq"] for e in first.store.iter_events()]
    for pin in "123":
        first.tech.check(pin)
    for _ in range(3):
        first.wrong("0007")
    assert [e["seq"] for e in first.store.iter_events()] == before
    first.close()


def test_a_guesser_typing_new_numbers_keeps_the_table_bounded(db_path):
    clock = FakeClock()
    store = RatingStore(db_path, boot_id="boot-1")
    lock = StaffPinLock(max_tries=3, lockout_seconds=60, clock=clock, kept_numbers=20,
                        keeper=LockKeeper(lambda: store, STAFF_LOCK_KEY, "boot-1"))
    for _ in range(3):
        lock.check("0007", "0000", right("0007"))   # the number being guessed: locked
    for n in range(200):
        clock.advance(0.1)
        lock.check(f"9{n:04d}", "0000", lambda pin: False)
    kept = json.loads(store.get_meta(STAFF_LOCK_KEY))["state"]["numbers"]
    assert len(lock._numbers) == len(kept) == 20
    assert "0007" in kept                           # a locked number is not pushed out
    assert "90199" in kept                          # nor the number just tried
    store.close()


def test_a_damaged_kept_value_is_ignored_and_the_keypad_works(db_path, caplog):
    store = RatingStore(db_path, boot_id="boot-1")
    store.set_meta(TECH_LOCK_KEY, "{not json")
    store.set_meta(STAFF_LOCK_KEY, json.dumps({"boot": "boot-1", "state": {"numbers": 7}}))
    store.close()
    with caplog.at_level(logging.ERROR):
        again = Kiosk(db_path)
    assert "not readable" in caplog.text and "ignoring the staff PIN lockouts" in caplog.text
    assert again.tech.check("1").tries_left == 2
    assert again.wrong("0007").tries_left == 2
    assert again.tech.check("2").tries_left == 1    # and it is kept again, afresh
    again.close()
    third = Kiosk(db_path)
    assert third.tech.check("3").locked_for == 60
    third.close()


class FullDiskStore(RatingStore):
    """The real store on a disk that filled up: every write fails as SQLite reports it."""

    def set_meta(self, key, value):
        raise StoreFullError(f"{self.path}: disk full while writing; nothing was written")


class UnreadableStore(RatingStore):
    """The real store whose meta table cannot be read (a damaged page)."""

    def get_meta(self, key, default=None):
        raise sqlite3.DatabaseError("database disk image is malformed")


def test_a_full_disk_leaves_the_pin_entry_working_in_memory(db_path, caplog):
    with caplog.at_level(logging.WARNING):
        kiosk = Kiosk(db_path, store=FullDiskStore(db_path, boot_id="boot-1"))
        assert kiosk.tech.check("1").tries_left == 2
        assert kiosk.tech.check("2").tries_left == 1
        assert kiosk.tech.check("3").locked_for == 60      # still counted, in memory
        kiosk.clock.advance(60)
        assert kiosk.tech.check("000000").ok
        assert kiosk.wrong("0007").tries_left == 2
        assert kiosk.staff.check("0007", "1234", right("0007")).ok
    warnings = [r for r in caplog.records if "cannot keep the pin_lock.technician" in r.getMessage()]
    assert len(warnings) == 1                              # said once, not at every PIN
    kiosk.close()


def test_an_unreadable_or_closed_store_leaves_the_pin_entry_working(db_path):
    kiosk = Kiosk(db_path, store=UnreadableStore(db_path, boot_id="boot-1"))
    for pin in "12":
        kiosk.tech.check(pin)
    assert kiosk.tech.check("3").locked_for == 60
    kiosk.close()                                          # a store closed under the lock
    kiosk.clock.advance(60)
    assert kiosk.tech.check("000000").ok
    assert kiosk.wrong("0012").tries_left == 2
    assert kiosk.staff.check("0012", "5678", right("0012")).ok
