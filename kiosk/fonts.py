"""Which texts the kiosk's font cannot draw (the font's coverage).

Names and places outside the shipped font's characters (陈喆赟 with the old GB2312 subset)
showed as empty boxes on the screens citizens see, with no word to anyone. The font's
characters are listed next to it by tools/make_font.py as hex ranges: reading them costs
neither fontTools (a test dependency only) nor the font file. ``kiosk check-config`` warns of
each text it cannot draw (``font_gap_warnings``), the app logs them once (``log_font_gaps``).

>>> undrawable("陈喆赟 W-1", ([0x20, 0x2D, 0x30, 0x41, 0x9648], [0x20, 0x2D, 0x39, 0x5A, 0x9648]))
'喆赟'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .config import Config

FONT_CHARS_FILE = "NotoSansSC-Kiosk.chars.txt"

# The texts of a config that the screens show (config.yaml's and the server's device config
# share these names): window and unit, and each staff member's and service item's fields.
SHOWN_WINDOW_FIELDS = ("name", "unit_name", "hotline")
SHOWN_STAFF_FIELDS = ("name", "staff_no", "post", "pledge")
SHOWN_ITEM_FIELDS = ("name", "time_limit")


def font_chars_path() -> Path:
    try:  # installed: the top-level assets/ folder is the package kiosk_assets (setup.py)
        from kiosk_assets import ASSETS_DIR
    except ImportError:  # pragma: no cover - a source tree without the editable install
        ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"
    return Path(ASSETS_DIR) / "fonts" / FONT_CHARS_FILE


_FONT_RANGES: dict[Path, tuple[list[int], list[int]]] = {}


def font_ranges(path: Path | None = None) -> tuple[list[int], list[int]]:
    """(starts, ends) of the code point ranges the kiosk's font draws, read once from the
    list tools/make_font.py writes (``4E00-9FFF`` or ``3007`` a line, ``#`` comments)."""
    path = path or font_chars_path()
    if path not in _FONT_RANGES:
        starts: list[int] = []
        ends: list[int] = []
        for line in path.read_text(encoding="ascii").splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                lo, _, hi = line.partition("-")
                starts.append(int(lo, 16))
                ends.append(int(hi or lo, 16))
        _FONT_RANGES[path] = (starts, ends)
    return _FONT_RANGES[path]


def undrawable(text: str, ranges: tuple[list[int], list[int]] | None = None) -> str:
    """The characters of ``text`` the kiosk's font has no glyph for, each once, in order
    (spaces and control characters are not drawn and do not count).

    >>> undrawable("陈喆赟 W-1", ([0x20, 0x2D, 0x30, 0x41, 0x9648], [0x20, 0x2D, 0x39, 0x5A, 0x9648]))
    '喆赟'
    """
    from bisect import bisect_right

    starts, ends = ranges or font_ranges()
    out: list[str] = []
    for ch in text:
        cp = ord(ch)
        if ch.isspace() or cp < 0x20 or ch in out:
            continue
        i = bisect_right(starts, cp) - 1
        if i < 0 or cp > ends[i]:
            out.append(ch)
    return "".join(out)


def shown_texts(config: Any) -> list[tuple[str, str]]:
    """(field, text) of every text the screens show from a config: a ``Config`` from
    config.yaml or the server's device config (a dict); fields named as in the file
    (``roster[2].name``). Values of the wrong shape are skipped (validation says why)."""
    if isinstance(config, Config):
        config = {"window": vars(config.window), "roster": config.roster,
                  "service_items": config.service_items}
    if not isinstance(config, dict):
        return []
    out: list[tuple[str, str]] = []
    window = config.get("window")
    if isinstance(window, dict):
        out += [(f"window.{k}", window[k]) for k in SHOWN_WINDOW_FIELDS
                if isinstance(window.get(k), str)]
    for section, fields in (("roster", SHOWN_STAFF_FIELDS), ("service_items", SHOWN_ITEM_FIELDS)):
        rows = config.get(section)
        for i, row in enumerate(rows if isinstance(rows, list) else []):
            if isinstance(row, dict):
                out += [(f"{section}[{i}].{k}", row[k]) for k in fields
                        if isinstance(row.get(k), str)]
    return out


def font_gaps(config: Any, ranges: tuple[list[int], list[int]] | None = None
              ) -> list[tuple[str, str, str]]:
    """(field, text, characters) for each shown text with characters the font cannot draw."""
    gaps = []
    for name, text in shown_texts(config):
        missing = undrawable(text, ranges)
        if missing:
            gaps.append((name, text, missing))
    return gaps


def font_gap_warning(name: str, text: str, missing: str) -> str:
    chars = "、".join(missing)
    codes = ", ".join(f"{ch} U+{ord(ch):04X}" for ch in missing)
    return (f"{name} {text!r} 中的 {chars} 字体里没有，屏幕上会显示为空方框；请告知维护方"
            f"扩充字体（tools/make_font.py） ({name} {text!r} has characters the kiosk's font "
            f"cannot draw: {codes}; they show as empty boxes; the font is made by "
            "tools/make_font.py)")


def font_gap_warnings(config: Any, lines: dict[str, int] | None = None,
                      ranges: tuple[list[int], list[int]] | None = None) -> list[str]:
    """The warnings of ``font_gaps``, each with its config.yaml line when ``lines`` has it.
    One warning saying so when the font's character list cannot be read."""
    try:
        gaps = font_gaps(config, ranges)
    except (OSError, ValueError) as exc:
        return [f"字体字符表 {font_chars_path()} 读不到，无法检查姓名能否显示 (cannot read the "
                f"font's character list, so names are not checked: {exc}; run "
                "tools/make_font.py)"]
    lines = lines or {}
    return [(f"line {lines[name]}: " if name in lines else "")
            + font_gap_warning(name, text, missing) for name, text, missing in gaps]


_LOGGED_GAPS: set[tuple[str, str]] = set()


def log_font_gaps(config: Any, source: str, logger: Any = None) -> int:
    """Log a warning for each shown text the font cannot fully draw, once per process for the
    same field and text (a config re-applied at every sync says it once); how many logged."""
    import logging

    logger = logger or logging.getLogger("kiosk.font")
    try:
        gaps = font_gaps(config)
    except (OSError, ValueError) as exc:
        logger.warning("cannot read the font's character list %s: %s", font_chars_path(), exc)
        return 0
    logged = 0
    for name, text, missing in gaps:
        if (name, text) in _LOGGED_GAPS:
            continue
        _LOGGED_GAPS.add((name, text))
        logger.warning("%s: %s", source, font_gap_warning(name, text, missing))
        logged += 1
    return logged
