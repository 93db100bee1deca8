"""The mobile QR rating page ``/r/{window_code}`` (channel 3) and the kiosk follow-up page
``/r/{window_code}?t=<token>`` that adds a comment to a kiosk rating."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import json
import logging
import re
import time
import unicodedata
import uuid
from pathlib import Path
from urllib.parse import parse_qs, quote

import jinja2
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from markupsafe import Markup
from sqlalchemy import delete, func, literal_column, select
from sqlalchemy.dialects import postgresql, sqlite
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from sync.protocol import event_id

from . import constants as C
from . import ratings as rating_store
from .alerts import raise_alert
from .api_device import read_capped
from .dashboard.cases import open_cases_for, open_cases_for_callbacks
from .db import database_refusal, is_pg, read, utcnow, write
from .errors import AggregatorError
from .proxy import client_ip, is_https
from .qr import browser_cookie, check_browser_cookie, check_form_id, client_address, read_follow_up_token
from .qr import form_id as new_form_id
from .schema import devices, qr_limits, ratings, units, windows
from .validation import PHONE

log = logging.getLogger(__name__)

router = APIRouter(tags=["qr"])
TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True)
TEXT = {
    "zh": {"title": "服务评价", "ask": "请您对本次服务进行评价", "reasons": "不满意的原因（可多选）",
           "comment": "意见建议（选填，500字以内）", "phone": "手机号（选填，便于回访）",
           "consent": "同意工作人员致电回访", "submit": "提交评价", "thanks": "感谢您的评价！",
           "unknown": "未找到该窗口，或该窗口已停用。请扫描窗口上的二维码，或向大厅工作人员反映。",
           "unknown_hotline": "未找到该窗口，或该窗口已停用。请扫描窗口上的二维码，或拨打监督电话 {hotline}。",
           "follow_title": "补充意见",
           "follow_ask": "请补充您对本次服务的意见，或留下手机号以便回访（至少填写一项）。",
           "follow_comment": "意见建议（500字以内）", "follow_phone": "手机号（便于回访）",
           "follow_submit": "提交意见",
           "expired": "该补充意见二维码已失效（过期或不完整）。您可以直接对本窗口进行评价：",
           "expired_form": "补充意见的二维码已过期，您填写的内容仍在。请选择评价等级，作为一条新评价提交。",
           "follow_done": "您已补充过意见，感谢！如需再次评价，请直接对本窗口评价：",
           "follow_done_form": "您已补充过意见，感谢！这个二维码只能补充一次。刚才填写的内容仍在："
                               "如需作为一条新评价提交，请选择评价等级。",
           "empty": "请填写意见或留下手机号。", "rate_window": "评价本窗口",
           "bad_input": "请选择一个评价等级。", "too_large": "提交的内容太长，请缩短后重试。",
           "bad_phone": "请检查手机号：5 到 15 位数字，可含空格、“-”和开头的“+”。",
           "no_consent": "如需回访，请勾选“同意工作人员致电回访”；不需要回访请清空手机号。",
           "unavailable": "系统暂时无法保存您填写的内容，请几分钟后再提交。您填写的内容仍在。",
           "down": "评价系统暂时无法使用，请几分钟后再扫码评价。",
           "rated_already": "您已提交过评价（{level}），评价提交后不能更改，刚才的修改没有保存。"
                            "您填写的内容仍在下方。",
           "rated_hotline": "如需反映问题，请拨打监督电话 {hotline}。",
           "follow_changed": "您已补充过意见，补充后不能更改，刚才的修改没有保存。"
                             "您填写的内容仍在下方。",
           "stale_form": "页面已过期或不完整，刚才填写的内容没有提交。内容仍在下方，请再次点击提交。",
           "cross_site": "请在本页面提交评价。刚才的内容没有提交，内容仍在下方，请再次点击提交。",
           "budget": "今天从您的网络提交到本窗口的评价已经很多，暂时不能再提交。您填写的内容仍在下方；"
                     "如需反映问题，请向大厅工作人员反映或拨打监督电话。",
           "late_ask": "这个二维码已使用或已过期，不能再作为一条新评价。您仍可补充意见，"
                       "它会作为“逾期补充”记录在原评价下。",
           "late_done": "这条评价已收到过逾期补充，不能再补充。您填写的内容仍在下方。",
           "foreign": "这个二维码不属于本窗口，无法补充意见。您填写的内容仍在下方。",
           "levels": C.LEVEL_NAMES_ZH, "reason_names": C.REASON_NAMES_ZH, "lang_switch": "English",
           "privacy": "评价匿名，工作人员看不到您的选择。"},
    "en": {"title": "Rate our service", "ask": "How was the service you received?",
           "reasons": "What went wrong? (choose any)", "comment": "Comment (optional, up to 500 characters)",
           "phone": "Phone (optional, for a call back)", "consent": "You may call me back",
           "submit": "Send", "thanks": "Thank you for your rating!",
           "unknown": "No such window, or it is closed. Please scan the code at the window, or "
                      "tell the hall's staff.",
           "unknown_hotline": "No such window, or it is closed. Please scan the code at the "
                              "window, or call the complaint hotline {hotline}.",
           "follow_title": "Add a comment",
           "follow_ask": "Tell us more about the service, or leave a phone number for a call "
                         "back (at least one of the two).",
           "follow_comment": "Comment (up to 500 characters)",
           "follow_phone": "Phone (for a call back)", "follow_submit": "Send comment",
           "expired": "This link to add a comment is no longer valid (expired or incomplete). "
                      "You can rate this window directly:",
           "expired_form": "The link to add a comment has expired; what you entered is still "
                           "here. Choose a level to send it as a new rating.",
           "follow_done": "You have already added your comment, thank you. To rate again, "
                          "rate this window directly:",
           "follow_done_form": "You have already added your comment, thank you; this code "
                               "adds once. What you just entered is still here: to send it "
                               "as a new rating, choose a level.",
           "empty": "Please write a comment or leave a phone number.",
           "rate_window": "Rate this window", "too_large": "What you sent is too long; please "
                                                          "shorten it and try again.",
           "bad_input": "Please choose a level.", "levels": C.LEVEL_NAMES_EN,
           "bad_phone": "Please check the phone number: 5 to 15 digits, with spaces, '-' and a "
                        "leading '+' if you like.",
           "no_consent": "For a call back, tick \"You may call me back\"; otherwise clear the "
                         "phone number.",
           "unavailable": "We cannot save what you entered just now; please send it again in a "
                          "few minutes. What you entered is still here.",
           "down": "Rating is not available just now; please scan the code again in a few "
                   "minutes.",
           "rated_already": "You have already sent your rating ({level}); a rating cannot be "
                            "changed once sent, so this change was not saved. What you entered "
                            "is still below.",
           "rated_hotline": " To report a problem, call the complaint hotline {hotline}.",
           "follow_changed": "You have already added your comment; it cannot be changed once "
                             "sent, so this change was not saved. What you entered is still "
                             "below.",
           "stale_form": "This page is out of date or incomplete, so what you entered was not "
                         "sent. It is still below; please press Send again.",
           "cross_site": "Please send your rating from this page. What you entered was not sent; "
                         "it is still below, please press Send again.",
           "budget": "Many ratings of this window came from your network today, so no more can "
                     "be sent just now. What you entered is still below; to report a problem, "
                     "tell the hall's staff or call the complaint hotline.",
           "late_ask": "This code was used already or has expired, so it cannot make a new rating. "
                       "You can still add a comment: it is kept as a late note on the original "
                       "rating.",
           "late_done": "A late note was added to this rating already; no more can be added. "
                        "What you entered is still below.",
           "foreign": "This code is not for this window, so nothing can be added with it. What "
                      "you entered is still below.",
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


def page_path(window_id: str) -> str:
    """The page's path of a window, its id encoded whole: a "#", a space or a "/" in an id
    (the admin API accepts them) sent the form to another address, and the rating was lost.

    >>> page_path("民政/9#1")
    '/r/%E6%B0%91%E6%94%BF%2F9%231'
    """
    return "/r/" + quote(window_id, safe="")


def _page(lang: str, status: int = 200, **context) -> HTMLResponse:
    t = TEXT.get(lang, TEXT["zh"])
    window = context.get("window")
    html = TEMPLATES.get_template("rate.html").render(
        t=t, lang=lang, faces=FACE_SVGS, reasons_for=REASONS_FOR,
        path=page_path(window["id"]) if window else None, **context)
    return HTMLResponse(html, status_code=status)


def _refused(exc: Exception, page) -> HTMLResponse:
    """``page(503)`` with the Retry-After of a database that is full or out of reach
    (``db.database_refusal``); ``page(500)`` for any other error (a bug, logged with its
    traceback). A citizen's phone is shown this page, never the API's JSON: a bug here
    answered ``{"error":"internal"}`` in English, and what they had typed was gone."""
    refusal = database_refusal(exc)
    if refusal is None:
        log.error("QR page: unexpected error", exc_info=exc)
        return page(500)
    log.error("QR page: %s: %s", refusal.code, str(getattr(exc, "orig", exc))[:200])
    response = page(503)
    response.headers["Retry-After"] = str(refusal.extra["retry_after"])
    return response


def _down(lang: str):
    """The page when the window cannot even be looked up: scan again later."""
    return lambda status: _page(lang, status, state="down", window=None)


def _calm(route):
    """A route of this page that answers any error it did not handle itself with the page's
    own "scan again later" (``_refused``); those it handles keep what the citizen typed."""
    @functools.wraps(route)
    async def calm(window_code: str, request: Request, *args, **kwargs):
        try:
            return await route(window_code, request, *args, **kwargs)
        except ClientDisconnect:   # nobody is there to read an answer
            raise
        except Exception as exc:
            lang = "en" if request.query_params.get("lang") == "en" else "zh"
            return _refused(exc, _down(lang))
    return calm


def _window(engine, window_code: str):
    """The window with its unit's name, scale and hotline, active or not; None if unknown
    (a code with a NUL, which no id holds and PostgreSQL's text refuses: a 500)."""
    if "\x00" in window_code:
        return None
    with read(engine) as conn:
        w = conn.execute(select(windows.c.id, windows.c.name, windows.c.unit_id, windows.c.active,
                                units.c.name.label("unit_name"), units.c.scale, units.c.hotline)
                         .join(units, units.c.id == windows.c.unit_id)
                         .where(windows.c.id == window_code)).mappings().first()
    return dict(w) if w else None


def _unknown(lang: str, w: dict | None, settings) -> HTMLResponse:
    """The page of an unknown or closed window, with the hotline to call: the unit's (a closed
    window's unit is known), else the server's. It said "拨打监督电话" and gave no number."""
    return _page(lang, 404, state="unknown", window=None, hotline=_hotline(w, settings))


def _hotline(w: dict | None, settings) -> str:
    """The complaint hotline of window ``w``'s unit, else the server's; "" when neither."""
    return ((w or {}).get("hotline") or settings.hotline or "").strip()


def _with_hotline(lang: str, text: str, w: dict, settings) -> str:
    """``text`` and, when there is a hotline, the sentence saying to call it."""
    hotline = _hotline(w, settings)
    return text + (TEXT[lang]["rated_hotline"].format(hotline=hotline) if hotline else "")


def _link_key(rating_id: str) -> str:
    """The limit table's key of a kiosk follow-up link's one use."""
    return f"f|{rating_id}"


def _sent_key(rating_id: str, form_id: str, sent: tuple = ()) -> str | None:
    """The key noting which form made a link's one use, and with ``sent`` what it sent
    (comment, number, consent; hashed: a rating id can be long); None for a missing or
    malformed form id. Both are noted (``_link_state``)."""
    if not FORM_ID.fullmatch(form_id or ""):
        return None
    return "f|sent|" + hashlib.sha256(json.dumps([rating_id, form_id, *sent], ensure_ascii=False)
                                      .encode()).hexdigest()[:40]


def _link_state(conn, rating_id: str, form_id: str | None, sent: tuple) -> str:
    """Who used the follow-up link of ``rating_id``: "sent" (this very form with this very
    text ``sent``: a double tap, or Back and send again: thanked, nothing added), "changed"
    (this form with another text: a mistyped number put right, told that an addition is not
    changed; it was thanked and the change dropped, then offered as a new rating, a second
    rating of one service) or "used" (another form: another tab, or whoever photographed
    the link)."""
    def noted(key: str | None) -> bool:
        return key is not None and conn.execute(select(qr_limits.c.client_key).where(
            qr_limits.c.client_key == key)).first() is not None
    if noted(_sent_key(rating_id, form_id or "", sent)):
        return "sent"
    return "changed" if noted(_sent_key(rating_id, form_id or "")) else "used"


def _link_use(engine, rating_id: str, form_id: str | None, now: dt.datetime,
              sent: tuple = ()) -> str | None:
    """How the follow-up link of ``rating_id`` was used: None (not yet, as ``_first``
    counts), else ``_link_state``."""
    with read(engine) as conn:
        last = conn.execute(select(qr_limits.c.last_at)
                            .where(qr_limits.c.client_key == _link_key(rating_id))).scalar()
        if last is None or now - last >= FOLLOW_UP_MEMORY:
            return None
        return _link_state(conn, rating_id, form_id, sent)


# ``:path``: a window id with a "/" comes encoded (%2F, as the kiosk's QR code has it), and the
# server decodes it before routing; a plain parameter stops at that "/" and the page was a 404.
@router.get("/r/{window_code:path}", response_class=HTMLResponse)
@_calm
async def rate_page(window_code: str, request: Request, lang: str = "zh", t: str | None = None,
                    done: str | None = None):
    """The mobile rating page of a window (or the follow-up comment page with ``t``; the
    thank-you page with ``done``, where a submission is sent on)."""
    lang = "en" if lang == "en" else "zh"
    engine = request.app.state.engine
    try:
        w = await run_in_threadpool(_window, engine, window_code)
    except Exception as exc:
        return _refused(exc, _down(lang))
    if w is None or not w["active"]:
        return _unknown(lang, w, request.app.state.settings)
    if done is not None:
        return _page(lang, state="thanks", window=w)
    settings = request.app.state.settings
    status, note = 200, None
    if t is not None:
        found = read_follow_up_token(settings.secret, w["id"], t, time.time())
        if found is None:
            return _page(lang, 410, state="expired", window=w)
        rating_id, expired = found
        # A used or expired link named its rating still: what is sent with it is a late note
        # of that rating (``rate_submit``), never a new rating (it was offered as one, and
        # counted for whoever was on duty when it was sent).
        try:
            used = not expired and await run_in_threadpool(_link_use, engine, rating_id, None,
                                                           utcnow())
        except Exception as exc:
            return _refused(exc, _down(lang))
        if expired or used:
            status, note = (410 if expired else 409), TEXT[lang]["late_ask"]
    levels = C.LEVELS_4 if w["scale"] == 4 else C.LEVELS_5
    response = _page(lang, status, state="follow" if t else "form", window=w, levels=levels,
                     token=t, error=note, form_id=new_form_id(settings.secret, w["id"], time.time()))
    return _with_browser(response, request, settings)


def _with_browser(response: HTMLResponse, request: Request, settings) -> HTMLResponse:
    """``response`` (a form) kept by no shared cache (it carries a form id, one rating's: a
    proxy serving one page to many phones made their ratings one), nor reused unchecked, with
    the browser's cookie set if it has none of ours (``COOKIE``). Not ``no-store``: the
    browser's Back must show the very form that was sent, so that sending it again is the
    same rating (told it was not changed), not a second one."""
    response.headers["Cache-Control"] = "private, no-cache"
    if check_browser_cookie(settings.secret, request.cookies.get(COOKIE)) is None:
        response.set_cookie(COOKIE, browser_cookie(settings.secret),
                            max_age=int(settings.qr_memory_hours * 3600) + 6 * 3600, path="/r/",
                            httponly=True, samesite="lax", secure=is_https(request))
    return response


def phone_number(typed: str) -> str | None:
    """The callback number as stored, or None when ``typed`` is not one: 5 to 15 digits (as
    on the kiosk) with spaces, "-" and a leading "+". Full-width digits and signs (a Chinese
    input method's) become ASCII; brackets and dots go.

    >>> phone_number("（０１０）８８８８-１２３４")
    '010 8888-1234'
    >>> phone_number("1----") is None
    True
    """
    text = unicodedata.normalize("NFKC", typed)
    text = " ".join(re.sub(r"[().]", " ", text).split())
    digits = sum(ch.isdigit() for ch in text)
    return text if PHONE.match(text) and 5 <= digits <= 15 else None


def comment_text(typed: str) -> str:
    r"""A comment as stored: line breaks as LF, at most 500 characters. A browser counts a line
    break as one character for the field's limit but sends CR LF, so a comment in paragraphs
    was cut at its end, and stored with CR LF.

    >>> comment_text("一\r\n二\r三")
    '一\n二\n三'
    >>> len(comment_text("x\r\n" * 250))
    499
    """
    return typed.replace("\r\n", "\n").replace("\r", "\n").strip()[:500]


def _note(conn, key: str, stamp: dt.datetime, older_than: dt.datetime | None = None) -> bool:
    """Note ``key`` at ``stamp``: insert it, or set the stored key's time, only if that is at or
    before ``older_than`` when given. Whether it was noted now. One statement (a read, then an
    insert, let two requests at once on PostgreSQL both find no key: the second insert broke
    the unique key, and its citizen got a 500 and lost the rating); a second request waits
    for the first's row and reads what the first wrote."""
    insert = (postgresql.insert if is_pg(conn) else sqlite.insert)(qr_limits).values(
        client_key=key, last_at=stamp)
    where = None if older_than is None else qr_limits.c.last_at <= older_than
    stmt = insert.on_conflict_do_update(
        index_elements=[qr_limits.c.client_key], set_={"last_at": insert.excluded.last_at},
        where=where).returning(qr_limits.c.client_key)
    return conn.execute(stmt).first() is not None


def _first(conn, key: str, now: dt.datetime, interval: float,
           stamp: dt.datetime | None = None) -> bool:
    """Whether this is the first use of ``key`` in ``interval`` seconds (then it is noted at
    ``stamp``, by default ``now``; shared by all workers)."""
    return _note(conn, key, stamp or now, older_than=now - dt.timedelta(seconds=interval))


# A kiosk's follow-up link is valid for a week (kiosk/screens/text.py, follow_up_token) by
# the kiosk's clock. Its one use is noted at the link's expiry, or now if that is earlier, and
# forgotten this long after: a kiosk whose clock ran a month ahead made links valid for five
# weeks, and once the use was forgotten (after 8 days) such a link could add again.
# a kiosk not heard from for longer (6 heartbeats) no longer says who serves at its window
ON_DUTY_HEARD = dt.timedelta(minutes=30)
FOLLOW_UP_MEMORY = dt.timedelta(days=8)


def _link_expiry(token: str) -> dt.datetime:
    """The expiry written in a checked follow-up token (``<rating id>.<expiry>.<mac>``), at
    most ten years on (a kiosk's clock can be anything)."""
    seconds = min(int(token.split(".")[1]), int(time.time()) + 10 * 366 * 86400)
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc)


def _forget_old(conn, now: dt.datetime, interval: int, memory_hours: float = 0) -> None:
    """Drop what no longer limits anything: a client's last QR rating is linkable to that
    rating by its time, so it is kept only while it counts (it was kept for ever)."""
    kept = dt.timedelta(seconds=max(interval, memory_hours * 3600))
    # Each delete reads only the keys it drops, from ``ix_qr_limits_kind_last_at`` (migration
    # 53; its expression written as there): by key prefix (a LIKE no index serves) every QR
    # POST read the whole table under the write lock.
    kind = func.substr(qr_limits.c.client_key, literal_column("1"), literal_column("1"))
    for kinds, older in ((("c", "b"), now - kept), (("d", "e"), now - DAY_MEMORY),
                         (("f",), now - FOLLOW_UP_MEMORY)):
        conn.execute(delete(qr_limits).where(kind.in_(kinds), qr_limits.c.last_at < older))


# Flagged QR ratings of one window in one day that raise a burst alert. A kiosk's bursts raise
# one; the QR page's were flagged in silence, so a phone re-rating a window all day was seen by
# no one. Two is a hall's shared Wi-Fi address; three in a day is worth a look.
QR_BURST_ALERT = 3


def _alert_burst(conn, window_id: str, day: str, now: dt.datetime, interval: int) -> None:
    n = conn.execute(select(func.count()).select_from(ratings).where(
        ratings.c.window_id == window_id, ratings.c.day == day,
        ratings.c.channel == C.CHANNEL_QR, ratings.c.flagged.is_(True))).scalar()
    if n >= QR_BURST_ALERT:
        raise_alert(conn, C.AL_BURST, f"qr:{window_id}:{day}",
                    f"window {window_id}: {n} QR ratings on {day} came from one address within "
                    f"{interval} s of its last; kept flagged {C.FLAG_LOCKOUT}", now,
                    window_id=window_id, args={"msg": "burst_qr", "window": window_id, "n": n,
                                               "day": day, "interval": interval})


def _other_window(conn, rating_id: str, window_id: str) -> bool:
    """Whether ``rating_id`` is stored as a rating of another window than ``window_id``."""
    found = conn.execute(select(ratings.c.window_id).where(ratings.c.id == rating_id)).first()
    return found is not None and found[0] != window_id


def _client_key(secret: str, ip: str, window_id: str) -> str:
    """The limit's key of a client for a window: the IP address (an IPv6 address's /64,
    ``qr.client_address``: a phone owns a whole /64 and each new address was a new client)
    under a keyed hash, so the table does not hold citizens' addresses."""
    mac = hmac.new(secret.encode(), f"qr-client:{client_address(ip)}".encode(),
                   hashlib.sha256).hexdigest()
    return f"c|{mac[:32]}|{window_id}"


def _browser_key(secret: str, browser: str, window_id: str) -> str:
    """The limit's key of a browser (its cookie's id, ``qr.check_browser_cookie``) for a
    window, under a keyed hash."""
    mac = hmac.new(secret.encode(), f"qr-browser-key:{browser}".encode(),
                   hashlib.sha256).hexdigest()
    return f"b|{mac[:32]}|{window_id}"


# The page's per-browser cookie (``qr.browser_cookie``): one browser's second rating of a
# window within ``qr_memory_hours`` is flagged, whatever address it comes from.
COOKIE = "qr_b"
# Keys of a client's day (its budget of stored ratings, its one case from flagged ratings)
# are forgotten this long after they were last noted: the day they name is over by then.
DAY_MEMORY = dt.timedelta(hours=25)


def _in_budget(conn, client_key: str, day: str, budget: int, now: dt.datetime) -> bool:
    """Whether a client (``_client_key``) may store another rating of its window on ``day``;
    then it is counted. A loop from one address stored every POST (flagged), and each with a
    number to call opened a case against whoever was on duty."""
    key = "d" + client_key[1:] + "|" + day
    # One upsert of the client's day row (``uses``, migration 53): it counted one row per
    # rating by key prefix, which no index served, reading the whole table under the write
    # lock on every POST. A second request of the same client waits for the first's row
    # (PostgreSQL) and counts on from what the first wrote; none is returned at the budget.
    insert = (postgresql.insert if is_pg(conn) else sqlite.insert)(qr_limits).values(
        client_key=key, last_at=now, uses=1)
    stmt = insert.on_conflict_do_update(
        index_elements=[qr_limits.c.client_key],
        set_={"uses": qr_limits.c.uses + 1, "last_at": insert.excluded.last_at},
        where=qr_limits.c.uses < budget).returning(qr_limits.c.uses)
    return conn.execute(stmt).first() is not None


def _own_origin(origin: str, request: Request, settings) -> bool:
    """Whether a request's ``Origin`` is this server: the public URL's, or the address the
    request itself came to (a hall's own name for the server)."""
    def origin_of(url: str) -> str:
        scheme, _, rest = url.partition("://")
        return f"{scheme}://{rest.split('/', 1)[0]}".lower()
    here = ("https" if is_https(request) else "http") + "://" + request.headers.get("host", "")
    return origin.lower() in (origin_of(settings.public_url), origin_of(here))


# Reasons a bad rating may carry on this page: every bad level's. The page shows the chips of
# the chosen level with its script; without it every chip shows, and the ones of another bad
# level were dropped without a word (a 吃拿卡要 complaint among them).
BAD_REASONS = frozenset(code for codes in C.REASONS.values() for code in codes)


# a form id as ``qr.form_id`` makes it (checked by ``qr.check_form_id`` before any use)
FORM_ID = re.compile(r"[0-9a-f]{32}\.[0-9]{1,12}\.[0-9a-f]{32}")


def _rating_id(window_id: str, form_id: str) -> str:
    """One id per form shown: a form sent twice (back, or a reload of the answer) is one
    rating. A missing or malformed form id gets a fresh id."""
    if FORM_ID.fullmatch(form_id or ""):
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"qr-rating:{window_id}:{form_id}"))
    return event_id()


def _stored_answer(conn, rating_id: str) -> dict | None:
    """What the QR rating ``rating_id`` stored of its form (``answer`` in ``rate_submit``),
    None when there is no such rating."""
    row = conn.execute(select(ratings.c.level, ratings.c.reasons, ratings.c.comment,
                              ratings.c.phone, ratings.c.callback_consent)
                       .where(ratings.c.id == rating_id)).mappings().first()
    return None if row is None else dict(row) | {"callback_consent": bool(row["callback_consent"])}


def _resent(kept: dict, answer: dict) -> str:
    """The outcome of a form sent again: "thanks" when it says what was stored (a double
    tap, a reload: one rating, quietly), else the stored level. A citizen who sent 满意,
    pressed Back and sent 非常不满意 with a comment and a number to call was thanked, and
    the bad rating, the comment and the call were lost without a word; a sent rating is not
    changed (一次一评), but the citizen is told so, with what they typed kept."""
    same = {**kept, "reasons": json.loads(kept["reasons"] or "null")} == \
        {**answer, "reasons": json.loads(answer["reasons"] or "null")}
    return "thanks" if same else kept["level"]


def _changed_text(lang: str, stored_level: str, w: dict, settings) -> str:
    """The words of a form sent again with another answer: what was stored, that it stays,
    and the hotline to call about a problem (the unit's, else the server's), if there is one."""
    t = TEXT[lang]
    return _with_hotline(lang, t["rated_already"].format(
        level=t["levels"].get(stored_level, stored_level)), w, settings)


@router.post("/r/{window_code:path}", response_class=HTMLResponse, openapi_extra={"requestBody": {
    "required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
        "type": "object", "properties": {
            "level": {"type": "string"}, "reasons": {"type": "array", "items": {"type": "string"}},
            "comment": {"type": "string"}, "phone": {"type": "string"},
            "consent": {"type": "string"}, "t": {"type": "string"},
            "form_id": {"type": "string"}}}}}}})
@_calm
async def rate_submit(window_code: str, request: Request, lang: str = "zh"):
    """Store a QR rating (channel 3), or a follow-up comment for a kiosk rating, then send the
    phone on to the thank-you page (a reload there sends nothing again)."""
    lang = "en" if lang == "en" else "zh"
    settings = request.app.state.settings
    try:
        body = await read_capped(request, 32 * 1024)
    except AggregatorError:
        return _page(lang, 413, state="too_large", window=None)
    form = {k: v for k, v in parse_qs(body.decode("utf-8", "replace"),
                                      keep_blank_values=True).items()}
    # No NUL in what is stored: PostgreSQL's text cannot hold it (a 500 there).
    one = lambda name: (form.get(name) or [""])[0].replace("\x00", "").strip()  # noqa: E731
    try:
        w = await run_in_threadpool(_window, request.app.state.engine, window_code)
    except Exception as exc:
        return _refused(exc, _down(lang))
    if w is None or not w["active"]:
        return _unknown(lang, w, settings)
    level = one("level")
    levels = C.LEVELS_4 if w["scale"] == 4 else C.LEVELS_5
    comment = comment_text(one("comment")) or None
    typed = one("phone")[:40]
    phone = phone_number(typed)
    consent = one("consent") in ("1", "on", "yes", "true")
    form_id = one("form_id")
    # Each reason once: a repeated one counted one citizen's complaint several times.
    reasons = list(dict.fromkeys(r for r in form.get("reasons", [])
                                 if level in C.REASONS and r in BAD_REASONS))[:10]
    entered = {"level": level, "reasons": reasons, "comment": comment or "", "phone": typed,
               "consent": consent}
    token = one("t") or None
    what = (comment, phone, consent)   # what a follow-up adds (``_sent_key``)
    rating_id = None
    late = False   # a used or expired follow-up link: a late note of its rating

    def fresh_form_id() -> str:
        return new_form_id(settings.secret, w["id"], time.time())

    def as_new_rating(status: int, why: str) -> HTMLResponse:
        # What the citizen wrote stays: it can go as a new rating of the window (the page
        # said only "expired", and the comment was lost). Only for a link that names no
        # rating of this window: a used or expired one's text is a late note of its rating.
        return _page(lang, status, state="form", window=w, levels=levels,
                     error=TEXT[lang][why], entered=entered, form_id=fresh_form_id())
    def follow_changed() -> HTMLResponse:
        # this form added its text already: the new text stays on the page, not stored
        return _page(lang, 409, state="follow", window=w, levels=levels, token=token,
                     entered=entered, form_id=form_id, locked=True,
                     error=_with_hotline(lang, TEXT[lang]["follow_changed"], w, settings))
    def refused(status: int, why: str, locked: bool = False) -> HTMLResponse:
        # not stored: the form again, in Chinese first, with what was typed and a form id
        # that a second press can send
        return _with_browser(_page(
            lang, status, state="follow" if token else "form", window=w, levels=levels,
            token=token, entered=entered, form_id=form_id if locked else fresh_form_id(),
            locked=locked, error=_with_hotline(lang, TEXT[lang][why], w, settings)
            if why in ("budget", "late_done", "foreign") else TEXT[lang][why]), request, settings)

    # Only a form this server showed, from a page of this server: any web site could make its
    # visitors' browsers send a rating (a no-cors fetch needs no preflight), and each was
    # counted. A browser names the page that sent a POST in ``Origin``; a client that sends
    # none (an old browser, a script) still needs a form id, which only our GET gives.
    origin = request.headers.get("origin")
    if origin is not None and not _own_origin(origin, request, settings):
        log.warning("QR page: a POST for window %s from another site (Origin %.80r) refused",
                    w["id"], origin)
        return refused(403, "cross_site")
    if "switch_lang" in form:
        # The page's language switch (rate.html): the same form again in ``lang``, with what
        # was chosen and typed, and nothing stored; its form id kept when it is one of ours
        # (the same rating when it is sent), else a fresh one. A link threw it all away.
        if token and read_follow_up_token(settings.secret, w["id"], token, time.time()) is None:
            return _page(lang, 410, state="expired", window=w)
        kept = form_id if check_form_id(settings.secret, w["id"], form_id, time.time()) \
            else fresh_form_id()
        return _with_browser(_page(lang, state="follow" if token else "form", window=w,
                                   levels=levels, token=token, entered=entered, form_id=kept),
                             request, settings)
    form_state = check_form_id(settings.secret, w["id"], form_id, time.time())
    if form_state is None:
        return refused(403, "stale_form")
    if token:
        found = read_follow_up_token(settings.secret, w["id"], token, time.time())
        if found is None:
            return as_new_rating(410, "expired_form")
        rating_id, late = found
        # A link used already (in another tab, or before its page was reloaded) adds a late
        # note, as one that expired. The very form that used it, sent again (a double tap,
        # Back), is told "thanks", as a QR rating's would be.
        try:
            use = None if late else await run_in_threadpool(
                _link_use, request.app.state.engine, rating_id, form_id, utcnow(), what)
        except Exception as exc:
            return _refused(exc, _down(lang))
        if use == "sent":
            return RedirectResponse(f"{page_path(w['id'])}?lang={lang}&done=1", status_code=303)
        if use == "used":
            late = True
        if use == "changed":
            return follow_changed()
    # A refusal shows the form again with what the citizen entered; before, a phone number
    # that did not parse, or one given without consent, was dropped without a word.
    problem = ("bad_input" if not token and level not in levels
               else "empty" if token and not comment and not typed
               else "bad_phone" if typed and phone is None
               else "no_consent" if phone and not consent else None)

    def again(status: int, problem: str) -> HTMLResponse:
        return _page(lang, status, state="follow" if token else "form", window=w,
                     levels=levels, token=token, error=TEXT[lang][problem], entered=entered,
                     form_id=form_id)
    if problem:
        return again(400, problem)
    now = utcnow()
    interval = settings.qr_rate_limit_seconds
    # what a QR rating stores of the form (``_stored_answer`` reads it back)
    answer = {"level": level, "reasons": json.dumps(reasons) if reasons else None,
              "comment": comment, "phone": phone if consent else None,
              "callback_consent": bool(consent and phone)}

    def late_note(conn) -> str:
        # One late note per rating while its link's use is remembered; the form that sent
        # it, sent again (a double tap, Back), is thanked and adds nothing.
        sent = _sent_key("late|" + rating_id, form_id, what)
        if not _first(conn, _link_key("late|" + rating_id), now, FOLLOW_UP_MEMORY.total_seconds()):
            return "thanks" if conn.execute(select(qr_limits.c.client_key).where(
                qr_limits.c.client_key == sent)).first() else "late_done"
        _note(conn, sent, now)
        return add_to_rating(conn, rating_store.LATE)

    def add_to_rating(conn, kind: str) -> str:
        """The link's comment and number onto its rating (``kind``: a follow-up's or a late
        note); a number to call back opens the case of a flagged bad rating, or makes it owed."""
        rating_store.attach(conn, rating_id, kind, {
            "comment": comment, "phone": phone, "callback_consent": consent}, now,
            window_id=w["id"])
        if phone and consent:
            open_cases_for_callbacks(conn, [rating_id], now)
        return "thanks"

    def run() -> str:
        with write(request.app.state.engine) as conn:
            _forget_old(conn, now, interval, settings.qr_memory_hours)
            if token and _other_window(conn, rating_id, w["id"]):
                return "foreign"   # a link signed for this window naming another's rating
            if token and late:
                return late_note(conn)
            if token:
                # One addition per kiosk rating: the link stays valid for days, and anyone who
                # photographed it could replace the comment, or the number to call back.
                stamp = max(now, _link_expiry(token))
                if not _first(conn, _link_key(rating_id), now, FOLLOW_UP_MEMORY.total_seconds(),
                              stamp=stamp):
                    return {"sent": "thanks", "changed": "follow_changed",
                            "used": "follow_done"}[_link_state(conn, rating_id, form_id, what)]
                for sent in (_sent_key(rating_id, form_id), _sent_key(rating_id, form_id, what)):
                    if sent:   # forgotten with the link's use (``_forget_old``: an "f|" key)
                        _note(conn, sent, stamp)
                return add_to_rating(conn, rating_store.COMMENT)
            rid = _rating_id(w["id"], form_id)
            kept = _stored_answer(conn, rid)
            if kept is not None:   # this form was sent before: Back, a double tap, a reload
                return _resent(kept, answer)
            if form_state == "old":   # a form shown hours ago and never sent
                return "stale_form"
            day = rating_store.local_day(now, settings.timezone_offset_hours)
            client = _client_key(settings.secret, client_ip(request), w["id"])
            if not _in_budget(conn, client, day, settings.qr_daily_budget, now):
                return "budget"
            # One clean rating per browser and window in qr_memory_hours, and per address in
            # the interval; the next ones are kept flagged, as a kiosk's lockout does. They
            # were refused (429) and lost: a hall's visitors share its Wi-Fi address, so one
            # rating kept out everyone else's. A client without our cookie (a script, or a
            # browser that refuses cookies) is known by its address alone, for the hours: one
            # phone rated once a minute all day, every rating counted.
            memory = settings.qr_memory_hours * 3600
            browser = check_browser_cookie(settings.secret, request.cookies.get(COOKIE))
            if browser:
                clean = _first(conn, _browser_key(settings.secret, browser, w["id"]), now, memory)
                clean = _first(conn, client, now, interval) and clean
            else:
                clean = _first(conn, client, now, max(interval, memory))
            # Who is on duty: the window's kiosk's last sign-in, if the kiosk was heard from
            # lately. One switched off at night names nobody (a rating named whoever signed
            # in last, maybe yesterday, and opened its case against them).
            staff = conn.execute(select(devices.c.staff_id, devices.c.staff_name).where(
                devices.c.window_id == w["id"], devices.c.revoked_at.is_(None),
                devices.c.staff_id.is_not(None),
                devices.c.last_seen_at >= now - ON_DUTY_HEARD)).first()
            row = {
                "id": rid, "device_id": None, "window_id": w["id"],
                "unit_id": w["unit_id"], "staff_id": staff[0] if staff else None,
                "staff_name": staff[1] if staff else None, "service_item": None,
                "case_no": None, "invitation_id": None, "channel": C.CHANNEL_QR,
                "stars": C.STARS[level], "scale": w["scale"],
                "reasons_version": C.REASONS_VERSION if reasons else None, **answer,
                "device_time": None,
                "server_time": now, "rated_at": now, "day": day,
                "flags": "[]" if clean else json.dumps([C.FLAG_LOCKOUT]), "flagged": not clean}
            if not rating_store.store(conn, [row]):   # the same form, sent at the same time
                return _resent(_stored_answer(conn, rid) or answer, answer)
            # A bad QR rating is followed up like any other, flagged ones asking to be called
            # too (100 % 回访; the queue's catch-up, ``cases.sync_cases``, opens theirs anyway):
            # the daily budget is what bounds a loop from one address.
            open_cases_for(conn, [row], now)
            if not clean:
                _alert_burst(conn, w["id"], row["day"], now, interval)
            return "thanks"
    try:
        outcome = await run_in_threadpool(run)
    except Exception as exc:
        # a full disk, the database out of reach, a bug: the citizen keeps what they typed
        # and can send it later
        return _refused(exc, lambda status: again(status, "unavailable"))
    if outcome == "follow_done":   # used in the moment since the check above: a late note
        late = True
        try:
            outcome = await run_in_threadpool(run)
        except Exception as exc:
            return _refused(exc, lambda status: again(status, "unavailable"))
    if outcome in ("stale_form", "foreign", "late_done"):
        return refused({"stale_form": 403, "foreign": 403, "late_done": 409}[outcome], outcome,
                       locked=outcome != "stale_form")
    if outcome == "budget":
        return refused(429, "budget")
    if outcome == "follow_changed":
        return follow_changed()
    if outcome != "thanks":   # another answer from a form already sent: the stored level
        return _page(lang, 409, state="form", window=w, levels=levels, entered=entered,
                     form_id=form_id, locked=True,
                     error=_changed_text(lang, outcome, w, settings))
    return RedirectResponse(f"{page_path(w['id'])}?lang={lang}&done=1", status_code=303)
