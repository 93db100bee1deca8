"""Errors of the aggregator. Each maps to one HTTP status and a stable ``error`` code.

>>> BadRequest("events[3].seq must be an integer, got 'x'", field="events[3].seq").status
400

``detail_args`` keeps what ``detail`` says as a message name (``msg``) and its values, for a
page in its reader's language (the dashboard's ``i18n_problems.py``); the JSON answer and the
command line give the English ``detail`` and never these.
"""

from __future__ import annotations


class AggregatorError(Exception):
    """Base class: a request or command the aggregator refuses, with a clear message."""

    status = 500
    code = "internal"

    def __init__(self, detail: str, *, field: str | None = None, code: str | None = None,
                 extra: dict | None = None, detail_args: dict | None = None):
        super().__init__(detail)
        self.detail = detail
        self.field = field
        if code:
            self.code = code
        self.extra = extra or {}
        self.detail_args = detail_args or {}   # not in ``body``: see the module's docstring

    def body(self) -> dict:
        out = {"error": self.code, "detail": self.detail}
        if self.field:
            out["field"] = self.field
        out.update(self.extra)
        return out


class BadRequest(AggregatorError):
    """Malformed request: bad JSON, a missing or wrongly typed field."""

    status = 400
    code = "bad_request"

    @classmethod
    def of_validation(cls, errors: list) -> "BadRequest":
        """The first of FastAPI's request-validation ``errors``, named by its field."""
        first = (errors or [{}])[0]
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path",
                                                                  "header")]
        field = ".".join(loc) or None
        return cls(f"{field or 'request'}: {first.get('msg', 'invalid')}, "
                   f"got {str(first.get('input'))[:80]!r}", field=field)


class Unauthorized(AggregatorError):
    """Bad signature, unknown or revoked device, replayed nonce, clock skew, bad admin token."""

    status = 401
    code = "unauthorized"


class Forbidden(AggregatorError):
    """The caller is known but may not do this."""

    status = 403
    code = "forbidden"


class NotFound(AggregatorError):
    """No such object."""

    status = 404
    code = "not_found"


class Conflict(AggregatorError):
    """The request clashes with what is stored (a device id enrolled already)."""

    status = 409
    code = "conflict"


class Gone(AggregatorError):
    """The object existed but is used up or expired (enrolment codes)."""

    status = 410
    code = "gone"


class TooLarge(AggregatorError):
    """Body, decompressed body or batch over its limit."""

    status = 413
    code = "too_large"


class UnsupportedEncoding(AggregatorError):
    """A Content-Encoding other than gzip or identity."""

    status = 415
    code = "unsupported_encoding"


class RateLimited(AggregatorError):
    """Too many requests from one client; retry later."""

    status = 429
    code = "rate_limited"


class StorageFull(AggregatorError):
    """The database's disk is full: nothing of the request was stored; retry later."""

    status = 503
    code = "storage_full"


class DatabaseUnavailable(AggregatorError):
    """The database cannot be reached now: nothing of the request was stored; retry later."""

    status = 503
    code = "database_unavailable"


class ConfigError(AggregatorError):
    """A setting or command-line value is wrong."""

    status = 500
    code = "config_error"
