"""Names and places of real users render in the kiosk's font, not as empty boxes.

The shipped font was a GB2312 subset: the reviewer's 陈喆赟 showed as "陈□□" on the idle screen
(亮身份: who serves here), the post （珺昇堃） as three boxes and 武汉市硚口区 as "武汉市□口区".
Each character is checked twice: the font maps it (its cmap), and Kivy's real text renderer
(SDL_ttf, as every Label draws) draws it differently from the .notdef box that a code point
the font lacks gets.
"""

from __future__ import annotations

import pytest
from fontTools.ttLib import TTFont
from kivy.base import EventLoop
from kivy.core.text import Label as CoreLabel

from kiosk.fonts import font_ranges, undrawable
from kiosk.screens.common import FONT_BOLD, FONT_REGULAR

NAMES = ("陈喆赟", "武汉市硚口区", "（珺昇堃）")
# The rest of the reported characters outside GB2312: given names and place names (龑 is a
# given name outside even the 通用规范汉字表; 𬭎 one of its characters beyond the BMP).
RARE = "燊犇龑镕玥祎璟垚彧晞旻埇浉𬭎"
NOTDEF = "\U000F0000"   # a private-use code point no font of ours maps: drawn as .notdef
ALSO_MISSING = "\U000F0001"
FONTS = pytest.mark.parametrize("font", [FONT_REGULAR, FONT_BOLD], ids=["regular", "bold"])


def _pixels(text: str, font) -> bytes:
    label = CoreLabel(text=text, font_name=str(font), font_size=40, color=(1, 1, 1, 1))
    label.refresh()
    return bytes(label.texture.pixels)


@pytest.fixture(scope="module", autouse=True)
def window():
    EventLoop.ensure_window()


@FONTS
def test_the_font_maps_every_character_of_the_reported_names(font):
    cmap = TTFont(str(font), lazy=True)["cmap"].getBestCmap()
    missing = [f"{ch} U+{ord(ch):04X}" for ch in "".join(NAMES) + RARE if ord(ch) not in cmap]
    assert missing == [], f"{font.name} has no glyph for {missing}"


@FONTS
def test_a_label_draws_each_character_of_the_names_not_the_notdef_box(font):
    box = _pixels(NOTDEF, font)
    # the comparison can tell: the box has ink, and another missing code point draws the same
    assert any(box[3::4]), "the .notdef box drew nothing"
    assert _pixels(ALSO_MISSING, font) == box
    boxes = [ch for ch in "".join(NAMES) + RARE if _pixels(ch, font) == box]
    assert boxes == [], f"{font.name} draws {boxes} as the empty box"


def test_a_whole_name_renders_unlike_the_name_with_boxes():
    # the label as the badge screen shows it: 陈喆赟 must not be 陈 and two boxes
    drawn = _pixels("陈喆赟", FONT_REGULAR)
    boxed = _pixels("陈" + NOTDEF * 2, FONT_REGULAR)
    assert drawn != boxed


def test_the_character_list_shipped_with_the_font_is_what_the_fonts_draw():
    # check-config and the app warn from this list (no fontTools at run time): a list older
    # than the font would warn of drawable names, or stay silent about boxes
    starts, ends = font_ranges()
    listed = {cp for lo, hi in zip(starts, ends) for cp in range(lo, hi + 1)}
    drawn = set(TTFont(str(FONT_REGULAR), lazy=True)["cmap"].getBestCmap())
    drawn &= set(TTFont(str(FONT_BOLD), lazy=True)["cmap"].getBestCmap())
    assert listed == drawn
    assert undrawable("".join(NAMES) + RARE) == ""
    assert undrawable("张" + NOTDEF) == NOTDEF


def test_the_font_keeps_only_the_layout_features_horizontal_text_uses():
    # Why: SDL_ttf (FreeType, HarfBuzz) copies the cmap and the GSUB/GPOS tables into memory
    # for every open face, one per font size. Built with every feature (locl's Japanese and
    # Korean forms, vertical and width variants), this character set cost ~600 KB per face
    # against ~190 KB, and pushed the kiosk's idle RSS past its 150 MB target.
    font = TTFont(str(FONT_REGULAR), lazy=True)
    features = {rec.FeatureTag for tag in ("GSUB", "GPOS") if tag in font
                for rec in font[tag].table.FeatureList.FeatureRecord}
    assert features <= {"ccmp", "liga", "kern", "mark", "mkmk"}
    assert "vmtx" not in font and font["maxp"].numGlyphs < 1.01 * len(font.getBestCmap())
