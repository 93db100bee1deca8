"""Request plumbing shared by the dashboard routes: the signed-in user and their scope,
CSRF checks, templates, language, error pages."""

from __future__ import annotations

import datetime as dt
import hmac
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import jinja2
from fastapi import Depends, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from .. import constants as C
from ..db import read, utcnow
from ..errors import AggregatorError, BadRequest, Forbidden
from ..proxy import client_ip, is_https
from ..validation import unstorable_text
from . import accounts, config, scope
from .exports import share_text, target_text
from .i18n import translator
from .i18n_alerts import alert_detail
from .i18n_problems import problem_text

# The id of a row in a URL: an integer a database column holds (a 25-digit one was a 500).
RowId = Annotated[int, PathParam(ge=1, le=2**63 - 1)]
MAX_PAGE = 1_000_000  # a list's page number beyond this is this

COOKIE = "agg_session"
PRE_CSRF_COOKIE = "agg_login_csrf"
PREFIX = "/dashboard"
TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True, trim_blocks=True, lstrip_blocks=True)


def signed_pct(value) -> str:
    """A change of a share in percentage points, to the 2 places rates are shown to (the
    page wrote "-0.2" where the CSV wrote "-0.24%"); the unit is in the column's head or
    after it (个百分点 / pp)."""
    return "—" if value is None else f"{value * 100:+.2f}"


TEMPLATES.filters["pct"] = share_text  # cut, not rounded: 79.995 % never reads "80.00%"
TEMPLATES.filters["target_pct"] = target_text
TEMPLATES.filters["signed_pct"] = signed_pct
def localtime(value, tz: dt.tzinfo, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored (UTC) time, or its ISO text, as the site's local time."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(tz).strftime(fmt)


TEMPLATES.filters["localtime"] = localtime
TEMPLATES.filters["num"] = lambda v: "—" if v is None else f"{v:,}"
TEMPLATES.filters["fmt2"] = lambda v: "—" if v is None else f"{v:.2f}"
TEMPLATES.filters["alert_detail"] = alert_detail
TEMPLATES.filters["problem"] = problem_text


class LoginRequired(AggregatorError):
    """No valid session: HTML pages redirect to the login page, JSON answers 401."""

    status = 401
    code = "login_required"


class PasswordChangeRequired(Forbidden):
    """The user's password was set by someone else: until they change it, only their account
    page (and signing out) is open; a page asked for sends them there."""

    code = "password_change_required"


# What a user whose password someone else set may still use (``PasswordChangeRequired``).
OPEN_BEFORE_PASSWORD_CHANGE = frozenset(PREFIX + p for p in (
    "/account", "/account/password", "/logout", "/language"))


@dataclass
class Ctx:
    """The signed-in user of one request, with their scope and language.

    Its repr leaves out the session (its CSRF token and token hash); the user carries no
    password hash (``accounts.get_user``)."""

    request: Request = field(repr=False)
    user: dict
    session: dict = field(repr=False)
    settings: config.DashboardSettings
    allowed: set
    lang: str
    now: dt.datetime
    today: dt.date
    extra: dict = field(default_factory=dict)

    @property
    def t(self):
        return translator(self.lang)

    @property
    def ip(self) -> str:
        return client_ip(self.request)

    @property
    def role(self) -> str:
        return self.user["role"]


def local_today(request: Request, now: dt.datetime) -> dt.date:
    hours = request.app.state.settings.timezone_offset_hours
    return now.astimezone(dt.timezone(dt.timedelta(hours=hours))).date()


def pick_lang(request: Request, user: dict | None = None) -> str:
    asked = request.query_params.get("lang") or request.cookies.get("agg_lang")
    if asked in ("zh_CN", "en"):
        return asked
    if asked == "zh":
        return "zh_CN"
    return (user or {}).get("language") or "zh_CN"


def _load(request: Request) -> Ctx:
    engine = request.app.state.engine
    now = utcnow()
    with read(engine) as conn:
        found = accounts.load_session(conn, request.cookies.get(COOKIE),
                                      request.app.state.settings.secret, now)
        if found is None:
            raise LoginRequired("please sign in")
        session, user = found
        allowed = scope.allowed_units(conn, user)
        user = dict(user, scope_name=scope.scope_name(conn, user))
        s = config.load(conn)
    return Ctx(request, user, session, s, allowed, pick_lang(request, user), now,
               local_today(request, now))


async def current(request: Request) -> Ctx:
    """Dependency: the signed-in user (LoginRequired otherwise). A user who must change the
    password someone else set gets only their account page (PasswordChangeRequired)."""
    ctx = await run_in_threadpool(_load, request)
    if ctx.user.get("must_change_password") \
            and request.url.path not in OPEN_BEFORE_PASSWORD_CHANGE:
        # Whoever chose the password (a unit manager opening a staff member's account) could
        # otherwise sign in as that person and file their peer reviews.
        raise PasswordChangeRequired(
            "your password was set by someone else: change it on your account page "
            f"({PREFIX}/account) before anything else", detail_args={"msg": "must_change_password"})
    return ctx


async def storable_form(request: Request) -> None:
    """Dependency of every form POST: no field holds text a column cannot store (a NUL:
    a case note with one was a 500 on PostgreSQL, and SQLite stored what PostgreSQL refuses)."""
    for name, value in (await request.form()).multi_items():
        problem = unstorable_text(value, f"form field {name!r}")
        if problem:   # said in the page's language too (i18n_refusals.py)
            raise BadRequest(problem, field=name, detail_args={
                "msg": "nul_char" if "\x00" in value else "not_utf8", "field": name})


async def posted(request: Request, ctx: Ctx = Depends(current),
                 _storable: None = Depends(storable_form)) -> Ctx:
    """Dependency of every POST: a signed-in user, a matching CSRF token in the form, and
    fields a column can hold."""
    form = await request.form()
    token = str(form.get("csrf") or request.headers.get("x-csrf-token") or "")
    if not token or not hmac.compare_digest(token, ctx.session["csrf_token"]):
        raise Forbidden("missing or wrong CSRF token; reload the page and try again",
                        code="csrf")
    return ctx


def switch_language_href(query: str, lang: str) -> str:
    """The link of the language switch: this page, with its query, in the other language.

    >>> switch_language_href("group=staff&period=2026-10&lang=en", "en")
    '?group=staff&period=2026-10&lang=zh_CN'
    """
    pairs = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != "lang"]
    return "?" + urlencode(pairs + [("lang", "zh_CN" if lang == "en" else "en")])


def render(request: Request, name: str, ctx: Ctx | None = None, status: int = 200,
           lang: str | None = None, **data) -> HTMLResponse:
    lang = lang or (ctx.lang if ctx else pick_lang(request))
    t = translator(lang)
    html = TEMPLATES.get_template(name).render(
        ctx=ctx, user=ctx.user if ctx else None, t=t, lang=lang, P=PREFIX,
        csrf=ctx.session["csrf_token"] if ctx else data.pop("csrf", ""),
        path=request.url.path, query=request.url.query,
        switch_href=switch_language_href(request.url.query, lang),
        tz=dt.timezone(dt.timedelta(hours=request.app.state.settings.timezone_offset_hours)),
        level_names=C.LEVEL_NAMES_EN if lang == "en" else C.LEVEL_NAMES_ZH,
        reason_names=C.REASON_NAMES_EN if lang == "en" else C.REASON_NAMES_ZH, **data)
    response = HTMLResponse(html, status_code=status)
    if request.query_params.get("lang") in ("zh_CN", "en"):
        response.set_cookie("agg_lang", request.query_params["lang"], max_age=365 * 86400,
                            httponly=True, samesite="lax", secure=is_https(request))
    return response


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def login_redirect(request: Request) -> RedirectResponse:
    """To the sign-in page, then back to the page asked for.

    After a form sent with an expired session, back to the page the form was on: the
    form's own URL answers only POST, and going there after signing in was a 405.
    """
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":
        target = came_from(request) or PREFIX + "/"
    return redirect(f"{PREFIX}/login?next={quote(target, safe='')}")


def came_from(request: Request) -> str | None:
    """The dashboard page the request was made from (its ``Referer``, on this site), or None."""
    page = urlsplit(request.headers.get("referer") or "")
    if (page.netloc and page.netloc != request.url.netloc) or not page.path.startswith(PREFIX + "/"):
        return None
    return page.path + (f"?{page.query}" if page.query else "")


def new_pre_csrf() -> str:
    return secrets.token_urlsafe(24)


def _signed_in_user(request: Request) -> dict | None:
    """The user of the request's session, or None (no session, or the database is out)."""
    try:
        return _load(request).user
    except Exception:  # an error page must not fail in its turn
        return None


def error_page(request: Request, exc: AggregatorError) -> HTMLResponse:
    # In the signed-in user's own language (a user who chose English got Chinese errors).
    user = _signed_in_user(request) if request.cookies.get(COOKIE) and exc.status != 503 else None
    # Back to the page the refused form or the dead link was on (the browser's own back when
    # it can, which keeps what was typed): the page offered only the overview.
    back = came_from(request)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    # A dead link's own address is no way back; a refused form's page is, even when the form
    # posts to the page's own path (the settings, a new pledge): the link was left out there,
    # and only "返回首页" was offered, losing what was typed.
    if back == here and request.method == "GET":
        back = None
    lang = pick_lang(request, user)
    return render(request, "error.html", None, status=exc.status, error=exc, lang=lang,
                  back=back, explanation=_explanation(request, exc, translator(lang)))


# "this needs the role admin or higher" (``scope.require_role``, ``cases.next_state``)
_ROLE_NEEDED = re.compile(r"needs the role (\w+) or higher")


def _explanation(request: Request, exc: AggregatorError, t) -> str | None:
    """What the error page says of a refusal that has no message of its own in the page's
    language (no ``detail_args``), more exactly than its status's sentence; None to leave
    the status's sentence alone. The server's English ``detail`` stays behind "技术信息"."""
    if exc.detail_args:
        return None
    role = _ROLE_NEEDED.search(exc.detail or "")
    if exc.status == 403 and role:
        key = f"role_{role[1]}"
        return t("error_role_needed", role=t(key) if key in t.messages else role[1])
    if exc.status == 404 and request.url.path.startswith(PREFIX + "/cases/"):
        return t("error_404_case")
    return None
