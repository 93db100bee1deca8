"""Build the kiosk's Simplified-Chinese font subset from Debian's Noto Sans CJK.

    .venv/bin/python tools/make_font.py [--source /usr/share/fonts/opentype/noto]

Takes the "Noto Sans CJK SC" face out of NotoSansCJK-{Regular,Bold}.ttc (the face is found
by its name table, not by index), keeps GB2312 (every hanzi of GB2312 and its symbols), ASCII,
Latin-1, CJK and fullwidth punctuation and the symbols the screens use (★☆✓ …), and writes
assets/fonts/NotoSansSC-Kiosk-{Regular,Bold}.otf plus the SIL OFL 1.1 text as OFL.txt.

Needs: fonttools, and the Debian package fonts-noto-cjk (apt-get install fonts-noto-cjk).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTCollection

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "assets" / "fonts"
FACE = "Noto Sans CJK SC"
LICENCE_SOURCE = Path("/usr/share/doc/fonts-noto-cjk/copyright")

# Symbols the screens draw as text, beyond GB2312's own.
EXTRA = "★☆✓✔✗✕●○◎◆◇■□▲△▼▽←→↑↓·•…—–‘’“”‹›«»©®™°±×÷€¥￥"


def wanted_characters() -> set[int]:
    chars: set[int] = set(range(0x20, 0x7F)) | set(range(0xA0, 0x100))
    chars |= set(range(0x3000, 0x3040))        # CJK symbols and punctuation
    chars |= set(range(0xFF01, 0xFF5F))        # fullwidth forms
    chars |= set(range(0x2010, 0x2040))        # general punctuation
    chars |= {ord(c) for c in EXTRA}
    for hi in range(0xA1, 0xF8):                # every GB2312 code point (symbols + 6763 hanzi)
        for lo in range(0xA1, 0xFF):
            try:
                chars.add(ord(bytes((hi, lo)).decode("gb2312")))
            except UnicodeDecodeError:
                pass
    return chars


def find_face(ttc_path: Path):
    collection = TTCollection(str(ttc_path))
    for font in collection.fonts:
        if font["name"].getDebugName(1) == FACE:
            return font
    raise SystemExit(f"{ttc_path}: no face named {FACE!r}")


def licence_text() -> str:
    """The SIL OFL 1.1 paragraph of Debian's copyright file, unfolded from deb822 format."""
    text = LICENCE_SOURCE.read_text(encoding="utf-8")
    m = re.search(r"^License: SIL-1\.1\n((?: .*\n?)+)", text, re.M)
    if not m:
        raise SystemExit(f"{LICENCE_SOURCE}: no 'License: SIL-1.1' paragraph")
    lines = [ln[1:] if ln.startswith(" ") else ln for ln in m.group(1).splitlines()]
    body = "\n".join("" if ln == "." else ln for ln in lines).strip() + "\n"
    head = ("Noto Sans CJK SC (subset for the counter satisfaction kiosk)\n"
            "Copyright 2014-2021 Adobe (http://www.adobe.com/), with Reserved Font Name 'Source'.\n"
            "Copyright 2010-2012 Google Corporation (Debian package fonts-noto-cjk).\n"
            "Subset by tools/make_font.py; glyphs are unmodified.\n\n")
    return head + body


def build(source: Path, weight: str, chars: set[int]) -> Path:
    font = find_face(source / f"NotoSansCJK-{weight}.ttc")
    options = subset.Options()
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.notdef_outline = True
    options.drop_tables += ["DSIG"]
    # Subroutines inlined (the outlines are the same): FreeType keeps a CFF font's subroutines
    # in memory for every open face, and Kivy opens one face per font size, so each size cost
    # ~0.8 MB of the kiosk's resident memory with them and ~0.3 MB without (the file grows ~5 %).
    options.desubroutinize = True
    sub = subset.Subsetter(options)
    sub.populate(unicodes=sorted(chars))
    sub.subset(font)
    OUT.mkdir(parents=True, exist_ok=True)
    target = OUT / f"NotoSansSC-Kiosk-{weight}.otf"
    font.save(str(target))
    return target


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", type=Path, default=Path("/usr/share/fonts/opentype/noto"))
    args = p.parse_args(argv)
    chars = wanted_characters()
    for weight in ("Regular", "Bold"):
        target = build(args.source, weight, chars)
        print(f"{target.relative_to(ROOT)}: {target.stat().st_size / 1e6:.1f} MB")
    (OUT / "OFL.txt").write_text(licence_text(), encoding="utf-8")
    print(f"{(OUT / 'OFL.txt').relative_to(ROOT)} written ({len(chars)} code points requested)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
