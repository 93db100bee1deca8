"""Errors of the sync client: one base class, flat subclasses.

``retryable`` says whether the worker should back off and try again (the events stay in the
outbox either way); ``retry_after`` carries the server's ``Retry-After`` in seconds, if any.

>>> ServerUnavailable("HTTP 503", retry_after=30).retryable
True
"""

from __future__ import annotations


class SyncError(Exception):
    """Base class of every error the sync client raises on purpose."""

    retryable = False

    def __init__(self, message: str, *, retry_after: float | None = None, status: int | None = None,
                 code: str | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status
        self.code = code


class NotEnrolled(SyncError):
    """This kiosk has no device credential yet: enrol it with a code first."""


class CredentialsError(SyncError):
    """The saved device credential is unreadable or damaged."""


class EnrolmentFailed(SyncError):
    """The server refused the enrolment code (unknown, used, expired) or the request."""


class NotAuthorised(SyncError):
    """The server refused this device (revoked, unknown key, wrong window): sync stops."""


class AuthRejected(SyncError):
    """A 401/403 that may pass (a stripped header, a WAF's page, an unknown code): retried later."""

    retryable = True


class ServerUnavailable(SyncError):
    """No usable answer: network down, timeout, 408, 429 or 5xx; try again later."""

    retryable = True


class BadAnswer(SyncError):
    """An answer that is not the protocol's (captive portal page, no echo, truncated)."""

    retryable = True


class ClockSkew(SyncError):
    """The server still finds the device clock out of its window after a correction."""

    retryable = True


class BatchRefused(SyncError):
    """The server refused a whole batch with a 4xx the client cannot fix by itself."""

    retryable = True
