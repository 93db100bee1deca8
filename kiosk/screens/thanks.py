"""Thank you: shown only after the store committed; nothing on it reveals what was chosen."""

from pathlib import Path

from kivy.lang import Builder

from .common import KioskScreen


class ThanksScreen(KioskScreen):
    pass


Builder.load_file(str(Path(__file__).with_suffix(".kv")))
