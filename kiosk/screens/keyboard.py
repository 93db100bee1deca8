"""Keep a focused text field above Kivy's docked on-screen keyboard.

Kiosks have no keyboard: ``kiosk run`` docks Kivy's keyboard at the bottom of the window
(``kiosk/launch.py``). On a 600 px screen it covered the technician's lower field (the USB
path), so the technician typed blind. While such a field has the focus, the app's root widget
moves up just enough to show it above the keyboard, and back down when the focus goes. (Kivy's
``Window.softinput_mode = "below_target"`` moved the docked keyboard down instead, cutting off
its bottom row.)
"""

from __future__ import annotations

from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.core.window import Window
from kivy.uix.vkeyboard import VKeyboard

MARGIN = 8  # px between the field and the keyboard


def follow_focus(field: Any, focused: bool) -> None:
    """Bound to a text field's ``focus``; the keyboard appears after the focus, hence the
    next frame."""
    Clock.schedule_once(lambda _dt: place(field, focused), 0)


def place(field: Any, focused: bool) -> None:
    root = App.get_running_app().root if App.get_running_app() else None
    if root is None:
        return
    keyboard = next((w for w in Window.children if isinstance(w, VKeyboard)), None)
    if not focused or keyboard is None or not field.focus:
        root.y = 0
        return
    keyboard_top = keyboard.y + keyboard.height * keyboard.scale
    bottom = field.to_window(field.x, field.y)[1] - root.y  # where it sits unmoved
    root.y = max(0, keyboard_top + MARGIN - bottom)
