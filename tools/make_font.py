"""Build the kiosk's Simplified-Chinese font subset from Debian's Noto Sans CJK.

    apt-get install fonts-noto-cjk unicode-data      # build time only; CI uses the shipped files
    .venv/bin/python tools/make_font.py [--source /usr/share/fonts/opentype/noto]
                                        [--unihan /usr/share/unicode/Unihan_OtherMappings.txt.bz2]

Takes the "Noto Sans CJK SC" face out of NotoSansCJK-{Regular,Bold}.ttc (the face is found
by its name table, not by index) and keeps every character of it that is in

* the whole CJK Unified Ideographs block U+4E00-U+9FFF (the 20,976 of it the SC face draws:
  GBK's hanzi and more);
* the 通用规范汉字表 (Table of General Standard Chinese Characters, 2013, 8,105 characters),
  read from the kTGH field of Unicode's Unihan database (Debian package unicode-data): its
  273 characters outside that block (Extension A, and 196 beyond the BMP such as 𬭎);
* GB2312 (its 6,763 hanzi and its symbols), ASCII, Latin-1, general, CJK and fullwidth
  punctuation and the symbols the screens use (★☆✓ …);

and writes assets/fonts/NotoSansSC-Kiosk-{Regular,Bold}.otf, the characters both draw as
assets/fonts/NotoSansSC-Kiosk.chars.txt (hex ranges; what `kiosk check-config` and the app
check names against, without fontTools), and the SIL OFL 1.1 text as OFL.txt.

Why so wide: staff and place names use characters outside GB2312 (陈喆赟, 武汉市硚口区,
（珺昇堃）) that showed as empty boxes; 龑 (a given name) is not even in the 通用规范汉字表.

Why it costs no memory: the kiosk's text (SDL_ttf, FreeType and HarfBuzz) reads the font file
as a stream, not mapped or whole, but copies the cmap and the layout tables (GSUB, GPOS) into
memory once per open face, and Kivy opens one face per font size. Only the layout features the
kiosk's horizontal text uses are kept (ccmp, liga, kern, mark, mkmk): the others (locl's
Japanese, Korean and traditional forms, vertical and width variants) nearly doubled the glyphs
and the tables. So this 22,000-character subset costs ~190 KB of resident memory per open face, less
than the old GB2312 one with every feature (~290 KB; ~600 KB for this one with every feature).

Needs: fonttools (a test dependency), and the Debian packages fonts-noto-cjk and unicode-data.
"""

from __future__ import annotations

import argparse
import bz2
import re
import sys
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTCollection, TTFont

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "assets" / "fonts"
FACE = "Noto Sans CJK SC"
LICENCE_SOURCE = Path("/usr/share/doc/fonts-noto-cjk/copyright")
UNIHAN = Path("/usr/share/unicode/Unihan_OtherMappings.txt.bz2")   # Debian package unicode-data
CHARS = "NotoSansSC-Kiosk.chars.txt"
# The OpenType features HarfBuzz applies to the kiosk's horizontal text that the face has; the
# rest are never applied here and each kept glyphs and table bytes (see the docstring).
FEATURES = ["ccmp", "liga", "kern", "mark", "mkmk"]

# Symbols the screens draw as text, beyond GB2312's own.
EXTRA = "★☆✓✔✗✕●○◎◆◇■□▲△▼▽←→↑↓·•…—–‘’“”‹›«»©®™°±×÷€¥￥"


def gb2312() -> set[int]:
    """Every GB2312 code point: its 6,763 hanzi and its symbols."""
    chars: set[int] = set()
    for hi in range(0xA1, 0xF8):
        for lo in range(0xA1, 0xFF):
            try:
                chars.add(ord(bytes((hi, lo)).decode("gb2312")))
            except UnicodeDecodeError:
                pass
    return chars


def general_standard(unihan: Path) -> set[int]:
    """The 通用规范汉字表's 8,105 characters: those with a kTGH field in Unihan."""
    try:
        with bz2.open(unihan, "rt", encoding="utf-8") as fh:
            chars = {int(fields[0][2:], 16) for line in fh if line.startswith("U+")
                     and (fields := line.split("\t"))[1] == "kTGH"}
    except OSError as exc:
        raise SystemExit(f"{unihan}: {exc} (apt-get install unicode-data)") from None
    if len(chars) != 8105:
        raise SystemExit(f"{unihan}: {len(chars)} characters with kTGH, expected 8,105")
    return chars


def wanted_characters(unihan: Path = UNIHAN) -> set[int]:
    chars: set[int] = set(range(0x20, 0x7F)) | set(range(0xA0, 0x100))
    chars |= set(range(0x3000, 0x3040))        # CJK symbols and punctuation
    chars |= set(range(0xFF01, 0xFF5F))        # fullwidth forms
    chars |= set(range(0x2010, 0x2040))        # general punctuation
    chars |= {ord(c) for c in EXTRA}
    chars |= set(range(0x4E00, 0xA000))        # CJK Unified Ideographs (what the face maps)
    chars |= general_standard(unihan)
    chars |= gb2312()
    return chars


def ranges(code_points: set[int]) -> list[str]:
    """``code_points`` as sorted hex ranges: ``4E00-9FFF`` or ``3007``."""
    out: list[str] = []
    run: list[int] = []
    for cp in sorted(code_points):
        if run and cp == run[1] + 1:
            run[1] = cp
            continue
        if run:
            out.append(f"{run[0]:04X}" if run[0] == run[1] else f"{run[0]:04X}-{run[1]:04X}")
        run = [cp, cp]
    if run:
        out.append(f"{run[0]:04X}" if run[0] == run[1] else f"{run[0]:04X}-{run[1]:04X}")
    return out


def write_chars(fonts: list[Path]) -> Path:
    """List the characters every one of ``fonts`` draws (their cmaps), as ranges."""
    drawn: set[int] | None = None
    for path in fonts:
        cmap = set(TTFont(str(path))["cmap"].getBestCmap())
        drawn = cmap if drawn is None else drawn & cmap
    target = OUT / CHARS
    target.write_text(
        "# The characters NotoSansSC-Kiosk-{Regular,Bold}.otf draw, as hex code point ranges.\n"
        "# Written by tools/make_font.py with the fonts; read by kiosk/fonts.py (font_ranges)\n"
        f"# to warn of names the screens would show as empty boxes. {len(drawn or ())} characters.\n"
        + "".join(f"{r}\n" for r in ranges(drawn or set())), encoding="ascii")
    return target


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
    options.layout_features = FEATURES
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.notdef_outline = True
    options.drop_tables += ["DSIG", "vhea", "vmtx", "VORG"]   # vertical text: never drawn
    # Subroutines inlined (the outlines are the same): FreeType keeps a CFF font's subroutines
    # in memory for every open face, and Kivy opens one face per font size, so each size cost
    # ~0.8 MB of the kiosk's resident memory with them and ~0.3 MB without (the file grows ~5 %).
    options.desubroutinize = True
    sub = subset.Subsetter(options)
    sub.populate(unicodes=sorted(chars))
    sub.subset(font)
    # Windows' Unicode subtables only: the Unicode platform's were the same again, and
    # FreeType copies the whole cmap into memory for every open face.
    font["cmap"].tables = [t for t in font["cmap"].tables if t.platformID == 3]
    OUT.mkdir(parents=True, exist_ok=True)
    target = OUT / f"NotoSansSC-Kiosk-{weight}.otf"
    font.save(str(target))
    return target


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", type=Path, default=Path("/usr/share/fonts/opentype/noto"))
    p.add_argument("--unihan", type=Path, default=UNIHAN,
                   help="Unihan_OtherMappings.txt(.bz2), for the kTGH field (default: %(default)s)")
    args = p.parse_args(argv)
    chars = wanted_characters(args.unihan)
    built = []
    for weight in ("Regular", "Bold"):
        target = build(args.source, weight, chars)
        built.append(target)
        print(f"{target.relative_to(ROOT)}: {target.stat().st_size / 1e6:.1f} MB")
    listed = write_chars(built)
    print(f"{listed.relative_to(ROOT)} written")
    (OUT / "OFL.txt").write_text(licence_text(), encoding="utf-8")
    print(f"{(OUT / 'OFL.txt').relative_to(ROOT)} written ({len(chars)} code points requested)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
