"""Central aggregation server of the counter satisfaction kiosk (窗口服务好差评)."""

from .app import create_app
from .settings import Settings

__version__ = "0.1.0"   # the distribution's (setup.py), as kiosk.__version__; a test compares

__all__ = ["create_app", "Settings", "__version__"]
