"""Errors of the kiosk package: one base class, flat subclasses."""


class KioskError(Exception):
    """Base class of every error the kiosk raises on purpose."""


class ConfigError(KioskError):
    """The configuration file is unreadable or a setting is wrong."""

    def __init__(self, problems):
        self.problems = list(problems) if not isinstance(problems, str) else [problems]
        super().__init__("\n".join(self.problems))


class StoreError(KioskError):
    """The kiosk database could not record or read."""


class StoreFullError(StoreError):
    """The disk (or the database's size limit) is full; nothing was recorded."""


class FlowError(KioskError):
    """An action that the rating session does not allow in its current state."""
