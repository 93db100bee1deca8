"""QR codes: ASCII rendering for terminals, and the kiosk's follow-up tokens.

A kiosk may show a QR code after a rating so the citizen can add a comment on their phone:
``/r/<window>?t=<token>`` with ``token = <rating id>.<expiry unix>.<mac>``, where ``mac`` is
HMAC-SHA256 over ``<rating id>.<expiry>`` with the window's key (sent to the kiosk in its
config as ``follow_up_qr_key``), itself HMAC-SHA256 of the window id under the server secret.

>>> key = window_key("secret", "W-1")
>>> token = follow_up_token(key, "8c7e4a36-3c5e-4a8e-9e51-6f0c1c2b3a4d", 2000000000)
>>> check_follow_up_token("secret", "W-1", token, now_unix=1999999999)
'8c7e4a36-3c5e-4a8e-9e51-6f0c1c2b3a4d'
"""

from __future__ import annotations

import hashlib
import hmac
import io
import ipaddress
import secrets

from sync.protocol import follow_up_token

__all__ = ["ascii_qr", "browser_cookie", "check_browser_cookie", "check_follow_up_token",
           "check_form_id", "client_address", "follow_up_token", "form_id", "read_follow_up_token",
           "window_key"]

# The longest a follow-up link may claim to live (a kiosk makes them for 7 days by the server's
# clock). One with a later expiry is refused: a leaked key made links valid for ten years.
FOLLOW_UP_MAX_SECONDS = 8 * 86400
# How long a rating form shown by the server may be sent back (``check_form_id``)
FORM_MAX_AGE_SECONDS = 6 * 3600


def window_key(secret: str, window_id: str) -> str:
    return hmac.new(secret.encode(), f"qr-follow-up:{window_id}".encode(),
                    hashlib.sha256).hexdigest()


def check_follow_up_token(secret: str, window_id: str, token: str, now_unix: float) -> str | None:
    """The rating id of a valid, unexpired token for this window, else None."""
    found = read_follow_up_token(secret, window_id, token, now_unix)
    return found[0] if found and not found[1] else None


def read_follow_up_token(secret: str, window_id: str, token: str,
                         now_unix: float) -> tuple[str, bool] | None:
    """``(rating id, expired)`` of a token signed with this window's key, else None (forged,
    malformed, or claiming to live longer than ``FOLLOW_UP_MAX_SECONDS`` from now). An expired
    link is still known to name its rating: what is sent with it belongs to that rating, never
    to a new one (it was offered as a new rating, credited to whoever was on duty then).

    >>> key = window_key("s", "W-1")
    >>> read_follow_up_token("s", "W-1", follow_up_token(key, "r1", 100), now_unix=200)
    ('r1', True)
    >>> read_follow_up_token("s", "W-1", follow_up_token(key, "r1", 10**9), now_unix=0) is None
    True
    """
    parts = (token or "").split(".")
    # ASCII only: "²" passed isdigit() and failed int(), and compare_digest refuses non-ASCII
    # text; both were a 500 where an expired link's page belongs.
    if len(parts) != 3 or len(token) > 200 or not token.isascii() or not parts[1].isdigit():
        return None
    rating_id, expires, mac = parts
    expected = follow_up_token(window_key(secret, window_id), rating_id, int(expires))
    if not hmac.compare_digest(token, expected) or int(expires) > now_unix + FOLLOW_UP_MAX_SECONDS:
        return None
    return rating_id, int(expires) < now_unix


def _mac(secret: str, message: str) -> str:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()[:32]


def form_id(secret: str, window_id: str, now_unix: float) -> str:
    """A rating form's id as the page's GET issues it: ``<nonce>.<issued>.<mac>``, the MAC over
    window, issue time and nonce under the server secret. The POST takes only such an id
    (``check_form_id``): any web page could make its visitors' browsers send a rating (a
    no-cors fetch needs no page of ours), and each was counted.

    >>> fid = form_id("s", "W-1", 1000)
    >>> check_form_id("s", "W-1", fid, 1000 + 60), check_form_id("s", "W-2", fid, 1060)
    ('ok', None)
    """
    nonce, issued = secrets.token_hex(16), int(now_unix)
    return f"{nonce}.{issued}.{_mac(secret, f'qr-form:{window_id}|{issued}|{nonce}')}"


def check_form_id(secret: str, window_id: str, value: str, now_unix: float) -> str | None:
    """"ok" for a form id this server issued for this window (``form_id``) within
    ``FORM_MAX_AGE_SECONDS``, "old" for one issued earlier (a resend of a form sent long ago
    is still the same rating), None for anything else."""
    parts = (value or "").split(".")
    if (len(parts) != 3 or len(value) > 80 or not value.isascii()
            or not parts[1].isdigit() or len(parts[0]) != 32):
        return None
    nonce, issued, mac = parts
    if not hmac.compare_digest(mac, _mac(secret, f"qr-form:{window_id}|{issued}|{nonce}")):
        return None
    if int(issued) > now_unix + 300:   # from the future: not ours (the clock is one server's)
        return None
    return "ok" if now_unix - int(issued) <= FORM_MAX_AGE_SECONDS else "old"


def browser_cookie(secret: str) -> str:
    """A new value of the page's per-browser cookie: ``<id>.<mac>``."""
    browser = secrets.token_hex(16)
    return f"{browser}.{_mac(secret, f'qr-browser:{browser}')}"


def check_browser_cookie(secret: str, value: str | None) -> str | None:
    """The browser id of a cookie this server set (``browser_cookie``), else None."""
    parts = (value or "").split(".")
    if len(parts) != 2 or len(parts[0]) != 32 or not (value or "").isascii():
        return None
    if not hmac.compare_digest(parts[1], _mac(secret, f"qr-browser:{parts[0]}")):
        return None
    return parts[0]


def client_address(ip: str) -> str:
    """The part of a client's address that names one subscriber: an IPv6 address's /64 (a
    phone owns a whole /64 and may pick any address in it: each rating was "first" from its
    address), an IPv4 address (or one mapped into IPv6) whole.

    >>> client_address("2001:db8:1:2:aaaa::5"), client_address("::ffff:192.0.2.7")
    ('2001:db8:1:2::/64', '192.0.2.7')
    """
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def ascii_qr(text: str) -> str:
    """``text`` as a QR code drawn with block characters, for a terminal."""
    import qrcode

    code = qrcode.QRCode(border=2)
    code.add_data(text)
    code.make(fit=True)
    out = io.StringIO()
    code.print_ascii(out=out, invert=True)
    return out.getvalue()
