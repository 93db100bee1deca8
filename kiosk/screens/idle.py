"""The idle screen (亮身份、亮承诺、亮标准): who serves here, what they promise, how to rate."""

from pathlib import Path

from kivy.clock import Clock
from kivy.core.text import Label as CoreLabel
from kivy.lang import Builder
from kivy.properties import StringProperty
from kivy.uix.boxlayout import BoxLayout

from .common import KioskScreen
from .text import phrase_lines


class ServiceItemRow(BoxLayout):
    """One service item (事项) and its time limit (办结时限) on the idle screen."""

    name = StringProperty("")
    time_limit = StringProperty("")
    LIMIT_SHARE = 0.42   # of the row at most for the time limit (8 characters at 1024×600); longer ones wrap

    @staticmethod
    def limit_width(text: str, font_size: float) -> float:
        """The width of ``text``'s widest line in the time limit's (bold) font."""
        if not text:
            return 0.0
        # plus a pixel: a width a hair under the text's would wrap it
        core = CoreLabel(font_size=font_size, bold=True)
        return max(core.get_extents(line)[0] for line in text.split("\n")) + 1

    def limit_text(self, text: str, font_size: float, width: float) -> str:
        """The time limit on one line when it fits its share of the row, else broken
        between its phrases (and further by the label where a phrase is still too wide)."""
        if self.limit_width(text, font_size) <= width * self.LIMIT_SHARE:
            return text
        return phrase_lines(text)


def award_period(tr, award: dict) -> str:
    """The period of an award as the badge says it: "2024年5月" / "5/2024", "" when unknown."""
    year, _, rest = str((award or {}).get("period") or "").partition("-")
    if not year.isdigit() or not rest:
        return ""
    if rest[:1] in "Qq" and rest[1:].isdigit():
        return tr("idle.award_quarter", year=year, quarter=int(rest[1:]))
    return tr("idle.award_month", year=year, month=int(rest)) if rest.isdigit() else ""


MAX_ITEMS = 8          # service items shown at most; fewer when they do not fit
MORE_ROW_HEIGHT = 36   # the "and N more" line, in the screen's unit


class IdleScreen(KioskScreen):
    _shown: tuple = ()
    _rows: list = []
    _bound = False
    _fitted = None
    _total = 0

    def award_text(self, award: dict) -> str:
        """The award badge's text, or "" when this window holds no award."""
        if not award or not self.app:
            return ""
        when = award_period(self.app.tr, award)
        return self.app.tr("idle.award") + (f" · {when}" if when else "")

    def refresh(self) -> None:
        every = list(self.app.service_items if self.app else [])
        self._total = len(every)
        key = tuple((str(i.get("name", "")), str(i.get("time_limit", "")))
                    for i in every[:MAX_ITEMS])
        if key != self._shown:   # rebuild only when the items changed (no churn per rating)
            self._shown = key
            self._rows = [ServiceItemRow(name=n, time_limit=t) for n, t in key]
            self._fitted = None
            self._show(self._rows)
        box = self.ids.item_list
        if not self._bound:   # the column's size, the pledge's height (a staff change), the language
            self._bound = True
            box.parent.bind(size=lambda *_: self._fit_later())
            for child in self._others():
                child.bind(height=lambda *_: self._fit_later())
            self.app.bind(lang=lambda *_: self._fit_later())
        self._fit_later()

    def _fit_later(self) -> None:
        Clock.unschedule(self._fit)
        Clock.schedule_once(self._fit, 0)   # after the layout pass that sizes the rows

    def _others(self) -> list:
        """The column's widgets above the items: titles, the pledge, the "no items" line."""
        # ids are weak proxies: compare the widgets themselves
        skip = (self.ids.item_list.__self__, self.ids.column_rest.__self__)
        return [c for c in self.ids.item_list.parent.children if c not in skip]

    def _show(self, rows: list) -> None:
        box = self.ids.item_list
        box.clear_widgets()
        for row in rows:
            box.add_widget(row)

    def _fit(self, *_args) -> None:
        """Show the items that fit under the pledge, then "and N more".

        The column is a vertical box: what did not fit was pushed up over its own title and
        under the header (eight short items already did it at 1024×600).
        """
        box = self.ids.item_list
        column = box.parent
        others = self._others()
        # the language too: the "and N more" line is said in it (it stayed in the old one)
        size = (tuple(column.size), tuple(c.height for c in others), self._shown, self._total,
                self.app.lang)
        if size == self._fitted:
            return
        self._fitted = size
        free = (column.height - column.padding[1] - column.padding[3]
                - sum(c.height for c in others) - column.spacing * (len(column.children) - 1))
        rows, shown, used = self._rows, [], 0.0
        for i, row in enumerate(rows):
            # the row's height at the column's width (a row not shown has not been laid out)
            row.width = box.width
            row.do_layout()
            for label in row.children:
                label.texture_update()
            last = i == len(rows) - 1 and self._total == len(rows)
            more = 0.0 if last else MORE_ROW_HEIGHT * self.app.u
            if used + row.height + more > free and i:
                break
            shown.append(row)
            used += row.height
        if len(shown) < self._total:   # items 9 and 10 were left out without a word
            shown.append(ServiceItemRow(name=self.app.tr("idle.more_items",
                                                          n=self._total - len(shown))))
        self._show(shown)


Builder.load_file(str(Path(__file__).with_suffix(".kv")))
