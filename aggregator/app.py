"""The FastAPI application: ``create_app(database_url, settings=…)``.

>>> app = create_app("sqlite://")
>>> app.title
'Counter satisfaction aggregator'
"""

from __future__ import annotations

import logging

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from . import api_admin, api_device, dashboard, metrics, qr_page
from .dashboard import devices as dashboard_devices
from .db import database_disk_free, database_refusal, dialect_name, make_engine
from .errors import AggregatorError, BadRequest
from .headers import SecurityHeaders
from .logs import AccessLog
from .migrations import migrate
from .settings import Settings
from .validation import unstorable_text

log = logging.getLogger("aggregator")

# Below this much free space under the SQLite database, /healthz answers 503 storage_full: a
# batch of 500 ratings and its WAL pages need about this much.
HEALTHZ_MIN_FREE_BYTES = 4 * 1024 * 1024


def create_app(database_url: str, *, settings: Settings | None = None,
               run_migrations: bool = True) -> FastAPI:
    """The aggregator app on ``database_url`` (``sqlite:///path`` or ``postgresql://…``)."""
    settings = settings or Settings()
    engine = make_engine(database_url)
    if run_migrations:
        migrate(engine)
    app = FastAPI(title="Counter satisfaction aggregator", version="0.1.0",
                  description="Central aggregation server of the counter satisfaction kiosk "
                              "(窗口服务好差评). Wire protocol: docs/protocol.md.",
                  dependencies=[Depends(storable_parameters)])
    app.state.engine = engine
    app.state.settings = settings
    app.include_router(api_device.router)
    app.include_router(api_admin.router)
    app.include_router(qr_page.router)
    _install_error_handlers(app)
    dashboard.mount(app)  # /dashboard (sign-in) and /public pages; wraps the error handlers
    app.include_router(dashboard_devices.router)  # POST /dashboard/devices/{id}/sync-now

    @app.get("/healthz", tags=["ops"])
    async def healthz():
        """Liveness, database reachability, and room on the SQLite database's disk."""
        def ping():
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        try:
            await run_in_threadpool(ping)
        except Exception as exc:  # any driver error means "database unreachable"
            # the driver's error (host, port, user) goes to the log, not to whoever asks
            log.warning("healthz: database unreachable", extra={"fields": {"error": str(exc)}})
            return JSONResponse({"status": "unavailable", "database": dialect_name(engine),
                                 "detail": "the database cannot be reached; see the server's log"},
                                status_code=503)
        # A full disk left SQLite readable: the check answered "ok" while every upload was
        # refused 503 storage_full, and an uptime checker never told anyone.
        free = database_disk_free(engine)
        if free is not None and free < HEALTHZ_MIN_FREE_BYTES:
            log.warning("healthz: database disk full", extra={"fields": {"free_bytes": free}})
            return JSONResponse({"status": "storage_full", "database": dialect_name(engine),
                                 "detail": "the disk under the database is full: uploads are "
                                           "refused until space is freed"}, status_code=503)
        return {"status": "ok", "database": dialect_name(engine)}

    # HEAD too: load balancers' and uptime checkers' probes often use it (it was a 405, so
    # a healthy server counted as down).
    app.add_api_route("/healthz", healthz, methods=["HEAD"], include_in_schema=False)

    metrics.install(app)  # /metrics (Prometheus) and the batch counters
    app.add_middleware(AccessLog, handlers=app.exception_handlers)
    app.add_middleware(SecurityHeaders)  # outermost: the 500s AccessLog sends get them too
    return app


async def storable_parameters(request: Request) -> None:
    """Dependency of every route: no query or path parameter holds text a column cannot.

    A ``%00`` in a dashboard filter or a QR page's window code reached PostgreSQL, which
    refuses a NUL in text: a 500. Form fields are checked by ``dashboard.web.storable_form``,
    JSON bodies by ``api_device.parse_json_body``, batches by ``validation.check_event``.
    Not on the QR page (``/r/``): a citizen's phone gets that page's own words, never this
    JSON; its window code is looked up only without a NUL (``qr_page._window``), and its
    other parameters are compared, never stored.
    """
    if request.url.path.startswith("/r/"):
        return
    for where, items in (("query parameter", request.query_params.multi_items()),
                         ("path parameter", request.path_params.items())):
        for name, value in items:
            problem = unstorable_text(value, f"{where} {name!r}")
            if problem:
                raise BadRequest(problem, field=name)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ClientDisconnect)
    async def _client_gone(request: Request, exc: ClientDisconnect):
        # A kiosk killed or cut off mid-upload: nobody is there to read an answer, and it is
        # not a server error (it was counted as a 500 and logged with a traceback).
        return JSONResponse({"error": "client_disconnected",
                             "detail": "the client closed the connection before the body was complete"},
                            status_code=400)

    @app.exception_handler(AggregatorError)
    async def _aggregator_error(request: Request, exc: AggregatorError):
        headers = {"Retry-After": str(exc.extra.get("retry_after", 60))} \
            if exc.status in (429, 503) else None
        return JSONResponse(exc.body(), status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        bad = BadRequest.of_validation(exc.errors())
        return JSONResponse({"error": bad.code, "field": bad.field, "detail": bad.detail},
                            status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse({"error": code, "detail": str(exc.detail)},
                            status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unhandled error", extra={"fields": {"path": request.url.path}})
        return JSONResponse({"error": "internal", "detail": "internal server error"},
                            status_code=500)

    @app.exception_handler(DBAPIError)
    async def _database_error(request: Request, exc: DBAPIError):
        # A full disk or a database that cannot be reached is the operator's to fix, not a
        # bug: say so in one log line per request, without a traceback, and answer 503 with
        # Retry-After (the transaction was rolled back, so a device keeps its batch and sends
        # it again; a dashboard user sees the error page).
        refusal = database_refusal(exc)
        if refusal is None:
            return await _unexpected(request, exc)
        log.error("%s: %s refused", refusal.code, request.url.path,
                  extra={"fields": {"path": request.url.path, "error": str(exc.orig)[:200]}})
        # through the AggregatorError handler in force (the dashboard wraps it for its pages)
        return await app.exception_handlers[AggregatorError](request, refusal)
