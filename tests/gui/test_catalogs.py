"""Screen texts: both catalogs complete and consistent, and every character in the bundled font."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from fontTools.ttLib import TTFont

from kiosk import constants as C
from kiosk.i18n import LANGUAGES, Translator, catalog, placeholders

REPO = Path(__file__).resolve().parent.parent.parent
FONTS = REPO / "assets" / "fonts"
SCREENS = REPO / "kiosk" / "screens"


def test_both_catalogs_have_the_same_keys():
    zh, en = catalog("zh_CN"), catalog("en")
    assert set(zh) - set(en) == set(), "keys missing in en.json"
    assert set(en) - set(zh) == set(), "keys missing in zh_CN.json"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_no_empty_text_and_same_placeholders(lang):
    zh = catalog("zh_CN")
    for key, text in catalog(lang).items():
        assert text.strip(), f"{lang}: {key} is empty"
        assert placeholders(text) == placeholders(zh[key]), f"{lang}: {key} fields differ from zh_CN"


def test_every_level_and_reason_has_a_text():
    for lang in LANGUAGES:
        texts = catalog(lang)
        for level in C.LEVELS_5:
            assert f"level.{level}" in texts
        for codes in C.REASONS.values():
            for code in codes:
                assert f"reason.{code}" in texts


def test_level_names_follow_the_national_scale():
    tr = Translator("zh_CN")
    assert [tr.level(k) for k in C.LEVELS_5] == ["非常满意", "满意", "基本满意", "不满意", "非常不满意"]


def test_every_key_used_in_kv_and_python_exists():
    used = set()
    for path in list(SCREENS.glob("*.kv")) + list(SCREENS.glob("*.py")) + [REPO / "kiosk" / "app.py"]:
        used |= set(re.findall(r"""tr\(\s*["']([a-z_]+\.[a-z_.]+)["']""", path.read_text(encoding="utf-8")))
    assert used, "the pattern found no keys: the test would be empty"
    missing = used - set(catalog("zh_CN"))
    assert not missing


def test_kv_files_hold_no_hard_coded_chinese_text():
    for path in SCREENS.glob("*.kv"):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"[\u4e00-\u9fff]", line) and not line.strip().startswith("#"):
                pytest.fail(f"{path.name} line {n}: user text belongs in kiosk/locale/: {line.strip()}")


def _cmap(path: Path) -> set[int]:
    font = TTFont(str(path), lazy=True)
    return set(font.getBestCmap())


def _strings_of(node) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings_of(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings_of(v)]
    return []


@pytest.mark.parametrize("weight", ["Regular", "Bold"])
def test_every_character_of_the_catalogs_and_the_sample_config_is_in_the_font(weight):
    cmap = _cmap(FONTS / f"NotoSansSC-Kiosk-{weight}.otf")
    texts = [t for lang in LANGUAGES for t in catalog(lang).values()]
    texts += _strings_of(yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8")))
    texts += ["★☆●—·…←", "138****1234", "0123456789"]
    missing = sorted({ch for text in texts for ch in text if ord(ch) >= 32 and ord(ch) not in cmap})
    assert not missing, f"no glyph (tofu) for: {''.join(missing)}"


def test_font_is_the_simplified_chinese_face_with_its_licence():
    font = TTFont(str(FONTS / "NotoSansSC-Kiosk-Regular.otf"), lazy=True)
    assert font["name"].getDebugName(1) == "Noto Sans CJK SC"
    licence = (FONTS / "OFL.txt").read_text(encoding="utf-8")
    assert "SIL OPEN FONT LICENSE Version 1.1" in licence


@pytest.mark.parametrize("weight", ["Regular", "Bold"])
def test_every_literal_text_in_kv_is_in_the_font(weight):
    # A "−" (U+2212) on the technician steppers showed as a box: the subset has no such glyph.
    import re

    cmap = _cmap(FONTS / f"NotoSansSC-Kiosk-{weight}.otf")
    missing = set()
    for kv in (REPO / "kiosk" / "screens").glob("*.kv"):
        for literal in re.findall(r'\btext:\s*"([^"]*)"', kv.read_text(encoding="utf-8")):
            missing |= {f"{kv.name}: {ch!r}" for ch in literal if ord(ch) not in cmap and not ch.isspace()}
    assert not missing, sorted(missing)
