"""Central aggregation server of the counter satisfaction kiosk (窗口服务好差评)."""

from .app import create_app
from .settings import Settings

__all__ = ["create_app", "Settings"]
