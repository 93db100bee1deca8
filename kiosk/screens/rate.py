"""The rating screen: five (or four) large faces, green → red, one touch records the rating.

Under the faces: what stays private, how long the faces stay (a calm countdown, as the flow
times it: ``RatingFlow.countdown``), and "暂不评价" for a citizen who does not want to rate
(``RatingFlow.not_now``: never a rating, an invitation is recorded "not rated").
"""

from pathlib import Path

from kivy.clock import Clock
from kivy.lang import Builder
from kivy.properties import NumericProperty

from .common import LEVEL_COLOURS, FaceButton, KioskScreen, measurer
from .text import shorten_to_fit

COUNTDOWN_SECONDS = 0.25   # how often a shown countdown is read from the flow


class CountdownMixin:
    """A screen that shows the flow's countdown while it is shown (``seconds_left`` and
    ``time_left``, the fraction left, for the kv rules)."""

    _countdown_event = None
    _stop_bound = False

    def on_pre_enter(self, *args) -> None:
        self._read_countdown()
        if self._countdown_event is None:
            self._countdown_event = Clock.schedule_interval(self._read_countdown, COUNTDOWN_SECONDS)
        if not self._stop_bound and self.app is not None:
            # Stopped with the app: a clock still running after the app's on_stop re-evaluated
            # kv's ``app`` and tied it to the stopped app (a second app in the same process,
            # tools/screenshots.py's, then showed the first one's language).
            self.app.bind(on_stop=self._stop_countdown)
            self._stop_bound = True

    def on_leave(self, *args) -> None:
        self._stop_countdown()

    def _stop_countdown(self, *_args) -> None:
        if self._countdown_event is not None:
            self._countdown_event.cancel()
            self._countdown_event = None

    def _read_countdown(self, *_args) -> None:
        countdown = self.app.flow.countdown() if self.app is not None else None
        self.seconds_left, self.time_left = countdown if countdown else (0, 0.0)


class RateScreen(CountdownMixin, KioskScreen):
    seconds_left = NumericProperty(0)
    time_left = NumericProperty(0.0)

    def refresh(self) -> None:
        self._read_countdown()
        row = self.ids.faces
        levels = tuple(self.app.levels())
        if tuple(getattr(w, "level", None) for w in reversed(row.children)) == levels:
            return
        row.clear_widgets()
        for level in levels:
            face = FaceButton(level=level, colour=LEVEL_COLOURS[level])
            face.bind(on_release=self._on_face)
            row.add_widget(face)

    def _on_face(self, face: FaceButton) -> None:
        self.app.rate(face.level)

    def not_now(self) -> None:
        """"暂不评价": the session ends as its timeout would end it (the flow decides)."""
        self.app.not_now()

    @staticmethod
    def subtitle_text(staff: dict, tr, width: float, font_size: float) -> str:
        """Whom the citizen rates, on one line of ``width``: a long name is shortened, the
        staff number stays (upright, "…吐尔…0007）评价" lost the number in the middle)."""
        if not (staff or {}).get("name"):
            return tr("rate.subtitle_nostaff")
        measure = measurer(font_size).get_extents
        return shorten_to_fit(
            lambda name: tr("rate.subtitle", name=name, staff_no=staff.get("staff_no", "")),
            str(staff["name"]), lambda text: measure(text)[0] <= width)


Builder.load_file(str(Path(__file__).with_suffix(".kv")))
