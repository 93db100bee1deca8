"""What the screens say, as plain Python (no Kivy): URLs, masked phone numbers, status lines."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Callable
from urllib.parse import quote

from sync.protocol import follow_up_token as protocol_token

PHONE_MAX_DIGITS = 15
PHONE_MIN_DIGITS = 5


def rating_page_url(base: str, window_id: str, token: str | None = None) -> str:
    """The mobile rating page of a window: ``<base>/r/<window id>[?t=<token>]``; '' without a base.

    ``base`` is the server's ``qr_base_url`` (which already ends in ``/r/``), else
    ``sync.qr_base_url`` or ``sync.server``. ``token`` ties added details to one rating
    (``follow_up_token``).
    """
    base = (base or "").strip().rstrip("/")
    if not base:
        return ""
    if not base.endswith("/r"):
        base += "/r"
    url = f"{base}/{quote(window_id, safe='')}"
    if token:
        url += f"?t={quote(token, safe='.')}"
    return url


def follow_up_token(rating_id: str, key: str | None, now_unix: float, valid_seconds: int = 7 * 86400) -> str:
    """``<rating id>.<expiry>.<mac>`` as the aggregator checks it (aggregator/qr.py).

    ``key`` is the window's ``follow_up_qr_key`` from the pulled device config; without it
    (never enrolled) the bare rating id is used and the server will not accept details for it.
    """
    if not key:
        return rating_id
    return protocol_token(key, rating_id, int(now_unix) + valid_seconds)


def mask_phone(digits: str) -> str:
    """Show a callback number without exposing it to people nearby: 138****1234.

    The first three and the last four digits stay visible once there are enough of them; the
    digits being typed stay visible until then so the citizen can check them.
    """
    n = len(digits)
    if n <= 7:
        return digits
    hidden = n - 7
    return digits[:3] + "*" * hidden + digits[-4:]


def phone_for_submit(digits: str) -> str | None:
    """The typed number when it is long enough to be a phone number, else None."""
    return digits if digits.isdigit() and PHONE_MIN_DIGITS <= len(digits) <= PHONE_MAX_DIGITS else None


def human_bytes(n: int | None) -> str:
    if n is None:
        return "—"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def short_time(value: Any) -> str:
    """An ISO time (or datetime) as local 'YYYY-MM-DD HH:MM:SS'; '—' when missing."""
    if not value:
        return "—"
    try:
        dt = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def events_text(diag: dict[str, Any], tr: Callable[..., str]) -> str:
    """How many events the kiosk holds, and from which one when retention deleted older ones."""
    events, since = diag.get("events", "—"), diag.get("pruned_through") or 0
    return tr("tech.events_since", n=events, seq=since + 1) if since else str(events)


# What the sync worker can report (sync/worker.py ST_*), each said on the panel as tech.sync_<state>.
SYNC_STATES = ("starting", "syncing", "idle", "backoff", "not_authorised", "not_enrolled", "stopped")


def sync_state_text(state: Any, tr: Callable[..., str]) -> str:
    """The sync worker's state in the panel's language (it showed the raw code, "backoff")."""
    if state in SYNC_STATES:
        return tr(f"tech.sync_{state}")
    return str(state or "—")


def setting_text(name: str, value: Any, tr: Callable[..., str]) -> str:
    """A technician setting's value as the panel says it: "邀请评价" rather than "invited"."""
    if name == "trigger.mode":
        return tr(f"mode.{value}")
    if name == "language":
        return tr(f"language.{value}")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def diagnostics_rows(diag: dict[str, Any], sync: dict[str, Any] | None, version: str, window: str,
                     tr: Callable[..., str]) -> list[tuple[str, str]]:
    """The technician panel's (label, value) lines from store.diagnostics() and the sync status."""
    rows = [
        (tr("tech.device_id"), str(diag.get("device_id", "—"))),
        (tr("tech.version"), version),
        (tr("tech.window"), window),
        (tr("tech.events"), events_text(diag, tr)),
        (tr("tech.pending"), str(diag.get("pending", "—"))),
        (tr("tech.quarantined"), str(diag.get("quarantined", "—"))),
        (tr("tech.last_ack"), short_time(diag.get("last_ack"))),
    ]
    if sync is None:
        rows.append((tr("tech.sync_state"), tr("tech.standalone")))
    else:
        skew = sync.get("clock_offset")
        rows += [
            (tr("tech.sync_state"), sync_state_text(sync.get("state"), tr)),
            # when the kiosk last synced with success (the last try's outcome is the state)
            (tr("tech.last_sync"), short_time(sync["last_sync"]) if sync.get("last_sync")
             else tr("tech.never")),
            # in full: the panel wraps it (the technician needs the cause, not its first words)
            (tr("tech.last_error"), str(sync.get("last_error") or tr("tech.none"))),
            (tr("tech.clock_skew"), "—" if skew is None else f"{float(skew):+.1f} s"),
        ]
        if sync.get("moved_aside_pending"):   # a database moved aside as corrupt still sending
            rows.append((tr("tech.moved_pending"), str(sync["moved_aside_pending"])))
    rows += [
        (tr("tech.disk_free"), human_bytes(diag.get("disk_free_bytes"))),
        (tr("tech.db_size"), human_bytes(diag.get("db_bytes"))),
    ]
    return rows


def shorten_to_fit(fill: Callable[[str], str], value: str, fits: Callable[[str], bool]) -> str:
    """``fill(value)``, with ``value`` cut short and ended in "…" until ``fits`` accepts it.

    For a sentence around a name that must stay whole around it (the staff number after a
    34-character name ran out of the staff panel):

    >>> shorten_to_fit(lambda n: f"当前：{n}（0007）", "阿卜杜热合曼·买买提", lambda t: len(t) <= 14)
    '当前：阿卜杜热…（0007）'
    """
    text = fill(value)
    while not fits(text) and value:
        value = value[:-1]
        text = fill(value.rstrip(" ·-") + "…")
    return text


def stars_text(n: int, out_of: int = 5) -> str:
    n = max(0, min(out_of, int(n or 0)))
    return "★" * n + "☆" * (out_of - n)


# Chinese line breaking (行首/行尾禁则; W3C "Requirements for Chinese Text Layout", clreq,
# on prohibition rules at line start and end; Office Open XML, Ecma-376, has similar lists):
# these never begin a line (closing punctuation, pauses and stops, the ellipsis) ...
NO_LINE_START = set("，。、；：？！）］｝】》〉」』〕”’％‰·・…,.;:!?)]}%")
# ... and these never end one (opening punctuation).
NO_LINE_END = set("（［｛【《〈「『〔“‘([{")
# Runs that must not be split: Latin words and numbers, and the two-character dash "——".
_WORD = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_/@#&+'")


def _units(paragraph: str) -> list[str]:
    """The pieces a line may break between: one Chinese character with the punctuation that
    clings to it, a Latin word or number, a space."""
    units: list[str] = []
    for ch in paragraph:
        if units:
            prev = units[-1][-1]
            if ch in NO_LINE_START or prev in NO_LINE_END or (ch == prev == "—") \
                    or (ch in _WORD and prev in _WORD):
                units[-1] += ch
                continue
        units.append(ch)
    return units


def phrase_lines(text: str) -> str:
    """``text`` with a line break after each "，" or "；" and before each "（", where a
    reader pauses: a time limit too long for one line then breaks between its phrases rather
    than inside a word ("法定20个工作日，承诺5个工作日" broke as "…个工作\\n日，承诺…").

    >>> phrase_lines("法定20个工作日，承诺5个工作日")
    '法定20个工作日，\\n承诺5个工作日'
    >>> phrase_lines("20个工作日（不含公示时间）")
    '20个工作日\\n（不含公示时间）'
    """
    out = ""
    for ch in text.strip():
        if ch in "（(" and out and not out.endswith("\n"):
            out += "\n"
        out += ch
        if ch in "，；,;":
            out += "\n"
    return "\n".join(line.strip() for line in out.split("\n") if line.strip())


def break_lines(text: str, width: float, measure: Callable[[str], float], max_lines: int = 0,
                after: str = "") -> str:
    """``text`` with line breaks where a Chinese typesetter would put them for ``width``.

    Kivy breaks a run of text without spaces at whatever character overflows, so a pledge's
    "，" or "。" often began a line (at 34 of 79 widths tried for one pledge). ``measure`` gives
    a string's width in the label's font. A piece wider than a whole line is left for Kivy to
    cut. With ``max_lines``, text beyond that many lines is cut and the last line ends in "…"
    (Kivy dropped the lines without a sign that the text went on). ``after``: characters a
    line may also break after inside a word ("/-" for a folder such as
    /media/usb/kiosk-export-2d86c1d3-…, one word to Kivy, which cut it anywhere). Plain Python:

    >>> break_lines("群众满意，是我们的追求。", 5, len)
    '群众满意，\\n是我们的追\\n求。'
    >>> break_lines("群众满意，是我们的追求。", 5, len, max_lines=2)
    '群众满意，\\n是我们的…'
    >>> break_lines("/media/usb/kiosk-export-1", 11, len, after="/-")
    '/media/usb/\\nkiosk-\\nexport-1'
    """
    split = re.compile(f"(?<=[{re.escape(after)}])(?=.)") if after else None
    out: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for unit in _units(paragraph):
            for piece in split.split(unit) if split else (unit,):
                if line and measure(line + piece) > width:
                    out.append(line.rstrip(" "))
                    line = piece.lstrip(" ")
                else:
                    line += piece
        out.append(line)
    if 0 < max_lines < len(out):
        last = out[max_lines - 1]
        while last and measure(last + "…") > width:
            last = last[:-1]
        out = out[:max_lines - 1] + [last.rstrip(" ，、；：,;:") + "…"]
    return "\n".join(out)
