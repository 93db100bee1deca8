"""The idle screen (亮身份、亮承诺、亮标准): who serves here, what they promise, how to rate."""

from pathlib import Path

from kivy.clock import Clock
from kivy.lang import Builder
from kivy.properties import StringProperty
from kivy.uix.boxlayout import BoxLayout

from .common import KioskScreen, measurer, text_width
from .text import break_lines, phrase_lines


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
        return max(text_width(line, font_size, True) for line in text.split("\n")) + 1

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

# Type sizes (of common.TYPE_SCALE) a text may take, largest first, each with the lines allowed
# at it (0: as many as the height allows); at the last one the text ends in "…".
NAME_SIZES = ((30, 1), (22, 2), (18, 2))     # the staff member's name
PLEDGE_SIZES = ((22, 0), (18, 0), (16, 0))   # the public pledge (亮承诺)
PLEDGE_SHARE = 0.5     # of its card at most for the pledge; the rest is for the service items

def fit_size(text: str, width: float, sizes, u: float, bold: bool = False,
             line_height: float = 1.0, max_height: float = 0.0) -> tuple[int, int]:
    """(font size, lines allowed): the largest of ``sizes`` at which ``text`` breaks into no
    more lines than allowed at ``width`` (and ``max_height``); else the smallest, at which the
    label ends the text in "…".

    A long name was cut to "阿卜杜热合曼…" at full size, and a long pledge after four lines,
    where smaller type would have shown them whole.
    """
    chosen = (int(u * sizes[-1][0]), max(1, sizes[-1][1]))
    for base, lines in sizes:
        size = int(u * base)
        core = measurer(size, bold)
        if max_height > 0:
            by_height = max(1, int(max_height // (core.get_extents("汉")[1] * line_height)))
            lines = min(lines, by_height) if lines else by_height
        lines = lines or 1
        chosen = (size, lines)
        if not text or width <= 1:
            return chosen
        if len(break_lines(text, width, lambda s, core=core: core.get_extents(s)[0]).split("\n")) <= lines:
            return chosen
    return chosen


class IdleScreen(KioskScreen):
    NAME_SIZES, PLEDGE_SIZES, PLEDGE_SHARE = NAME_SIZES, PLEDGE_SIZES, PLEDGE_SHARE
    fit_size = staticmethod(fit_size)

    @staticmethod
    def text_width(text: str, font_size: float, bold: bool = False) -> float:
        """``text``'s width on one line (plus a pixel: a hair less would wrap it)."""
        return text_width(text, font_size, bold) + 1 if text else 0.0
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
        rows, shown, used, more_row = self._rows, [], 0.0, None
        for i, row in enumerate(rows):
            last = i == len(rows) - 1 and self._total == len(rows)
            # the "and N more" line measured as it will show: it took two lines where one
            # was counted, and the column went up over its card's top edge
            after = None if last else self._laid_out(
                ServiceItemRow(name=self.app.tr("idle.more_items", n=self._total - i - 1)), box.width)
            more = after.height if after is not None else 0.0
            if used + self._laid_out(row, box.width).height + more > free and i:
                break
            shown.append(row)
            used += row.height
            more_row = after
        if len(shown) < self._total:   # items 9 and 10 were left out without a word
            shown.append(more_row)
        self._show(shown)

    @staticmethod
    def _laid_out(row: ServiceItemRow, width: float) -> ServiceItemRow:
        """``row`` at ``width`` with its height (a row not shown has not been laid out)."""
        row.width = width
        row.do_layout()
        for label in row.children:
            label.texture_update()
        return row


Builder.load_file(str(Path(__file__).with_suffix(".kv")))
