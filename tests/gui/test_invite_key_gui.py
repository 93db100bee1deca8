"""The staff invite key, pressed as SDL2 delivers it (an event pushed into SDL's own queue, read
by Kivy's SDL2 window), invites a rating in invited mode.

Why it matters: ``trigger.invite_key`` named keys by Kivy's table, and some of its names are
never sent by Kivy's SDL2 window (``pause``: SDL sends Pause as 296, which the table calls
``f15``), while F13 … F24 were missing; a staff button set to one of them invited nobody, and
a name nobody knew (``F12_KEY``) passed the config check. kiosk/keys.py is the one table of
what each key really sends.
"""

from __future__ import annotations

import ctypes
import glob
import logging
from pathlib import Path

import pytest

from kiosk import constants as C
from kiosk.keys import INVITE_KEYS

from .conftest import BADGE_WANG

# SDL2's scancodes (SDL_scancode.h) of the keys kiosk/keys.py names.
SCANCODES = {**{f"f{n}": 57 + n for n in range(1, 13)}, **{f"f{n}": 91 + n for n in range(13, 25)},
             "printscreen": 70, "scrolllock": 71, "pause": 72, "insert": 73, "home": 74,
             "pageup": 75, "end": 77, "pagedown": 78}


class _Keysym(ctypes.Structure):
    _fields_ = [("scancode", ctypes.c_int32), ("sym", ctypes.c_int32), ("mod", ctypes.c_uint16),
                ("unused", ctypes.c_uint32)]


class _KeyEvent(ctypes.Structure):
    _fields_ = [("type", ctypes.c_uint32), ("timestamp", ctypes.c_uint32),
                ("window_id", ctypes.c_uint32), ("state", ctypes.c_uint8),
                ("repeat", ctypes.c_uint8), ("pad2", ctypes.c_uint8), ("pad3", ctypes.c_uint8),
                ("keysym", _Keysym)]


class _Event(ctypes.Union):
    _fields_ = [("key", _KeyEvent), ("size", ctypes.c_uint8 * 56)]


def _sdl():
    import kivy

    found = glob.glob(str(Path(kivy.__file__).parent.parent / "Kivy.libs" / "libSDL2-2*.so*"))
    if not found:
        pytest.skip("Kivy's own SDL2 library is not where its wheel puts it")
    return ctypes.CDLL(found[0])   # the instance Kivy's window already loaded


def press_real_key(name: str) -> None:
    """Push a key-down and key-up of ``name`` into SDL's queue and let Kivy's window read them."""
    from kivy.core.window import Window

    lib = _sdl()
    scancode = SCANCODES[name]
    for kind, state in ((0x300, 1), (0x301, 0)):          # SDL_KEYDOWN, SDL_KEYUP
        event = _Event()
        event.key.type, event.key.state = kind, state
        event.key.keysym.scancode, event.key.keysym.sym = scancode, scancode | (1 << 30)
        assert lib.SDL_PushEvent(ctypes.byref(event)) == 1
    Window.mainloop()     # what Kivy's event loop runs each frame: read SDL's queue, dispatch


def test_every_accepted_name_is_the_code_kivys_sdl2_window_sends():
    from kivy.base import EventLoop
    from kivy.core.window import Window

    EventLoop.ensure_window()
    got = []

    def seen(_window, key, *_args):
        got.append(key)

    Window.bind(on_key_down=seen)
    try:
        for name in INVITE_KEYS:
            got.clear()
            press_real_key(name)
            assert got == [INVITE_KEYS[name]], name
    finally:
        Window.unbind(on_key_down=seen)


@pytest.mark.parametrize("name", ["f12", "Scroll Lock", "pause", "F13", "f24"])
def test_the_configured_key_invites_a_rating(make_kiosk, name):
    k = make_kiosk(trigger__mode="invited", trigger__invite_key=name)
    k.type_badge(BADGE_WANG)
    assert k.screen == "idle"
    press_real_key(name.replace(" ", "").lower())
    k.frames(2)
    assert k.screen == "rate"
    assert [e["payload"]["source"] for e in k.events(C.EV_INVITATION)] == ["key"]


def test_a_key_name_the_table_lacks_is_logged_not_ignored_in_silence(make_kiosk, caplog):
    # load_config refuses it; a Config built by other code (a test, a tool) is still told.
    with caplog.at_level(logging.ERROR, logger="kiosk.app"):
        k = make_kiosk(trigger__mode="invited", trigger__invite_key="F12_KEY")
    assert k.app._invite_keycode is None
    assert "trigger.invite_key 'F12_KEY' is not a key the staff button can send" in caplog.text
