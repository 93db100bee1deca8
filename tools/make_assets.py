"""Draw the kiosk's images and record its voice prompts (run once; outputs are committed).

    .venv/bin/python tools/make_assets.py

Images (Pillow, drawn 4x and scaled down for smooth edges), all our own work, CC0:
  assets/images/face_<level>.png   the five rating faces, green (非常满意) → red (非常不满意)
  assets/images/avatar.png         neutral staff avatar shown when no photo is configured
Sounds (espeak-ng, GPL-3 program; its output is not covered by its licence):
  assets/sounds/rate_zh_CN.wav, rate_en.wav, thanks_zh_CN.wav, thanks_en.wav
The sounds are skipped with a note when espeak-ng is missing (apt-get install espeak-ng).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from PIL import Image, ImageDraw

from sync.vocabulary import FACES, rgb  # each level's colour and mouth

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "assets" / "images"
SOUNDS = ROOT / "assets" / "sounds"


PROMPTS = {
    "rate_zh_CN": ("cmn", "请您对本次服务进行评价。"),
    "rate_en": ("en-us", "Please rate our service."),
    "thanks_zh_CN": ("cmn", "感谢您的评价。"),
    "thanks_en": ("en-us", "Thank you for your rating."),
}


def face(colour: tuple[int, int, int], curve: float, size: int = 512) -> Image.Image:
    s = size * 4
    img = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    pad = s * 0.03
    d.ellipse((pad, pad, s - pad, s - pad), fill=colour + (255,))
    dark = (40, 40, 40, 255)
    ey, ex, er = s * 0.38, s * 0.17, s * 0.065
    for cx in (s / 2 - ex, s / 2 + ex):
        d.ellipse((cx - er, ey - er * 1.25, cx + er, ey + er * 1.25), fill=dark)
    # mouth: a thick arc (smile) or inverted arc (frown); flat line when neutral
    w = int(s * 0.055)
    left, right, my = s * 0.28, s * 0.72, s * 0.66
    if abs(curve) < 0.05:
        d.line((left, my, right, my), fill=dark, width=w)
        for x in (left, right):
            d.ellipse((x - w / 2, my - w / 2, x + w / 2, my + w / 2), fill=dark)
    else:
        h = s * 0.22 * abs(curve)
        if curve > 0:
            box = (left, my - h, right, my + h)
            d.arc(box, 20, 160, fill=dark, width=w)
        else:
            box = (left, my + s * 0.02, right, my + s * 0.02 + 2 * h)
            d.arc(box, 200, 340, fill=dark, width=w)
    return img.resize((size, size), Image.LANCZOS)


def avatar(size: int = 480) -> Image.Image:
    s = size * 4
    img = Image.new("RGBA", (s, int(s * 1.25)), (226, 232, 240, 255))
    d = ImageDraw.Draw(img)
    grey = (160, 174, 192, 255)
    d.ellipse((s * 0.30, s * 0.22, s * 0.70, s * 0.62), fill=grey)
    d.ellipse((s * 0.10, s * 0.70, s * 0.90, s * 1.60), fill=grey)
    return img.resize((size, int(size * 1.25)), Image.LANCZOS)


def main() -> int:
    IMAGES.mkdir(parents=True, exist_ok=True)
    for level, (colour, curve) in FACES.items():
        face(rgb(colour), curve).save(IMAGES / f"face_{level}.png", optimize=True)
    avatar().save(IMAGES / "avatar.png", optimize=True)
    print(f"images written to {IMAGES.relative_to(ROOT)}")
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        print("espeak-ng not found: voice prompts not rebuilt (apt-get install espeak-ng)")
        return 0
    SOUNDS.mkdir(parents=True, exist_ok=True)
    for name, (voice, text) in PROMPTS.items():
        subprocess.run([espeak, "-v", voice, "-s", "140", "-w", str(SOUNDS / f"{name}.wav"), text], check=True)
    print(f"voice prompts written to {SOUNDS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
