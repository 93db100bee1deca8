"""The paused screen: nobody on duty, or the staff member paused the window (暂停服务)."""

from pathlib import Path

from kivy.lang import Builder

from .common import KioskScreen


class PausedScreen(KioskScreen):
    pass


Builder.load_file(str(Path(__file__).with_suffix(".kv")))
