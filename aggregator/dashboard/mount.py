"""Wiring of the dashboard into the aggregator app: routers, static files, HTML errors."""

from __future__ import annotations

from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import AggregatorError, BadRequest, Forbidden
from . import (
    assessment_routes,
    routes_admin,
    routes_alerts,
    routes_cases,
    routes_exports,
    routes_items,
    routes_pledges,
    routes_public,
    routes_reports,
    routes_session,
    routes_users,
)
from .web import (
    PREFIX,
    Ctx,
    LoginRequired,
    PasswordChangeRequired,
    current,
    error_page,
    login_redirect,
    redirect,
)

STATIC = Path(__file__).parent / "static"
# Routers open to every role. Every other router refuses staff accounts (default deny), so
# a staff member reaches only the peer review and their own results (assessment_routes).
STAFF_OPEN = (routes_session, routes_public, assessment_routes)


class StaffHome(Forbidden):
    """A staff account asked for a page of the supervisors: sent to their own results."""


async def not_staff(request: Request, ctx: Ctx = Depends(current)) -> None:
    if ctx.role == "staff":
        raise StaffHome("staff accounts see only the peer review and their own results")


# Starlette's refusals of a form (its English words, from its form parser) by the message
# that says them in the page's language (i18n_refusals.py).
_FORM_LIMITS = (("exceeded maximum size", "field_too_large"), ("too many fields", "too_many_fields"),
                ("too many files", "too_many_fields"))


def _http_refusal(exc: StarletteHTTPException) -> AggregatorError:
    """An HTTP error of Starlette's as a refusal the error page shows."""
    detail = str(exc.detail)
    msg = next((m for words, m in _FORM_LIMITS if words in detail.lower()), None)
    err = AggregatorError(detail, detail_args={"msg": msg} if msg else None)
    err.status = exc.status_code
    return err


def _wants_html(request: Request) -> bool:
    path = request.url.path
    return (path.startswith(PREFIX) and not path.startswith(PREFIX + "/api/")) \
        or path.startswith("/public")


def mount(app: FastAPI) -> None:
    """Add the dashboard under /dashboard and the public pages under /public."""
    for module in (routes_session, routes_reports, routes_exports, routes_cases, routes_alerts,
                   routes_admin,
                   routes_items, routes_pledges, routes_users, routes_public, assessment_routes):
        guard = [] if module in STAFF_OPEN else [Depends(not_staff)]
        app.include_router(module.router, dependencies=guard)
    app.mount(PREFIX + "/static", StaticFiles(directory=STATIC), name="dashboard-static")

    @app.get(PREFIX, include_in_schema=False)
    async def _root():
        return redirect(PREFIX + "/")

    json_error = app.exception_handlers.get(AggregatorError)
    json_http = app.exception_handlers.get(StarletteHTTPException)
    json_unexpected = app.exception_handlers.get(Exception)

    async def unexpected(request: Request, exc: Exception):
        # logged with its traceback by the API's handler; a person sees the error page
        response = await json_unexpected(request, exc)
        if _wants_html(request):
            return error_page(request, AggregatorError("internal server error"))
        return response

    async def aggregator_error(request: Request, exc: AggregatorError):
        if isinstance(exc, LoginRequired):
            if _wants_html(request):
                return login_redirect(request)
            return JSONResponse(exc.body(), status_code=401)
        if isinstance(exc, StaffHome) and request.url.path == PREFIX + "/":
            return redirect(PREFIX + "/assessment/me")
        if isinstance(exc, PasswordChangeRequired) and request.method in ("GET", "HEAD") \
                and _wants_html(request):
            return redirect(PREFIX + "/account")   # a POST elsewhere is refused (below)
        if _wants_html(request):
            return error_page(request, exc)
        return await json_error(request, exc)

    async def http_error(request: Request, exc: StarletteHTTPException):
        # Every refusal of a page (a form field over 1 MB was the API's JSON), in its language
        if _wants_html(request) and 400 <= exc.status_code < 500:
            return error_page(request, _http_refusal(exc))
        return await json_http(request, exc)

    json_validation = app.exception_handlers.get(RequestValidationError)

    async def validation_error(request: Request, exc: RequestValidationError):
        # a form field the browser let through (or a hand-made request): the error page, as
        # for every other refusal, not the API's JSON
        if _wants_html(request):
            return error_page(request, BadRequest.of_validation(exc.errors()))
        return await json_validation(request, exc)

    app.add_exception_handler(AggregatorError, aggregator_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected)
