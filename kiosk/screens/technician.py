"""The technician screen: PIN entry with lockout, then diagnostics and maintenance actions.

Reached only by a long press (≥ 3 s) in the top-left corner. The lockout rules live in
kiosk/technician.py; every action is an app method (sync, enrol, export run off the UI thread).
"""

from pathlib import Path
from typing import Callable

from kivy.graphics import Color, Ellipse, Line
from kivy.lang import Builder
from kivy.properties import (
    BooleanProperty,
    DictProperty,
    NumericProperty,
    ObjectProperty,
    OptionProperty,
    StringProperty,
)
from kivy.uix.anchorlayout import AnchorLayout
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.floatlayout import FloatLayout
from kivy.uix.modalview import ModalView

from .common import ChineseLabel, KioskScreen
from .text import break_lines, setting_text

# The settings rows of the panel (kiosk/local_settings.py TECHNICIAN_SETTINGS but the language,
# which has its own button).
SETTING_ROWS = ("trigger.mode", "trigger.lockout_seconds", "trigger.invite_timeout_seconds",
                "idle.return_seconds")


def wrap_lines(text: str, width: float, measure: Callable[[str], float]) -> str:
    """``text`` broken into lines no wider than ``width``, also after a "/" or a "-": a folder
    such as /media/usb/kiosk-export-2d86c1d3-…-20261205T070102 is one word to Kivy, which
    cut it anywhere, or let it run past the panel's edge.

    >>> wrap_lines("/media/usb/kiosk-export-1", 11, len)
    '/media/usb/\\nkiosk-\\nexport-1'
    """
    return break_lines(text, width, measure, after="/-")


def warning_first(text: str, warning: str) -> tuple[str, str]:
    """(``warning`` when ``text`` says it, the rest of ``text``): the export's result ended in
    the warning that the stick holds citizens' phone numbers, the line least often read."""
    lines = text.split("\n")
    if not warning or warning not in lines:
        return "", text
    return warning, "\n".join(line for line in lines if line != warning)


class WrapLabel(ChineseLabel):
    """A label of messages with folder names in them: lines break after "/" and "-" too."""

    def texture_update(self, *largs) -> None:
        width = self.text_size[0]
        if width and self.text and not self.markup and not self.shorten:
            core = self._label
            core.text = wrap_lines(self.text, width - self.padding[0] - self.padding[2],
                                   lambda s: core.get_extents(s)[0])
            super(ChineseLabel, self).texture_update(*largs)   # already broken as it should be
            return
        super().texture_update(*largs)


class ExportResult(ModalView):
    """A result too long for the panel, whole, with its warning on top and an OK button."""

    warning = StringProperty("")
    text = StringProperty("")


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
    touches = NumericProperty(0)

    def on_touch_down(self, touch):
        if super().on_touch_down(touch):
            return True
        if not self.collide_point(*touch.pos):
            return False
        self.touches += 1
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
        self.touches = 0


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

    result: ExportResult | None = None

    def on_stage(self, _instance, stage: str) -> None:
        self._unfocus_fields()
        self._close_result()
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
        warning, rest = warning_first(text, self.app.tr("tech.export_personal") if self.app else "")
        self.message = "\n".join(filter(None, (warning, rest)))
        self.panel_pane.ids.message_scroll.scroll_y = 1
        if self.stage == "panel":
            self.update_diagnostics()
            if "\n" in self.message:   # an export's result: several lines, folder names
                self._close_result()
                self.result = ExportResult(warning=warning, text=rest)
                self.result.bind(on_dismiss=self._result_closed)
                self.result.open(animation=False)

    def _result_closed(self, dialog) -> None:
        if self.result is dialog:
            self.result = None

    def _close_result(self) -> None:
        if self.result is not None:
            self.result.dismiss(animation=False)   # and _result_closed forgets it

    def touch_test(self, on: bool) -> None:
        self.touch_pane.clear()
        self.stage = "touch" if on else "panel"

    def leave(self) -> None:
        self.stage = "pin"
        self.app.leave_technician()

    def on_leave(self, *_args) -> None:
        self._unfocus_fields()
        self._close_result()   # a dialog is over the whole window: never left over the idle screen

    def _unfocus_fields(self) -> None:
        """Hide the on-screen keyboard (and move the app back down, ``keyboard.place``)."""
        for name in ("server_url", "enrol_code", "export_path"):
            field = self.panel_pane.ids.get(name) if hasattr(self, "panel_pane") else None
            if field is not None and field.focus:
                field.focus = False


Builder.load_file(str(Path(__file__).with_suffix(".kv")))
