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
