"""Please try again: the rating was not recorded (never a false thank-you)."""

from pathlib import Path

from kivy.lang import Builder

from .common import KioskScreen


class RetryScreen(KioskScreen):
    pass


Builder.load_file(str(Path(__file__).with_suffix(".kv")))
