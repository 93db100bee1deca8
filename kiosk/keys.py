"""The keys a staff invite button may send (``trigger.invite_key``), and the key code Kivy's
SDL2 window gives the app for each: one table for the config check and the app, no Kivy here.

Only keys a badge reader never types: letters, digits, Enter and Shift are the badge numbers'
keys, and Escape never reaches the app. A name Kivy knows was not enough: ``pause``,
``print`` and ``screenlock`` are in Kivy's table but its SDL2 window never sends their codes
(the keys arrive as 296, 294 and 295, which Kivy's table calls f15, f13 and f14), and F13 to
F24 arrive as SDL's own codes, which its table lacks. ``tests/kiosk/test_invite_key_config.py``
checks this table against Kivy's SDL2 key map.

>>> invite_keycode("F12"), invite_keycode("Scroll Lock"), invite_keycode("F12_KEY")
(293, 295, None)
"""

from __future__ import annotations

import re

_SDL = 1 << 30   # SDL2: a key without a character has the code (its scancode | 1 << 30)

INVITE_KEYS: dict[str, int] = {
    **{f"f{n}": 281 + n for n in range(1, 13)},             # Kivy's codes 282 … 293
    **{f"f{n}": _SDL + 91 + n for n in range(13, 25)},       # SDL scancodes 104 … 115, as sent
    "printscreen": 294, "scrolllock": 295, "pause": 296,     # SDL scancodes 70, 71, 72
    "insert": 277, "home": 278, "end": 279, "pageup": 280, "pagedown": 281,
}


def _normal(name: str) -> str:
    """Case, spaces, '-' and '_' do not matter: 'Scroll Lock', 'scroll_lock', 'SCROLLLOCK'."""
    return re.sub(r"[\s_-]+", "", name).lower()


def invite_keycode(name: str) -> int | None:
    """The key code the app receives for the key ``name``; None when it is not one of
    ``INVITE_KEYS``."""
    return INVITE_KEYS.get(_normal(name or ""))


def invite_key_names() -> str:
    """The accepted names, for a message: 'f1 … f24, printscreen, scrolllock, pause, …'."""
    others = [name for name in INVITE_KEYS if not re.fullmatch(r"f\d+", name)]
    return "f1 … f24, " + ", ".join(others)
