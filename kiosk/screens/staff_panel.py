"""The staff panel (a pop-up over the paused and idle screens): sign in, pause, sign out, invite.

Sign-in is by staff number + PIN on the keypad (or by swiping the badge, handled by the app).
While someone is on duty, the actions show only after their PIN (or badge) confirmed it is them,
so a citizen cannot pause the window or sign the staff member out.
"""

from pathlib import Path

from kivy.lang import Builder
from kivy.properties import BooleanProperty, ObjectProperty, OptionProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.modalview import ModalView

from .common import measurer
from .text import break_lines, shorten_to_fit

ON_DUTY_LINES = 2   # the "on duty: name (staff no.)" line wraps to this many lines at most


class StaffPinPane(BoxLayout):
    panel = ObjectProperty(None)


class StaffActionsPane(BoxLayout):
    panel = ObjectProperty(None)


class StaffPanel(ModalView):
    app = ObjectProperty(None)
    staff_no = StringProperty("")
    pin = StringProperty("")
    field = OptionProperty("staff_no", options=["staff_no", "pin"])
    verified = BooleanProperty(False)
    message = StringProperty("")

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        # One pane at a time in the tree: hidden widgets would still take touches.
        self.pin_pane = StaffPinPane(panel=self)
        self.actions_pane = StaffActionsPane(panel=self)
        self.on_verified(self, self.verified)

    def on_verified(self, _instance, verified: bool) -> None:
        box = self.ids.body_box
        box.clear_widgets()
        box.add_widget(self.actions_pane if verified else self.pin_pane)

    def digit(self, d: str) -> None:
        self.app.staff_panel_touched()
        if self.field == "staff_no" and len(self.staff_no) < 12:
            self.staff_no += d
        elif self.field == "pin" and len(self.pin) < 12:
            self.pin += d

    def back(self) -> None:
        self.app.staff_panel_touched()
        if self.field == "staff_no":
            self.staff_no = self.staff_no[:-1]
        else:
            self.pin = self.pin[:-1]

    def clear(self) -> None:
        self.app.staff_panel_touched()
        if self.field == "staff_no":
            self.staff_no = ""
        else:
            self.pin = ""

    def confirm(self) -> None:
        if self.field == "staff_no" and self.staff_no:
            self.field = "pin"
            return
        outcome, locked_for = self.app.staff_pin_entered(self.staff_no, self.pin)
        self.pin = ""
        if outcome == "verified":
            self.verified, self.message = True, ""
        elif outcome == "signed_in":
            self.dismiss()
        else:
            self.field = "pin" if self.staff_no else "staff_no"
            self.message = self.app.tr("staff.locked", seconds=int(locked_for + 0.999)) \
                if outcome == "locked" else self.app.tr("staff.wrong")

    def on_duty_text(self, staff: dict, tr, width: float, font_size: float) -> str:
        """Who is on duty, in at most ``ON_DUTY_LINES`` lines of ``width``: a long name is
        shortened, the staff number stays (a 34-character name ran out of the panel)."""
        if not staff:
            return tr("staff.hint_badge")
        measure = measurer(font_size).get_extents

        def fits(text: str) -> bool:
            return len(break_lines(text, width, lambda s: measure(s)[0]).split("\n")) <= ON_DUTY_LINES

        return shorten_to_fit(lambda name: tr("staff.signed_in_as", name=name,
                                              staff_no=staff.get("staff_no", "")),
                              str(staff.get("name", "")), fits)

    def act(self, action: str) -> None:
        self.dismiss()
        self.app.staff_action(action)


Builder.load_file(str(Path(__file__).with_suffix(".kv")))
