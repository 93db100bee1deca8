"""The technician screen closes when left alone, with real touches in the real window.

Why it matters: a 3 s press in the corner left the PIN entry up for ever (the window took no
invitation, the queue system got 409, no faces showed), and an unlocked panel left open kept
its USB export (every phone number), exit to desktop and the rating mode open to anyone at the
counter. An export still running is not cut off: the panel stays until it says how it ended.
"""

from __future__ import annotations

import threading

from kivy.uix.behaviors import ButtonBehavior

from kiosk.technician import TECH_PANEL_IDLE_SECONDS, TECH_PIN_IDLE_SECONDS
from tests.gui.test_rating_gui import _enter_tech_pin, _long_press_corner


def _alone(k, seconds: float) -> None:
    """Nobody touches the kiosk for ``seconds`` (the technician screen's clock)."""
    k.tech_clock.advance(seconds)
    k.frames(3)


def test_the_technician_pin_entry_closes_after_a_minute_alone(kiosk):
    _long_press_corner(kiosk)
    assert kiosk.screen == "technician" and kiosk.current().stage == "pin"
    _alone(kiosk, TECH_PIN_IDLE_SECONDS - 5)
    screen = kiosk.current()
    kiosk.tap(kiosk.keypad_digit(screen.pin_pane.ids.pin_keypad, "1"))   # a touch: time again
    _alone(kiosk, TECH_PIN_IDLE_SECONDS - 5)
    assert kiosk.screen == "technician"
    _alone(kiosk, 10)
    assert kiosk.screen == "idle" and not kiosk.app.technician_mode
    assert kiosk.app.invite_from_queue("C-1", None) is True   # the window invites again
    assert kiosk.screen == "rate"


def test_the_unlocked_technician_panel_closes_after_five_minutes_alone(kiosk):
    _long_press_corner(kiosk)
    _enter_tech_pin(kiosk, "000000")
    assert kiosk.current().stage == "panel"
    _alone(kiosk, TECH_PANEL_IDLE_SECONDS - 10)
    kiosk.key(ord("a"), "a")           # typing (a keyboard, a field) is using it too
    _alone(kiosk, TECH_PANEL_IDLE_SECONDS - 10)
    assert kiosk.screen == "technician" and kiosk.current().stage == "panel"
    _alone(kiosk, 20)
    assert kiosk.screen == "idle"
    # Opened again, it asks for the PIN: the unlocked panel is not one touch away.
    _long_press_corner(kiosk)
    assert kiosk.screen == "technician" and kiosk.current().stage == "pin"


def test_an_export_in_progress_keeps_the_technician_panel_open(make_kiosk):
    release = threading.Event()

    def slow_export(path: str) -> tuple[bool, str]:
        release.wait(30)
        return True, path

    k = make_kiosk(app_kwargs={"on_export": slow_export})
    k.type_badge("10000007")
    _long_press_corner(k)
    _enter_tech_pin(k, "000000")
    screen = k.current()
    export = next(b for b in screen.panel_pane.walk() if isinstance(b, ButtonBehavior)
                  and getattr(b, "text", None) == k.app.tr("tech.export"))
    k.tap(export)
    _alone(k, 3 * TECH_PANEL_IDLE_SECONDS)
    assert k.screen == "technician" and screen.stage == "panel"   # not cut off mid-way
    release.set()
    for _ in range(200):
        k.frames(1)
        if k.app._tech_busy == 0:
            break
    assert screen.message == k.app.tr("tech.done", what=f"{k.app.tr('tech.export')} /media/usb")
    _alone(k, TECH_PANEL_IDLE_SECONDS - 10)   # time to read how it ended
    assert k.screen == "technician"
    _alone(k, 20)
    assert k.screen == "idle"
