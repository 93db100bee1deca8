"""The technician screen: PIN entry with lockout, then diagnostics and maintenance actions.

Reached only by a long press (≥ 3 s) in the top-left corner. The lockout rules live in
kiosk/technician.py; every action is an app method (sync, enrol, export run off the UI thread).
"""

from pathlib import Path

from kivy.graphics import Color, Ellipse, Line
from kivy.lang import Builder
from kivy.properties import (
    BooleanProperty,
    DictProperty,
    ObjectProperty,
    OptionProperty,
    StringProperty,
)
from kivy.uix.anchorlayout import AnchorLayout
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.floatlayout import FloatLayout

from .common import KioskScreen
from .text import setting_text

# The settings rows of the panel (kiosk/local_settings.py TECHNICIAN_SETTINGS but the language,
# which has its own button).
SETTING_ROWS = ("trigger.mode", "trigger.lockout_seconds", "trigger.invite_timeout_seconds",
                "idle.return_seconds")


class DiagRow(BoxLayout):
    """One line of the status: its name and its value, each wrapped to the lines it needs."""

    name = StringProperty("")
    value = StringProperty("")


class SettingRow(BoxLayout):
    """A setting with − / + buttons; a setting the server sets shows its value and says so."""

    name = StringProperty("")
    value = StringProperty("")
    server = BooleanProperty(False)


class TechPinPane(AnchorLayout):
    """The PIN keypad (only this pane is in the tree while the PIN is asked)."""

    screen = ObjectProperty(None)


class TechPanelPane(BoxLayout):
    """Diagnostics and maintenance actions."""

    screen = ObjectProperty(None)


class TouchTestArea(FloatLayout):
    """Draws a ring and cross-hair where each finger touches, to check calibration."""

    screen = ObjectProperty(None)

    def on_touch_down(self, touch):
        if super().on_touch_down(touch):
            return True
        if not self.collide_point(*touch.pos):
            return False
        r = 22
        with self.canvas.after:
            Color(0.84, 0.23, 0.20, 1)
            Line(circle=(touch.x, touch.y, r), width=2)
            Line(points=[touch.x - 2 * r, touch.y, touch.x + 2 * r, touch.y], width=1)
            Line(points=[touch.x, touch.y - 2 * r, touch.x, touch.y + 2 * r], width=1)
            Color(0.11, 0.36, 0.72, 1)
            Ellipse(pos=(touch.x - 4, touch.y - 4), size=(8, 8))
        return True

    def clear(self) -> None:
        self.canvas.after.clear()


class TechnicianScreen(KioskScreen):
    stage = OptionProperty("pin", options=["pin", "panel", "touch"])
    pin = StringProperty("")
    message = StringProperty("")
    # name → (the value in effect as the panel says it, True when the server sets it)
    settings_shown = DictProperty({name: ("", False) for name in SETTING_ROWS})

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        # One pane at a time in the tree: hidden widgets would still take touches.
        self.pin_pane = TechPinPane(screen=self)
        self.panel_pane = TechPanelPane(screen=self)
        self.touch_pane = TouchTestArea(screen=self)
        self.on_stage(self, self.stage)
        if self.app is not None:
            self.app.bind(settings_version=self.update_settings, tr=self.update_settings)

    def on_stage(self, _instance, stage: str) -> None:
        self._unfocus_fields()
        box = self.ids.stage_box
        box.clear_widgets()
        box.add_widget({"pin": self.pin_pane, "panel": self.panel_pane, "touch": self.touch_pane}[stage])

    def refresh(self) -> None:
        if self.stage == "pin":
            self.pin = ""
        self.message = ""

    # --------------------------------------------------------------- PIN
    def digit(self, d: str) -> None:
        if len(self.pin) < 12:
            self.pin += d

    def back(self) -> None:
        self.pin = self.pin[:-1]

    def clear(self) -> None:
        self.pin = ""

    def submit_pin(self) -> None:
        ok, message = self.app.technician_login(self.pin)
        self.pin = ""
        self.message = message
        if ok:
            self.stage = "panel"
            self.update_diagnostics()

    # -------------------------------------------------------------- panel
    def update_diagnostics(self) -> None:
        box = self.panel_pane.ids.diag
        box.clear_widgets()
        for label, value in self.app.diagnostics_rows():
            box.add_widget(DiagRow(name=label, value=value))
        self.update_settings()

    def update_settings(self, *_args) -> None:
        """The settings as the rating flow uses them, and which of them the server sets (the
        panel showed config.yaml's values while the server's were in effect)."""
        app = self.app
        server = app.server_settings()
        self.settings_shown = {name: (setting_text(name, app.setting_value(name), app.tr), name in server)
                               for name in SETTING_ROWS}

    def say(self, text: str) -> None:
        self.message = text
        if self.stage == "panel":
            self.update_diagnostics()

    def touch_test(self, on: bool) -> None:
        self.touch_pane.clear()
        self.stage = "touch" if on else "panel"

    def leave(self) -> None:
        self.stage = "pin"
        self.app.leave_technician()

    def on_leave(self, *_args) -> None:
        self._unfocus_fields()

    def _unfocus_fields(self) -> None:
        """Hide the on-screen keyboard (and move the app back down, ``keyboard.place``)."""
        for name in ("server_url", "enrol_code", "export_path"):
            field = self.panel_pane.ids.get(name) if hasattr(self, "panel_pane") else None
            if field is not None and field.focus:
                field.focus = False


Builder.load_file(str(Path(__file__).with_suffix(".kv")))
