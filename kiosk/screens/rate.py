"""The rating screen: five (or four) large faces, green → red, one touch records the rating."""

from pathlib import Path

from kivy.lang import Builder

from .common import LEVEL_COLOURS, FaceButton, KioskScreen


class RateScreen(KioskScreen):
    def refresh(self) -> None:
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


Builder.load_file(str(Path(__file__).with_suffix(".kv")))
