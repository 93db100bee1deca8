"""Response headers every answer carries: no framing, no content sniffing, no referrer abroad.

The dashboard's pages could be framed by any site (clickjacking a supervisor's "close case"
or "revoke device" button); ``X-Frame-Options`` and CSP ``frame-ancestors`` forbid it
(OWASP Clickjacking Defense Cheat Sheet).
"""

from __future__ import annotations

HEADERS = [
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]


class SecurityHeaders:
    """ASGI middleware adding ``HEADERS`` to every HTTP response that does not set them."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                have = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    h for h in HEADERS if h[0] not in have]
            await send(message)

        await self.app(scope, receive, send_with_headers)
