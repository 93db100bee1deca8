"""Shared look and widgets of the kiosk screens: font, colours, buttons, chips, keypad, QR code.

Importing this module registers the bundled Simplified-Chinese font as Kivy's default font
(so every Label, Button and TextInput can draw 汉字) and loads ``common.kv`` once.
"""

from __future__ import annotations

import logging
from pathlib import Path

from kivy.core.text import DEFAULT_FONT, LabelBase
from kivy.factory import Factory
from kivy.graphics.texture import Texture
from kivy.lang import Builder
from kivy.properties import (
    BooleanProperty,
    ColorProperty,
    ListProperty,
    NumericProperty,
    ObjectProperty,
    StringProperty,
)
from kivy.uix.behaviors import ButtonBehavior, ToggleButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout
from kivy.uix.image import Image
from kivy.uix.label import Label
from kivy.uix.screenmanager import Screen

from ..constants import FACES, rgb
from .text import break_lines

log = logging.getLogger(__name__)

try:  # installed: the top-level assets/ folder is the package kiosk_assets (setup.py)
    from kiosk_assets import ASSETS_DIR
except ImportError:  # pragma: no cover - a source tree without the editable install
    ASSETS_DIR = Path(__file__).resolve().parent.parent.parent / "assets"

FONTS_DIR = ASSETS_DIR / "fonts"
IMAGES_DIR = ASSETS_DIR / "images"
SOUNDS_DIR = ASSETS_DIR / "sounds"
FONT_REGULAR = FONTS_DIR / "NotoSansSC-Kiosk-Regular.otf"
FONT_BOLD = FONTS_DIR / "NotoSansSC-Kiosk-Bold.otf"
AVATAR = IMAGES_DIR / "avatar.png"

# The type scale of every screen: kv font sizes are int(app.u * N) with N from here. Kivy keeps
# one open FreeType face per (font, size), ~0.3 MB each even for a size used once, so the
# screens share these few sizes (21 faces open at idle before, 10 now); tests/gui/test_memory.py.
TYPE_SCALE = (14, 16, 18, 22, 26, 30, 40, 56)

# Level colours, green (非常满意) → red (非常不满意), as RGBA from 0 to 1 (sync/vocabulary.py FACES).
LEVEL_COLOURS = {level: (*(c / 255 for c in rgb(colour)), 1)
                 for level, (colour, _curve) in FACES.items()}


_measurers: dict = {}


def measurer(font_size: float, bold: bool = False):
    """A core label of the kiosk's font at ``font_size`` (whole pixels), to measure text with
    (``.get_extents(text)`` → (width, height)); one per size and weight, kept: a new one at
    every evaluation of a kv rule (each chip, each header) cost ~0.6 MB at idle."""
    key = (int(font_size), bool(bold))
    core = _measurers.get(key)
    if core is None:
        from kivy.core.text import Label as CoreLabel

        core = _measurers[key] = CoreLabel(font_size=key[0], bold=key[1])
    return core


def text_width(text: str, font_size: float, bold: bool = False) -> float:
    """``text``'s width on one line in the kiosk's font (0 for no text)."""
    return measurer(font_size, bold).get_extents(text)[0] if text else 0.0


def face_image(level: str) -> str:
    return str(IMAGES_DIR / f"face_{level}.png")


def register_fonts() -> None:
    """Make the bundled font Kivy's default (DEFAULT_FONT is the name every widget uses)."""
    if FONT_REGULAR.exists():
        bold = FONT_BOLD if FONT_BOLD.exists() else FONT_REGULAR
        LabelBase.register(DEFAULT_FONT, str(FONT_REGULAR), fn_bold=str(bold))
    else:  # the kiosk still starts; Chinese would show as boxes, so say so loudly
        log.error("font %s is missing: run tools/make_font.py", FONT_REGULAR)


register_fonts()


# The light margin around a QR code, in modules: ISO/IEC 18004 asks for 4. With 2, next to the
# screen's other content, phones read it less often.
QR_QUIET_ZONE = 4


def qr_texture(data: str, border: int = QR_QUIET_ZONE) -> Texture | None:
    """A texture of the QR code of ``data``, one texel per module (scale with nearest filter),
    its quiet zone included: the texture's width is the code's width in modules."""
    if not data:
        return None
    try:
        import qrcode

        qr = qrcode.QRCode(border=border, error_correction=qrcode.constants.ERROR_CORRECT_M)
        qr.add_data(data)
        qr.make(fit=True)
        matrix = qr.get_matrix()
    except Exception:  # a QR code is a convenience: never let it break a screen
        log.exception("could not make a QR code")
        return None
    n = len(matrix)
    # Kivy textures start at the bottom row.
    buf = bytearray()
    for row in reversed(matrix):
        for dark in row:
            buf += b"\x00\x00\x00" if dark else b"\xff\xff\xff"
    tex = Texture.create(size=(n, n), colorfmt="rgb")
    tex.mag_filter = "nearest"
    tex.min_filter = "nearest"
    tex.blit_buffer(bytes(buf), colorfmt="rgb", bufferfmt="ubyte")
    return tex


class ChineseLabel(Label):
    """A Label that breaks Chinese lines as a typesetter would (``text.break_lines``): no
    "，" or "。" at the start of a line, no "（" or "“" at its end, Latin words and numbers whole.

    Registered as ``Label`` for kv below, so every ``Label:`` of the screens is one. Single-line
    (``shorten``) and markup labels are left to Kivy.
    """

    def texture_update(self, *largs) -> None:
        width = self.text_size[0]
        if width and self.text and not self.markup and not self.shorten:
            core = self._label
            core.text = break_lines(self.text, width - self.padding[0] - self.padding[2],
                                    lambda s: core.get_extents(s)[0], self.max_lines)
        super().texture_update(*largs)


Factory.unregister("Label")
Factory.register("Label", cls=ChineseLabel)


class KioskScreen(Screen):
    """Base of every screen: ``refresh()`` is called by the app when the screen is shown."""

    app = ObjectProperty(None, allownone=True)

    def refresh(self) -> None:
        pass


class RoundedBox(BoxLayout):
    bg_color = ColorProperty((1, 1, 1, 1))
    radius = NumericProperty(12)


class KButton(ButtonBehavior, Label):
    """A large flat button with rounded corners."""

    bg_color = ColorProperty((0.11, 0.31, 0.61, 1))
    radius = NumericProperty(10)


class Chip(ToggleButtonBehavior, Label):
    """A large selectable reason chip; ``code`` is the reason code."""

    code = StringProperty("")


class CheckLine(ToggleButtonBehavior, BoxLayout):
    """A tick box with its sentence; the whole line is the touch target."""

    text = StringProperty("")
    font_size = NumericProperty(16)


class Keypad(GridLayout):
    """Digits 1-9, clear, 0, back-space; dispatches ``on_digit``, ``on_back``, ``on_clear``."""

    key_font_size = NumericProperty(24)
    back_text = StringProperty("←")
    clear_text = StringProperty("C")

    __events__ = ("on_digit", "on_back", "on_clear")

    def on_digit(self, digit: str) -> None:
        pass

    def on_back(self) -> None:
        pass

    def on_clear(self) -> None:
        pass


class QRImage(Image):
    """Shows the QR code of ``data``; ``modules`` is its width in modules (quiet zone
    included, 0 without a code), for a size of whole pixels per module."""

    data = StringProperty("")
    modules = NumericProperty(0)

    def on_data(self, _instance, value: str) -> None:
        self.texture = qr_texture(value)
        self.modules = self.texture.width if self.texture is not None else 0


class FaceButton(ButtonBehavior, BoxLayout):
    """One rating face with its word and stars; ``level`` is the level key."""

    level = StringProperty("")
    word = StringProperty("")
    stars = NumericProperty(0)
    colour = ListProperty([0.5, 0.5, 0.5, 1])
    font_size = NumericProperty(20)


class StatusLine(Label):
    """The calm status line at the bottom of a screen (shown only when there is something)."""

    shown = BooleanProperty(False)


Builder.load_file(str(Path(__file__).with_suffix(".kv")))
