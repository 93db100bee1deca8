"""Staff PIN sign-in through the real app (KioskApp.staff_pin_entered, the staff panel's call).

Why it matters: anyone at the counter could keep staff PIN sign-in locked for hours: five
wrong PINs for any number, then one wrong PIN whenever the lockout ended, and the lock (shared
by every staff number, doubling up to a day) refused 王芳's right PIN for over an hour.
"""

STAFF_MAX_LOCKOUT_SECONDS = 5 * 60   # kiosk.technician.STAFF_MAX_LOCKOUT_SECONDS, the rule


def test_a_stranger_guessing_pins_cannot_keep_a_colleague_out(make_kiosk):
    k = make_kiosk()                      # nobody signed in: the paused screen
    assert k.screen == "paused"
    for _ in range(5):
        outcome, seconds = k.app.staff_pin_entered("1234", "0000")
    assert outcome == "locked"
    for _ in range(6):                    # one wrong PIN each time the lockout ends
        k.tech_clock.advance(seconds + 1)
        outcome, seconds = k.app.staff_pin_entered("1234", "0000")
        assert outcome == "locked" and seconds <= STAFF_MAX_LOCKOUT_SECONDS
    # 王芳 (0007, PIN 1234 in config.yaml) signs in at once: another number's wrong PINs
    # never lock hers.
    assert k.app.staff_pin_entered("0007", "1234") == ("signed_in", 0.0)
    k.frames(2)
    assert k.screen == "idle" and k.flow.staff["staff_no"] == "0007"


def test_guessing_her_own_number_locks_her_pin_only_for_minutes(make_kiosk):
    k = make_kiosk()
    for _ in range(5):
        seconds = k.app.staff_pin_entered("0007", "0000")[1]
    longest = 0.0
    for _ in range(10):
        k.tech_clock.advance(seconds + 1)
        seconds = k.app.staff_pin_entered("0007", "0000")[1]
        longest = max(longest, seconds)
    assert longest == STAFF_MAX_LOCKOUT_SECONDS
    assert k.app.staff_pin_entered("0007", "1234")[0] == "locked"   # still no guessing
    k.tech_clock.advance(STAFF_MAX_LOCKOUT_SECONDS)
    assert k.app.staff_pin_entered("0007", "1234") == ("signed_in", 0.0)
    k.frames(2)
    assert k.screen == "idle"


# ------------------------------------------------------------- restarts, broken storage
# Why it matters: the lock counts were in memory only. Five wrong PINs, pull the plug (or get
# the app restarted), and the new run took five more at once, and so on: the lockout slowed
# no PIN guesser at all.

def _on(db):
    """make_kiosk's ``store_cls`` for an app on the database ``db`` (whatever file the fixture
    names): a second app made with it is the kiosk started again on the same data, in the same
    boot (its lock clock starts where the first one's stood)."""
    from kiosk.store import RatingStore

    return lambda _path: RatingStore(db)


def _stop(k):
    """The app ends as its process would: off the window, stopped, its database closed."""
    from kivy.core.window import Window

    Window.remove_widget(k.app.root)
    k.frames(2)
    k.app.dispatch("on_stop")
    k.store.close()


def test_restarting_the_kiosk_gives_a_staff_pin_guesser_no_new_tries(make_kiosk, tmp_path):
    db = tmp_path / "kiosk.db"
    first = make_kiosk(store_cls=_on(db))
    for _ in range(5):
        outcome, seconds = first.app.staff_pin_entered("0007", "0000")
    assert (outcome, seconds) == ("locked", 60)
    _stop(first)
    again = make_kiosk(store_cls=_on(db))          # a new app on the same data directory
    assert again.app.staff_pin_entered("0007", "1234") == ("locked", 60)   # even her right PIN
    again.tech_clock.advance(60)
    assert again.app.staff_pin_entered("0007", "1234") == ("signed_in", 0.0)
    again.frames(2)
    assert again.screen == "idle" and again.flow.staff["staff_no"] == "0007"


def test_restarting_the_kiosk_keeps_the_technician_entry_locked(make_kiosk, tmp_path):
    db = tmp_path / "kiosk.db"
    first = make_kiosk(store_cls=_on(db))
    for pin in ("1", "2", "3", "4", "5"):
        ok, _message = first.app.technician_login(pin)
    assert not ok and first.app.tech_lock.remaining() == 60
    _stop(first)
    again = make_kiosk(store_cls=_on(db))
    ok, message = again.app.technician_login("000000")   # the factory PIN: right, refused
    assert not ok and message == again.app.tr("tech.locked", seconds=60)
    again.tech_clock.advance(60)
    assert again.app.technician_login("000000") == (True, "")


def _lock_keys_broken(path):
    """The real store, except that the PIN lockouts' keys can be neither read nor written (a
    full disk, a damaged page); everything else works."""
    from kiosk.errors import StoreFullError
    from kiosk.store import RatingStore

    class LockKeysBroken(RatingStore):
        def get_meta(self, key, default=None):
            if key.startswith("pin_lock."):
                raise OSError("disk I/O error")
            return super().get_meta(key, default)

        def set_meta(self, key, value):
            if key.startswith("pin_lock."):
                raise StoreFullError(f"{self.path}: disk full while writing; nothing was written")
            return super().set_meta(key, value)

    return LockKeysBroken(path)


def test_the_pin_entries_work_when_the_lockouts_cannot_be_kept(make_kiosk, caplog):
    # A full disk or a broken database never stops the keypads: counted in memory, logged.
    import logging

    with caplog.at_level(logging.WARNING):
        k = make_kiosk(store_cls=_lock_keys_broken)
        for _ in range(4):
            assert k.app.staff_pin_entered("0007", "0000") == ("wrong", 0.0)
        assert k.app.staff_pin_entered("0007", "0000") == ("locked", 60)
        k.tech_clock.advance(60)
        assert k.app.staff_pin_entered("0007", "1234") == ("signed_in", 0.0)
        assert k.app.technician_login("1") == (False, k.app.tr("tech.wrong", left=4))
        assert k.app.technician_login("000000") == (True, "")
        k.frames(3)                                 # the app's tick settles the locks too
    assert k.screen == "idle" and k.flow.staff["staff_no"] == "0007"
    assert "cannot read the pin_lock.staff lockout" in caplog.text
    assert "cannot keep the pin_lock.staff lockout" in caplog.text
    assert "cannot keep the pin_lock.technician lockout" in caplog.text
