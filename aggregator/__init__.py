"""Central aggregation server of the counter satisfaction kiosk (窗口服务好差评)."""

from .settings import Settings

__version__ = "0.1.0"   # the distribution's (setup.py), as kiosk.__version__; a test compares

__all__ = ["create_app", "Settings", "__version__"]


def __getattr__(name: str):
    # ``create_app`` is imported when first asked for: importing FastAPI and every route made
    # each `aggregator` command (even --version) start a second slower, and a Ctrl-C in that
    # second was a traceback before the command could catch it.
    if name == "create_app":
        from .app import create_app

        globals()["create_app"] = create_app
        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
