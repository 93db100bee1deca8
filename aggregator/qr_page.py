"""The mobile QR rating page ``/r/{window_code}`` (channel 3) and the kiosk follow-up page
``/r/{window_code}?t=<token>`` that adds a comment to a kiosk rating."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import time
import unicodedata
from pathlib import Path
from urllib.parse import parse_qs

import jinja2
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup
from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError
from starlette.concurrency import run_in_threadpool

from sync.protocol import event_id

from . import constants as C
from . import ratings as rating_store
from .api_device import read_capped
from .dashboard.cases import open_cases_for
from .db import database_refusal, read, utcnow, write
from .errors import AggregatorError
from .proxy import client_ip
from .qr import check_follow_up_token
from .schema import devices, qr_limits, units, windows
from .validation import PHONE

log = logging.getLogger(__name__)

router = APIRouter(tags=["qr"])
TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True)
TEXT = {
    "zh": {"title": "服务评价", "ask": "请您对本次服务进行评价", "reasons": "不满意的原因（可多选）",
           "comment": "意见建议（选填）", "phone": "手机号（选填，便于回访）",
           "consent": "同意工作人员致电回访", "submit": "提交评价", "thanks": "感谢您的评价！",
           "limited": "您刚刚已评价过，请稍后再试。", "unknown": "未找到该窗口。",
           "follow_title": "补充意见", "follow_ask": "请补充您对本次服务的意见",
           "expired": "该二维码已过期。", "bad_input": "请选择一个评价等级。",
           "bad_phone": "请检查手机号：只能填写数字、空格、“-”和开头的“+”。",
           "no_consent": "如需回访，请勾选“同意工作人员致电回访”；不需要回访请清空手机号。",
           "unavailable": "系统暂时无法保存您的评价，请几分钟后再点“提交评价”。您填写的内容仍在。",
           "down": "评价系统暂时无法使用，请几分钟后再扫码评价。",
           "levels": C.LEVEL_NAMES_ZH, "reason_names": C.REASON_NAMES_ZH, "lang_switch": "English",
           "privacy": "评价匿名，工作人员看不到您的选择。"},
    "en": {"title": "Rate our service", "ask": "How was the service you received?",
           "reasons": "What went wrong? (choose any)", "comment": "Comment (optional)",
           "phone": "Phone (optional, for a call back)", "consent": "You may call me back",
           "submit": "Send", "thanks": "Thank you for your rating!",
           "limited": "You rated a moment ago; please try again later.",
           "unknown": "No such window.", "follow_title": "Add a comment",
           "follow_ask": "Tell us more about the service", "expired": "This QR code expired.",
           "bad_input": "Please choose a level.", "levels": C.LEVEL_NAMES_EN,
           "bad_phone": "Please check the phone number: digits, spaces, '-' and a leading '+' "
                        "only.",
           "no_consent": "For a call back, tick \"You may call me back\"; otherwise clear the "
                         "phone number.",
           "unavailable": "We cannot save your rating just now; please press Send again in a "
                          "few minutes. What you entered is still here.",
           "down": "Rating is not available just now; please scan the code again in a few "
                   "minutes.",
           "reason_names": C.REASON_NAMES_EN, "lang_switch": "中文",
           "privacy": "Ratings are anonymous; staff never see your choice."},
}
# each reason chip: the bad levels that offer it, as the page's script reads them
REASONS_FOR = {code: " ".join(lv for lv, codes in C.REASONS.items() if code in codes)
               for codes in C.REASONS.values() for code in codes}


# The kiosk's five faces (sync/vocabulary.py FACES: fill colour, mouth from +1 smile to -1
# frown), drawn inline: emoji faces depend on the phone's fonts (two of five were missing boxes in
# Debian's Chromium) and looked nothing like the kiosk's.
def _face_svg(colour: str, curve: float) -> Markup:
    # the mouth as make_assets draws it: an arc of depth d, its ends 0.34 d in from the apex
    d = 22 * abs(curve)
    if curve >= 0:
        corners, apex = 66 + 0.34 * d, 66 + d
    else:
        corners, apex = 68 + 0.66 * d, 68
    bend = 2 * apex - corners   # a quadratic curve's control point, for that apex
    return Markup(
        f'<svg class="face" viewBox="0 0 100 100" aria-hidden="true">'
        f'<circle cx="50" cy="50" r="47" fill="{colour}"/>'
        f'<ellipse cx="33" cy="38" rx="6.5" ry="8" fill="#282828"/>'
        f'<ellipse cx="67" cy="38" rx="6.5" ry="8" fill="#282828"/>'
        f'<path d="M29 {corners:.1f} Q50 {bend:.1f} 71 {corners:.1f}" fill="none" '
        f'stroke="#282828" stroke-width="5.5" stroke-linecap="round"/></svg>')


FACE_SVGS = {level: _face_svg(*shape) for level, shape in C.FACES.items()}


def _page(lang: str, status: int = 200, **context) -> HTMLResponse:
    t = TEXT.get(lang, TEXT["zh"])
    html = TEMPLATES.get_template("rate.html").render(t=t, lang=lang, faces=FACE_SVGS,
                                                      reasons_for=REASONS_FOR, **context)
    return HTMLResponse(html, status_code=status)


def _refused(exc: DBAPIError, page) -> HTMLResponse:
    """``page(503)`` with the Retry-After of a database that is full or out of reach
    (``db.database_refusal``); any other database error is re-raised (a bug: a 500)."""
    refusal = database_refusal(exc)
    if refusal is None:
        raise exc
    log.error("QR page: %s: %s", refusal.code, str(exc.orig)[:200])
    response = page(503)
    response.headers["Retry-After"] = str(refusal.extra["retry_after"])
    return response


def _down(lang: str):
    """The page when the window cannot even be looked up: scan again later."""
    return lambda status: _page(lang, status, state="down", window=None)


def _window(engine, window_code: str):
    with read(engine) as conn:
        w = conn.execute(select(windows.c.id, windows.c.name, windows.c.unit_id, units.c.name
                                .label("unit_name"), units.c.scale)
                         .join(units, units.c.id == windows.c.unit_id)
                         .where(windows.c.id == window_code, windows.c.active.is_(True))) \
            .mappings().first()
    return dict(w) if w else None


@router.get("/r/{window_code}", response_class=HTMLResponse)
async def rate_page(window_code: str, request: Request, lang: str = "zh", t: str | None = None):
    """The mobile rating page of a window (or the follow-up comment page with ``t``)."""
    lang = "en" if lang == "en" else "zh"
    try:
        w = await run_in_threadpool(_window, request.app.state.engine, window_code)
    except DBAPIError as exc:
        return _refused(exc, _down(lang))
    if w is None:
        return _page(lang, 404, state="unknown", window=None)
    if t is not None and not check_follow_up_token(request.app.state.settings.secret,
                                                   w["id"], t, time.time()):
        return _page(lang, 410, state="expired", window=w)
    levels = C.LEVELS_4 if w["scale"] == 4 else C.LEVELS_5
    return _page(lang, state="follow" if t else "form", window=w, levels=levels, token=t)


def phone_number(typed: str) -> str | None:
    """The callback number as stored, or None when ``typed`` is not one. Full-width digits
    and signs (a Chinese input method's) become ASCII; brackets and dots go.

    >>> phone_number("（０１０）８８８８-１２３４")
    '010 8888-1234'
    """
    text = unicodedata.normalize("NFKC", typed)
    text = " ".join(re.sub(r"[().]", " ", text).split())
    return text if PHONE.match(text) else None


def _allow(conn, key: str, now: dt.datetime, interval: int) -> bool:
    """One submission per ``key`` per ``interval`` seconds (shared by all workers)."""
    row = conn.execute(select(qr_limits.c.last_at).where(qr_limits.c.client_key == key)).first()
    if row is None:
        conn.execute(qr_limits.insert().values(client_key=key, last_at=now))
        return True
    if (now - row[0]).total_seconds() < interval:
        return False
    conn.execute(update(qr_limits).where(qr_limits.c.client_key == key).values(last_at=now))
    return True


@router.post("/r/{window_code}", response_class=HTMLResponse, openapi_extra={"requestBody": {
    "required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
        "type": "object", "properties": {
            "level": {"type": "string"}, "reasons": {"type": "array", "items": {"type": "string"}},
            "comment": {"type": "string"}, "phone": {"type": "string"},
            "consent": {"type": "string"}, "t": {"type": "string"}}}}}}})
async def rate_submit(window_code: str, request: Request, lang: str = "zh"):
    """Store a QR rating (channel 3), or a follow-up comment for a kiosk rating."""
    lang = "en" if lang == "en" else "zh"
    settings = request.app.state.settings
    try:
        body = await read_capped(request, 32 * 1024)
    except AggregatorError:
        return _page(lang, 413, state="bad_input", window=None)
    form = {k: v for k, v in parse_qs(body.decode("utf-8", "replace"),
                                      keep_blank_values=True).items()}
    # No NUL in what is stored: PostgreSQL's text cannot hold it (a 500 there).
    one = lambda name: (form.get(name) or [""])[0].replace("\x00", "").strip()  # noqa: E731
    try:
        w = await run_in_threadpool(_window, request.app.state.engine, window_code)
    except DBAPIError as exc:
        return _refused(exc, _down(lang))
    if w is None:
        return _page(lang, 404, state="unknown", window=None)
    token = one("t") or None
    rating_id = None
    if token:
        rating_id = check_follow_up_token(settings.secret, w["id"], token, time.time())
        if rating_id is None:
            return _page(lang, 410, state="expired", window=w)
    level = one("level")
    levels = C.LEVELS_4 if w["scale"] == 4 else C.LEVELS_5
    comment = one("comment")[:500] or None
    typed = one("phone")[:40]
    phone = phone_number(typed)
    consent = one("consent") in ("1", "on", "yes", "true")
    # Each reason once: a repeated one counted one citizen's complaint several times.
    reasons = list(dict.fromkeys(r for r in form.get("reasons", [])
                                 if r in C.REASONS.get(level, ())))[:10]
    # A refusal shows the form again with what the citizen entered; before, a phone number
    # that did not parse, or one given without consent, was dropped without a word.
    problem = ("bad_input" if not token and level not in levels
               else "bad_phone" if typed and phone is None
               else "no_consent" if phone and not consent else None)
    entered = {"level": level, "reasons": reasons, "comment": comment or "", "phone": typed,
               "consent": consent}

    def again(status: int, problem: str) -> HTMLResponse:
        return _page(lang, status, state="follow" if token else "form", window=w,
                     levels=levels, token=token, error=TEXT[lang][problem], entered=entered)
    if problem:
        return again(400, problem)
    now = utcnow()
    key = f"{client_ip(request)}|{w['id']}|{'t' if token else 'r'}"

    def run():
        with write(request.app.state.engine) as conn:
            if not _allow(conn, key, now, settings.qr_rate_limit_seconds):
                return False
            if token:
                rating_store.attach(conn, rating_id, rating_store.COMMENT, {
                    "comment": comment, "phone": phone, "callback_consent": consent}, now)
                return True
            staff = conn.execute(select(devices.c.staff_id, devices.c.staff_name).where(
                devices.c.window_id == w["id"], devices.c.revoked_at.is_(None),
                devices.c.staff_id.is_not(None))).first()
            row = {
                "id": event_id(), "device_id": None, "window_id": w["id"],
                "unit_id": w["unit_id"], "staff_id": staff[0] if staff else None,
                "staff_name": staff[1] if staff else None, "service_item": None,
                "case_no": None, "invitation_id": None, "channel": C.CHANNEL_QR,
                "level": level, "stars": C.STARS[level], "scale": w["scale"],
                "reasons": json.dumps(reasons) if reasons else None,
                "reasons_version": C.REASONS_VERSION if reasons else None,
                "comment": comment, "phone": phone if consent else None,
                "callback_consent": bool(consent and phone), "device_time": None,
                "server_time": now, "day": rating_store.local_day(
                    now, settings.timezone_offset_hours), "flags": "[]", "flagged": False}
            rating_store.store(conn, [row])
            open_cases_for(conn, [row], now)  # a bad QR rating is followed up like any other
            return True
    try:
        stored = await run_in_threadpool(run)
    except DBAPIError as exc:
        # a full disk, the database out of reach: the citizen keeps what they typed and can
        # send it later
        return _refused(exc, lambda status: again(status, "unavailable"))
    if not stored:
        response = _page(lang, 429, state="limited", window=w)
        response.headers["Retry-After"] = str(settings.qr_rate_limit_seconds)
        return response
    return _page(lang, state="thanks", window=w)
