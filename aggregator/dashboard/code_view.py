"""The enrolment code just made, shown again on reload without being made again.

"生成注册码" posts, and the answer redirects to ``/dashboard/devices/codes/<view>`` (post,
redirect, get): reloading that page shows the same code, where reloading the POST's answer
issued another code, each a credential. The server keeps only the code's hash
(``enroll.create_code``), so the clear code travels once, sealed, in a cookie that only that
page's path receives. The seal's key comes from the server secret and the maker's session: no
other user, and no other session of the same user, can open it; signing out ends it. The URL
holds a random view id, never the code.

>>> s, view = {"token_hash": "ab" * 32}, new_view_id()
>>> box = seal("secret", s, view, {"code": "K7Q-2MX-9TD", "window_id": "W-001"})
>>> unseal("secret", s, view, box)["code"]
'K7Q-2MX-9TD'
>>> unseal("secret", {"token_hash": "cd" * 32}, view, box) is None   # another session
True
>>> unseal("secret", s, new_view_id(), box) is None   # another page's cookie
True
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets

from nacl.exceptions import CryptoError
from nacl.secret import SecretBox

COOKIE = "agg_enroll_code"
SHOWN_SECONDS = 3600   # how long the page shows the code again (the code may last longer)
VIEW_ID = re.compile(r"[A-Za-z0-9_-]{16,64}\Z")


def new_view_id() -> str:
    return secrets.token_urlsafe(16)


def _box(secret: str, session: dict) -> SecretBox:
    key = hmac.new(secret.encode(), b"enroll-code-view\0" + session["token_hash"].encode(),
                   hashlib.sha256).digest()
    return SecretBox(key)


def seal(secret: str, session: dict, view: str, code: dict) -> str:
    """The cookie value holding ``code`` for the page ``view`` of ``session``."""
    plain = json.dumps({"view": view, **code}, ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(bytes(_box(secret, session).encrypt(plain))).decode()


def unseal(secret: str, session: dict, view: str, value: str | None) -> dict | None:
    """The code sealed in ``value`` for ``view`` of ``session``; None for anything else (no
    cookie, another session's, another page's, a damaged one)."""
    if not value or len(value) > 2000 or not VIEW_ID.match(view):
        return None
    try:
        plain = _box(secret, session).decrypt(base64.urlsafe_b64decode(value.encode()))
        code = json.loads(plain)
    except (CryptoError, binascii.Error, ValueError):
        return None
    if not isinstance(code, dict) or code.pop("view", None) != view:
        return None
    return code


def cookie_path(prefix: str, view: str) -> str:
    return f"{prefix}/devices/codes/{view}"
