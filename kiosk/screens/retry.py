"""Please try again: the rating was not recorded (never a false thank-you)."""

from pathlib import Path

from kivy.lang import Builder
from kivy.properties import StringProperty

from .common import KioskScreen


class RetryScreen(KioskScreen):
    subtitle = StringProperty("")

    def refresh(self) -> None:
        # After a follow-up that could not be saved the form comes back with what was
        # entered: asking to "rate again" there invited a second rating.
        follow_up = self.app.flow.pending_rating is not None
        self.subtitle = self.app.tr("retry.subtitle_follow_up" if follow_up else "retry.subtitle")


Builder.load_file(str(Path(__file__).with_suffix(".kv")))
