"""Colours a citizen must read, measured as WCAG contrast ratios between a text's colour and
what is drawn behind it (a reviewer's walk, #6, #8)."""

from __future__ import annotations

import re

from kivy.graphics import Color

from kiosk.screens.common import LEVEL_COLOURS
from tests.gui.test_rating_gui import _rate_button

BACKGROUND = (0.953, 0.961, 0.973)   # the screens' Background (common.kv)


def _luminance(rgb) -> float:
    def lin(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (lin(c) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a, b) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _over(colour, alpha: float, behind) -> tuple:
    return tuple(c * alpha + d * (1 - alpha) for c, d in zip(colour[:3], behind))


def _fill(widget) -> tuple:
    """The colour of the last shape ``widget`` draws before its text."""
    return [i for i in widget.canvas.before.children if isinstance(i, Color)][-1].rgba


def _star_colours(label) -> list[tuple[str, tuple]]:
    """(stars, colour) of each run of stars the label draws."""
    runs = re.findall(r"\[color=#?([0-9a-fA-F]{6})\]([★☆]*)\[/color\]", label.text)
    if not runs:
        return [(label.text, tuple(label.color))]
    return [(stars, tuple(int(h[i:i + 2], 16) / 255 for i in (0, 2, 4))) for h, stars in runs if stars]


def test_a_chosen_reason_shows_a_tick_on_a_calm_colour(kiosk):
    # A chosen chip turned alarm red: readable across the counter right after a bad rating,
    # while the screen promises that staff cannot see the citizen's choice.
    kiosk.tap(_rate_button(kiosk))
    kiosk.tap(kiosk.face("very_dissatisfied"))
    chip = kiosk.chip("attitude")
    kiosk.tap(chip)
    assert chip.state == "down"
    fill = _fill(chip)
    red = LEVEL_COLOURS["very_dissatisfied"]
    assert fill[0] < max(fill[1], fill[2]), fill   # not a red
    assert sum(abs(a - b) for a, b in zip(fill[:3], red[:3])) > 0.6
    assert contrast(chip.color, fill) >= 4.5
    assert chip.text.startswith("✓")


def test_the_reasons_stay_clear_of_their_chips_borders_in_english(kiosk):
    # "Policy not explained clearly" wrapped onto two lines that touched the chip's border.
    kiosk.app.switch_language()
    kiosk.tap(_rate_button(kiosk))
    kiosk.tap(kiosk.face("very_dissatisfied"))
    u = kiosk.app.u
    for chip in kiosk.app.root.get_screen("follow_up").ids.chips.children:
        chip.texture_update()
        assert chip.texture_size[0] <= chip.width - 2 * 10 * u, chip.text
        assert chip.texture_size[1] <= chip.height - 2 * 6 * u, chip.text
        shown = "".join("".join(w.text for w in line.words) for line in chip._label._cached_lines)
        assert shown.replace(" ", "") == chip.text.replace(" ", ""), chip.text   # no "…"


def test_the_words_and_stars_on_the_faces_are_dark_enough(kiosk):
    # "基本满意" was 2.9:1 on its tile; the outline stars 1.6-1.7:1, hard to count.
    kiosk.tap(_rate_button(kiosk))
    for face in kiosk.app.root.get_screen("rate").ids.faces.children:
        tile = _over(face.colour, 0.12, BACKGROUND)
        word = next(w for w in face.children if getattr(w, "text", None) == face.word)
        assert contrast(word.color, tile) >= 4.5, (face.level, contrast(word.color, tile))
        stars = next(w for w in face.children if "★" in getattr(w, "text", ""))
        runs = _star_colours(stars)
        assert "☆" not in stars.text   # solid stars, the level's in a darker colour
        assert contrast(runs[0][1], tile) >= 4.5, (face.level, runs)
        assert len(runs[0][0]) == face.stars


def test_the_paused_screens_hint_is_dark_enough(kiosk):
    # The hint telling staff how to sign in was 2.7:1 on the background.
    paused = kiosk.app.root.get_screen("paused")
    hint = next(w for w in paused.walk() if getattr(w, "text", None) == kiosk.app.tr("paused.hint"))
    assert contrast(hint.color, BACKGROUND) >= 4.5
