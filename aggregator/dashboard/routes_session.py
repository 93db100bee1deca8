"""Sign in and out, and the user's language."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Depends, Form, Request
from sqlalchemy import update

from ..db import read, utcnow, write
from ..errors import Forbidden
from ..proxy import client_ip, is_https
from . import accounts, audit, config
from .i18n import translator
from .tables import users
from .web import (
    COOKIE,
    PRE_CSRF_COOKIE,
    PREFIX,
    Ctx,
    current,
    new_pre_csrf,
    pick_lang,
    posted,
    redirect,
    render,
    storable_form,
)

router = APIRouter(prefix=PREFIX, include_in_schema=False)


def _safe_next(value: str | None) -> str:
    if value and value.startswith(PREFIX + "/") and not value.startswith("//") \
            and "\\" not in value:
        return value
    return PREFIX + "/"


def _login_page(request: Request, status: int = 200, error: str | None = None,
                username: str = ""):
    token = request.cookies.get(PRE_CSRF_COOKIE) or new_pre_csrf()
    response = render(request, "login.html", None, status=status, csrf=token, error=error,
                      username=username, next=_safe_next(request.query_params.get("next")))
    response.set_cookie(PRE_CSRF_COOKIE, token, httponly=True, samesite="strict",
                        secure=is_https(request), path=PREFIX + "/login")
    return response


@router.get("/login")
def login_form(request: Request):
    return _login_page(request)


@router.post("/login")
def login(request: Request, username: str = Form(""), password: str = Form(""),
          csrf: str = Form(""), next: str = Form(""), _storable: None = Depends(storable_form)):
    expected = request.cookies.get(PRE_CSRF_COOKIE, "")
    if not csrf or not expected or not hmac.compare_digest(csrf, expected):
        raise Forbidden("missing or wrong CSRF token; reload the page and try again",
                        code="csrf")
    now = utcnow()
    ip = client_ip(request)
    engine = request.app.state.engine
    with read(engine) as conn:
        s = config.load(conn)
    user, outcome = accounts.authenticate(engine, username, password, ip, now, s)
    with write(engine) as conn:
        if user is None:
            # The name only when it is an account's: people type their password into the
            # user-name field, and the audit log kept it for every admin to read.
            known = accounts.find_user(conn, username)
            audit.record(conn, None, f"login_{outcome}", now,
                         target=known["username"] if known else None, ip=ip)
        else:
            cookie = accounts.start_session(conn, user["id"], request.app.state.settings.secret,
                                            ip, now, s)
            audit.record(conn, user, "login", now, ip=ip)
            conn.execute(update(users).where(users.c.id == user["id"]).values(last_login_at=now))
    if user is None:
        key = "login_locked" if outcome == "locked" else "login_invalid"
        return _login_page(request, 429 if outcome == "locked" else 401, error=key,
                           username=username[:64])
    if user.get("must_change_password"):   # nothing else opens until they do
        next = f"{PREFIX}/account"
    response = redirect(_safe_next(next))
    response.set_cookie(COOKIE, cookie, httponly=True, samesite="lax", secure=is_https(request),
                        max_age=s.session_hours * 3600, path="/")
    response.delete_cookie(PRE_CSRF_COOKIE, path=PREFIX + "/login")
    return response


@router.post("/logout")
def logout(request: Request, ctx: Ctx = Depends(posted)):
    with write(request.app.state.engine) as conn:
        accounts.end_session(conn, request.cookies.get(COOKIE))
        audit.record(conn, ctx.user, "logout", ctx.now, ip=ctx.ip)
    response = redirect(f"{PREFIX}/login")
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/account")
def account_page(request: Request, ctx: Ctx = Depends(current)):
    """Every user's own account: change the password."""
    return _account_page(request, ctx, saved=request.query_params.get("saved") == "1")


def _account_page(request: Request, ctx: Ctx, status: int = 200, **data):
    return render(request, "account.html", ctx, status=status, nav="account",
                  min_length=accounts.MIN_PASSWORD, **data)


@router.post("/account/password")
def change_password(request: Request, current_password: str = Form("", alias="current"),
                    new: str = Form(""), again: str = Form(""), ctx: Ctx = Depends(posted)):
    """The signed-in user changes their password; their other sessions end. A wrong current
    password counts towards the login lockout, so the form cannot be used to guess it."""
    t = translator(ctx.lang)
    user = ctx.user
    keys = accounts.lockout_keys(user["username"], ctx.ip)
    engine = request.app.state.engine
    with write(engine) as conn:   # counted, and committed, before the password is checked
        allowed = accounts.count_attempt(conn, keys, ctx.now, ctx.settings)
        stored = accounts.password_hash(conn, user["id"]) if allowed else None
    if not allowed:
        return _account_page(request, ctx, 429, error=t("login_locked"))
    right = accounts.check_password(stored or "", current_password)
    with write(engine) as conn:
        if not right:
            accounts.record_failure(conn, keys, ctx.now, ctx.settings)
            audit.record(conn, ctx.user, "password_change_refused", ctx.now, ip=ctx.ip)
            problem, status = "password_wrong", 401
        else:
            accounts.attempt_succeeded(conn, keys)
            problem, status = (
                ("password_mismatch", 400) if new != again
                else ("password_short", 400) if len(new) < accounts.MIN_PASSWORD
                else ("password_same", 400) if new == current_password else (None, 200))
            if problem is None:   # chosen by the user: any "must change" mark goes
                accounts.set_password(conn, user, new, keep_session=request.cookies.get(COOKIE))
                audit.record(conn, ctx.user, "password_changed", ctx.now, ip=ctx.ip)
    if problem:
        return _account_page(request, ctx, status,
                             error=t(problem, n=accounts.MIN_PASSWORD))
    return redirect(f"{PREFIX}/account?saved=1")


@router.post("/language")
def language(request: Request, lang: str = Form("zh_CN"), ctx: Ctx = Depends(posted)):
    if lang in accounts.LANGUAGES:
        with write(request.app.state.engine) as conn:
            conn.execute(update(users).where(users.c.id == ctx.user["id"]).values(language=lang))
    response = redirect(_safe_next(request.headers.get("referer", "").partition(
        str(request.base_url).rstrip("/"))[2] or None))
    response.delete_cookie("agg_lang")
    return response


__all__ = ["router", "pick_lang"]
