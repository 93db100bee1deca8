"""Screen texts in Simplified Chinese (default) and English, from kiosk/locale/<lang>.json.

No Kivy here. The app holds a ``Translator`` in a Kivy property and replaces it on a language
switch, so every kv rule written ``text: app.tr('rate.title')`` updates at once.

>>> tr = Translator("en")
>>> tr("common.hotline", hotline="12345")
'Complaint hotline: 12345'
>>> Translator("zh_CN")("level.very_satisfied")
'非常满意'
"""

from __future__ import annotations

import json
import logging
import string
from functools import lru_cache
from pathlib import Path

log = logging.getLogger(__name__)

LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = ("zh_CN", "en")
DEFAULT_LANGUAGE = "zh_CN"


@lru_cache(maxsize=None)
def catalog(lang: str) -> dict[str, str]:
    """The strings of one language (read once)."""
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}; expected one of {', '.join(LANGUAGES)}")
    return json.loads((LOCALE_DIR / f"{lang}.json").read_text(encoding="utf-8"))


def placeholders(text: str) -> set[str]:
    """The ``{name}`` fields a catalog string expects."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


class Translator:
    """Look up a key in one language; a missing key or field never raises on screen.

    A key missing from the language falls back to zh_CN, then to the key itself (logged), so a
    citizen never sees a traceback, at worst a key name.
    """

    def __init__(self, lang: str = DEFAULT_LANGUAGE) -> None:
        self.lang = lang if lang in LANGUAGES else DEFAULT_LANGUAGE
        self._strings = catalog(self.lang)

    def __call__(self, key: str, **fields: object) -> str:
        text = self._strings.get(key)
        if text is None:
            text = catalog(DEFAULT_LANGUAGE).get(key)
            log.warning("no %s text for %r", self.lang, key)
            if text is None:
                return key
        if not fields:
            return text
        try:
            return text.format(**fields)
        except (KeyError, IndexError, ValueError):
            log.warning("text %r of %s needs fields %s", key, self.lang, sorted(placeholders(text)))
            return text

    def level(self, level: str) -> str:
        return self(f"level.{level}")

    def reason(self, code: str) -> str:
        return self(f"reason.{code}")

    def __repr__(self) -> str:
        return f"<Translator {self.lang}>"


def other_language(lang: str) -> str:
    """The language a one-button switch goes to."""
    return "en" if lang == "zh_CN" else "zh_CN"
