"""The counter satisfaction kiosk: one touchscreen per service window."""

from .config import Config, load_config
from .errors import ConfigError, FlowError, KioskError, StoreError, StoreFullError
from .flow import FlowSettings, RatingFlow
from .store import RatingStore

__version__ = "0.1.0"

__all__ = [
    "Config", "ConfigError", "FlowError", "FlowSettings", "KioskError", "RatingFlow",
    "RatingStore", "StoreError", "StoreFullError", "__version__", "load_config",
]
