"""The follow-up after a bad rating: reason chips, an optional callback number, a QR code.

Nothing here is required: Skip keeps the rating as it is; the phone number is kept only with
the consent line ticked; the number shows masked (138****1234) to people standing nearby.
"""

from pathlib import Path

from kivy.lang import Builder
from kivy.properties import BooleanProperty, StringProperty

from .common import Chip, KioskScreen
from .text import PHONE_MAX_DIGITS, mask_phone, phone_for_submit


class FollowUpScreen(KioskScreen):
    phone = StringProperty("")
    masked = StringProperty("")
    consent = BooleanProperty(False)
    too_short = BooleanProperty(False)   # a number was typed that no phone has
    qr_data = StringProperty("")
    _rating_id = ""

    def refresh(self) -> None:
        """A fresh form for the rating just recorded; the same form, as it was, when the
        screen comes back to the same rating (after a technician's visit, a language switch,
        or a submit that could not be saved: before, the chips showed nothing while the flow
        still held the reasons, and a tap to choose one again took it away)."""
        rating = self.app.flow.pending_rating or {}
        if rating.get("id") != self._rating_id:
            self._rating_id = rating.get("id", "")
            self.phone, self.consent, self.too_short = "", False, False
        self.ids.consent.state = "down" if self.consent else "normal"
        box = self.ids.chips
        codes = tuple(self.app.reasons())
        if tuple(c.code for c in reversed(box.children)) != codes:
            box.clear_widgets()
            for code in codes:
                chip = Chip(code=code)
                chip.bind(on_release=self._on_chip)
                box.add_widget(chip)
        chosen = self.app.flow.chosen
        for chip in box.children:
            chip.state = "down" if chip.code in chosen else "normal"
        self.qr_data = self.app.follow_up_url()

    def on_touch_down(self, touch) -> bool:
        if self.app is not None and self.app.flow.settling():
            # The second tap of a double tap on a bad face: it ticked the callback consent
            # or typed a digit (portrait screens put them where the faces were). Taken by
            # the screen, so no button under it sees it.
            return True
        return super().on_touch_down(touch)

    def on_phone(self, _instance, value: str) -> None:
        self.masked = mask_phone(value)
        self.too_short = False

    def _on_chip(self, chip: Chip) -> None:
        chosen = self.app.toggle_reason(chip.code)
        # The flow is the truth: a chip shows what the flow will record.
        for c in self.ids.chips.children:
            c.state = "down" if c.code in chosen else "normal"

    def digit(self, d: str) -> None:
        self.app.touch()
        if len(self.phone) < PHONE_MAX_DIGITS:
            self.phone += d

    def back(self) -> None:
        self.app.touch()
        self.phone = self.phone[:-1]

    def clear(self) -> None:
        self.app.touch()
        self.phone = ""

    def set_consent(self, value: bool) -> None:
        self.app.touch()
        self.consent = value

    def submit(self) -> None:
        phone = phone_for_submit(self.phone)
        if self.phone and phone is None:
            # A number too short for any phone was dropped without a word, and the citizen
            # who ticked consent expected a call back.
            self.app.touch()
            self.too_short = True
            return
        self.app.submit_follow_up(phone, self.consent)

    def skip(self) -> None:
        self.app.skip_follow_up()


Builder.load_file(str(Path(__file__).with_suffix(".kv")))
