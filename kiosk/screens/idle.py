"""The idle screen (亮身份、亮承诺、亮标准): who serves here, what they promise, how to rate."""

from pathlib import Path

from kivy.lang import Builder
from kivy.properties import StringProperty
from kivy.uix.boxlayout import BoxLayout

from .common import KioskScreen


class ServiceItemRow(BoxLayout):
    name = StringProperty("")
    time_limit = StringProperty("")


def award_period(tr, award: dict) -> str:
    """The period of an award as the badge says it: "2024年5月" / "5/2024", "" when unknown."""
    year, _, rest = str((award or {}).get("period") or "").partition("-")
    if not year.isdigit() or not rest:
        return ""
    if rest[:1] in "Qq" and rest[1:].isdigit():
        return tr("idle.award_quarter", year=year, quarter=int(rest[1:]))
    return tr("idle.award_month", year=year, month=int(rest)) if rest.isdigit() else ""


class IdleScreen(KioskScreen):
    _shown: tuple = ()

    def award_text(self, award: dict) -> str:
        """The award badge's text, or "" when this window holds no award."""
        if not award or not self.app:
            return ""
        when = award_period(self.app.tr, award)
        return self.app.tr("idle.award") + (f" · {when}" if when else "")

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
