"""The idle screen (亮身份、亮承诺、亮标准): who serves here, what they promise, how to rate."""

from pathlib import Path

from kivy.lang import Builder
from kivy.properties import StringProperty
from kivy.uix.boxlayout import BoxLayout

from .common import KioskScreen


class ServiceItemRow(BoxLayout):
    name = StringProperty("")
    time_limit = StringProperty("")


class IdleScreen(KioskScreen):
    _shown: tuple = ()

    def refresh(self) -> None:
        items = list(self.app.service_items if self.app else [])[:8]
        key = tuple((str(i.get("name", "")), str(i.get("time_limit", ""))) for i in items)
        if key == self._shown:   # rebuild only when the items changed (no churn per rating)
            return
        self._shown = key
        box = self.ids.item_list
        box.clear_widgets()
        for item in items:
            box.add_widget(ServiceItemRow(name=str(item.get("name", "")), time_limit=str(item.get("time_limit", ""))))


Builder.load_file(str(Path(__file__).with_suffix(".kv")))
