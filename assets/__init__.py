"""Fonts, images and voice prompts of the kiosk, installed as the package ``kiosk_assets``."""

from pathlib import Path

ASSETS_DIR = Path(__file__).parent
