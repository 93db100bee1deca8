"""Structured logs: one JSON object per line on stderr, and an access-log middleware."""

from __future__ import annotations

import json
import logging
import sys
import time

from .db import utcnow

log = logging.getLogger("aggregator")


class JsonLines(logging.Formatter):
    """Format a record as one JSON line; ``extra={"fields": {...}}`` adds keys."""

    def format(self, record: logging.LogRecord) -> str:
        out = {"time": utcnow().isoformat(), "level": record.levelname.lower(),
               "logger": record.name, "message": record.getMessage()}
        out.update(getattr(record, "fields", {}) or {})
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


class _Stderr(logging.StreamHandler):
    """A handler writing to whatever ``sys.stderr`` is when a record comes: one holding the
    stream of its set-up wrote to a closed file once that was replaced (a command run
    in-process, as the tests run them)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def setup(level: str = "INFO") -> None:
    """Send the aggregator's and uvicorn's logs to stderr as JSON lines (idempotent)."""
    handler = _Stderr()
    handler.setFormatter(JsonLines())
    for name in ("aggregator", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False
    logging.getLogger("uvicorn.access").disabled = True  # replaced by AccessLog


def uvicorn_log_config() -> dict:
    return {"version": 1, "disable_existing_loggers": False,
            "formatters": {"json": {"()": "aggregator.logs.JsonLines"}},
            "handlers": {"err": {"class": "logging.StreamHandler", "formatter": "json",
                                 "stream": "ext://sys.stderr"}},
            "loggers": {"uvicorn": {"handlers": ["err"], "level": "INFO", "propagate": False},
                        "uvicorn.error": {"handlers": ["err"], "level": "INFO",
                                          "propagate": False},
                        "uvicorn.access": {"handlers": [], "level": "WARNING",
                                           "propagate": False},
                        "aggregator": {"handlers": ["err"], "level": "INFO",
                                       "propagate": False}}}


class AccessLog:
    """ASGI middleware logging method, path, status, duration and device of each request.

    It is also where an unexpected error becomes its 500: ``handlers`` is the app's
    ``exception_handlers``, read when the error happens. Left to Starlette's outermost
    middleware, the 500 was sent after this log line (which said status 0), the error was
    raised again to uvicorn (a second traceback) and the connection was closed, so a kiosk's
    next request on its keep-alive connection failed too.
    """

    def __init__(self, app, handlers: dict | None = None):
        self.app = app
        self.handlers = handlers if handlers is not None else {}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        status = [0]

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            handler = self.handlers.get(Exception)
            if status[0] or handler is None:  # the answer had begun: nothing else to send
                raise
            from starlette.requests import Request

            response = await handler(Request(scope, receive), exc)
            await response(scope, receive, send_wrapper)
        finally:
            device = dict(scope.get("headers") or []).get(b"x-device-id", b"").decode("latin-1")
            log.info("request", extra={"fields": {
                "method": scope["method"], "path": scope["path"], "status": status[0],
                "ms": round((time.perf_counter() - start) * 1000, 2),
                "device": device[:64] or None}})
