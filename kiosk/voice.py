"""The voice prompt on the rating screen: silent and harmless where no audio device exists."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


class VoicePrompt:
    """Plays assets/sounds/<name>_<lang>.wav; silent and harmless without an audio device."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._sounds: dict[str, Any] = {}

    def play(self, name: str, lang: str) -> bool:
        if not self.enabled:
            return False
        key = f"{name}_{lang}"
        try:
            if key not in self._sounds:
                from kivy.core.audio import SoundLoader

                from .screens.common import SOUNDS_DIR

                path = SOUNDS_DIR / f"{key}.wav"
                self._sounds[key] = SoundLoader.load(str(path)) if path.exists() else None
            sound = self._sounds[key]
            if sound is None:
                return False
            sound.stop()
            sound.play()
            return True
        except Exception:  # no audio device, a broken driver …: the rating goes on without sound
            log.warning("voice prompt %s could not play", key, exc_info=True)
            self._sounds[key] = None
            return False
