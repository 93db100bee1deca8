"""A scripted HTTP server on loopback for answers the real aggregator never gives (a partial
batch answer, a trickled or huge body, a gateway's config, a WAF's 403).

``answer(method, path, body) -> (status, headers, body)`` decides each answer; ``body`` may be
bytes or an iterable of byte chunks (sent as they come, with ``delay`` between them).
Every request is logged as ``(method, path)`` in ``log``.

>>> server = FakeServer(lambda m, p, b: (200, {}, b'{"server_time": "…"}')).start()   # doctest: +SKIP
>>> SyncClient(server.url, store, creds)                                               # doctest: +SKIP
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterable


def now_text() -> str:
    return datetime.now(timezone.utc).isoformat()


def batch_of(body: bytes) -> dict[str, Any]:
    """The JSON of a batch request body (gzipped as the client sends it)."""
    return json.loads(gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body)


def json_answer(doc: Any, status: int = 200) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(doc).encode()


class FakeServer:
    """A ``ThreadingHTTPServer`` on 127.0.0.1 answering what ``answer`` says."""

    def __init__(self, answer: Callable[[str, str, bytes], tuple], *, delay: float = 0.0) -> None:
        self.answer = answer
        self.delay = delay
        self.log: list[tuple[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:   # quiet
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server.log.append((self.command, self.path))
                status, headers, content = server.answer(self.command, self.path, body)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                if isinstance(content, (bytes, bytearray)):
                    if "Content-Length" not in headers:
                        self.send_header("Content-Length", str(len(content)))
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(content)
                    return
                self.send_header("Connection", "close")
                self.end_headers()
                try:
                    for chunk in _chunks(content):
                        self.wfile.write(chunk)
                        self.wfile.flush()
                        time.sleep(server.delay)
                except OSError:   # the client gave up
                    pass
                self.close_connection = True

            do_GET = do_POST = _handle

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> "FakeServer":
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def count(self, path: str) -> int:
        return sum(1 for _, p in self.log if p == path)


def _chunks(content: Iterable[bytes]) -> Iterable[bytes]:
    yield from content
