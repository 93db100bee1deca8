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

from sync.protocol import follow_up_token

__all__ = ["ascii_qr", "check_follow_up_token", "follow_up_token", "window_key"]


def window_key(secret: str, window_id: str) -> str:
    return hmac.new(secret.encode(), f"qr-follow-up:{window_id}".encode(),
                    hashlib.sha256).hexdigest()


def check_follow_up_token(secret: str, window_id: str, token: str, now_unix: float) -> str | None:
    """The rating id of a valid, unexpired token for this window, else None."""
    parts = (token or "").split(".")
    # ASCII only: "²" passed isdigit() and failed int(), and compare_digest refuses non-ASCII
    # text; both were a 500 where an expired link's page belongs.
    if len(parts) != 3 or len(token) > 200 or not token.isascii() or not parts[1].isdigit():
        return None
    rating_id, expires, mac = parts
    expected = follow_up_token(window_key(secret, window_id), rating_id, int(expires))
    if not hmac.compare_digest(token, expected) or int(expires) < now_unix:
        return None
    return rating_id


def ascii_qr(text: str) -> str:
    """``text`` as a QR code drawn with block characters, for a terminal."""
    import qrcode

    code = qrcode.QRCode(border=2)
    code.add_data(text)
    code.make(fit=True)
    out = io.StringIO()
    code.print_ascii(out=out, invert=True)
    return out.getvalue()
