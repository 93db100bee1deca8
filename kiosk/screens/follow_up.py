"""The follow-up after a bad rating: reason chips, an optional callback number, a QR code.

Nothing here is required: Skip keeps the rating as it is; the phone number is kept only with
the consent line ticked, and a number sent without the tick is not dropped in silence: the
form asks whether the citizen wants a call back (``ConsentQuestion``). The number shows masked
(138****1234) to people standing nearby. The form mirrors what was typed and ticked into the
flow (``RatingFlow.set_callback``), which keeps a consented number when the form times out.
"""

from pathlib import Path

from kivy.lang import Builder
from kivy.properties import BooleanProperty, NumericProperty, ObjectProperty, StringProperty
from kivy.uix.modalview import ModalView

from .. import constants as C
from .common import Chip, KioskScreen
from .rate import CountdownMixin
from .text import PHONE_MAX_DIGITS, mask_phone, phone_for_submit

# The QR code's side: whole pixels per module (no module drawn wider than its neighbour), at
# least QR_MIN_MODULE_PX each, and about QR_SIDE pixels at the 1024×600 scale (app.u = 1).
# It was 96 px (2 px a module, ~13.5 mm on a 7" panel): phones did not read it.
QR_SIDE = 200
QR_MIN_MODULE_PX = 3


def qr_side(modules: int, u: float) -> int:
    """The QR code's side in pixels for ``modules`` modules (its quiet zone included).

    >>> qr_side(49, 1.0), qr_side(53, 1.0), qr_side(49, 1.8)
    (196, 159, 343)
    """
    if modules <= 0:
        return 0
    return modules * max(QR_MIN_MODULE_PX, int(u * QR_SIDE) // modules)


class ConsentQuestion(ModalView):
    """"需要我们回访您吗？": asked when a number is sent without the consent ticked."""

    screen = ObjectProperty(None)
    masked = StringProperty("")

    def dismiss(self, *args, **kwargs):
        # at once, also when a touch beside it closes it: the form behind is the answer
        kwargs["animation"] = False
        return super().dismiss(*args, **kwargs)


class FollowUpScreen(CountdownMixin, KioskScreen):
    phone = StringProperty("")
    masked = StringProperty("")
    consent = BooleanProperty(False)
    too_short = BooleanProperty(False)   # a number was typed that no phone has
    needs_consent = BooleanProperty(False)   # a number was sent without the consent ticked
    qr_data = StringProperty("")
    seconds_left = NumericProperty(0)
    time_left = NumericProperty(0.0)
    _rating_id = ""
    _question = None

    def refresh(self) -> None:
        """A fresh form for the rating just recorded; the same form, as it was, when the
        screen comes back to the same rating (after a technician's visit, a language switch,
        or a submit that could not be saved: before, the chips showed nothing while the flow
        still held the reasons, and a tap to choose one again took it away)."""
        rating = self.app.flow.pending_rating or {}
        if rating.get("id") != self._rating_id:
            self._rating_id = rating.get("id", "")
            self.phone, self.consent, self.too_short, self.needs_consent = "", False, False, False
        self.ids.consent.state = "down" if self.consent else "normal"
        self._tell_flow()
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
        self._read_countdown()

    @staticmethod
    def qr_side(modules: int, u: float) -> int:
        return qr_side(modules, u)

    def on_leave(self, *args) -> None:
        super().on_leave(*args)
        self._close_question()

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
        if not value:
            self.needs_consent = False
        self._tell_flow()

    def on_consent(self, _instance, value: bool) -> None:
        if value:
            self.needs_consent = False
        self._tell_flow()

    def _tell_flow(self) -> None:
        if self.app is not None:
            self.app.flow.set_callback(self.phone, self.consent)

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
        if phone and not self.consent:
            # A number without the tick was thrown away in silence (phone None, consent
            # False) while the citizen went home expecting a call. Ask.
            self.app.touch()
            self.needs_consent = True
            self._ask()
            return
        self.app.submit_follow_up(phone, self.consent)

    def _ask(self) -> None:
        self._close_question()
        self._question = ConsentQuestion(screen=self, masked=self.masked)
        self._question.open(animation=False)

    def _close_question(self) -> None:
        question, self._question = self._question, None
        if question is not None:
            question.dismiss(animation=False)

    def answer(self, call_back: bool) -> None:
        """The citizen's answer to "需要我们回访您吗？": yes sends the number with the consent
        ticked, no sends the rest of the form without the number."""
        self._close_question()
        if self.app.flow.state != C.ST_FOLLOW_UP:
            return   # the form timed out behind the question
        self.app.touch()
        if call_back:
            self.consent = True
            self.ids.consent.state = "down"
        else:
            self.phone = ""
        self.submit()

    def skip(self) -> None:
        self._close_question()
        self.app.skip_follow_up()


Builder.load_file(str(Path(__file__).with_suffix(".kv")))
