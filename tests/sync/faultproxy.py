"""A fault-injecting HTTP proxy on loopback, between the sync client and a real server.

One request per client connection (every answer carries ``Connection: close``). For each
request the proxy asks ``chooser(RequestInfo)`` (default: every request passes) what to do:

``pass``       forward and relay the answer
``drop``       close the connection before forwarding (a clean FIN)
``reset``      reset the connection (RST) before forwarding
``delay``      wait ``delay_seconds`` (beyond the client's timeout), then forward a late copy
``500`` ``502`` ``503``  answer that status itself, with an HTML page
``429``        answer 429 with ``Retry-After: <retry_after>``
``lose``       forward, let the server commit, then close without answering
``lose_reset`` forward, then reset the connection instead of answering
``truncate``   forward, then relay only half the answer body
``captive``    answer 200 with a captive-portal HTML login page
``413``        answer 413 itself, as the aggregator words it (JSON ``too_large``)
``413html``    answer 413 with a web server's HTML page (a proxy's body limit)
``twice``      forward the request twice (a proxy retrying upstream) and relay the second
               answer: the server finds the second copy's nonce used; a batch is answered
               with what the server holds of it, any other request 401 ``replayed``
``429date``    answer 429 with ``Retry-After`` as an HTTP-date ``retry_after`` seconds on, and
               a ``Date`` header, by a server clock ``date_offset`` seconds from this one's

>>> proxy = FaultProxy("127.0.0.1", port).start()                    # doctest: +SKIP
>>> proxy.queue("captive", "lose")   # the next two batch posts       # doctest: +SKIP
"""

from __future__ import annotations

import gzip
import json
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass
from email.utils import formatdate
from typing import Callable

FAULTS = ("pass", "drop", "reset", "delay", "500", "502", "503", "429", "lose", "lose_reset",
          "truncate", "captive", "413", "413html", "twice", "429date")
REASONS = {200: "OK", 413: "Payload Too Large", 429: "Too Many Requests",
           500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
CAPTIVE_PAGE = (b"<!DOCTYPE html><html><head><title>Guest Wi-Fi</title></head><body>"
                b"<h1>Welcome</h1><form action='/login'>Accept the terms to continue</form>"
                b"</body></html>")


@dataclass
class RequestInfo:
    method: str
    path: str
    n_events: int | None  # events in a batch body, when it is one


def _response(status: int, body: bytes, content_type: str, extra: str = "") -> bytes:
    head = (f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n{extra}"
            "Connection: close\r\n\r\n")
    return head.encode("latin-1") + body


class FaultProxy:
    """Threaded loopback proxy; ``chooser`` or ``queue`` script the faults per request."""

    def __init__(self, upstream_host: str, upstream_port: int, *, delay_seconds: float = 1.0,
                 retry_after: int = 7) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.delay_seconds = delay_seconds
        self.retry_after = retry_after
        self.date_offset = 0.0
        self.chooser: Callable[[RequestInfo], str] | None = None
        self._queued: deque[str] = deque()
        self.queue_paths = ("/api/v1/batches",)
        self.log: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._active = 0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(128)
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._closed = False
        self._thread = threading.Thread(target=self._accept_loop, name="faultproxy", daemon=True)

    def start(self) -> "FaultProxy":
        self._thread.start()
        return self

    def close(self) -> None:
        self._closed = True
        try:
            self._sock.close()
        except OSError:
            pass
        self.wait_idle(10)

    def queue(self, *faults: str) -> None:
        """Faults for the next requests to ``queue_paths``, in order (before ``chooser``)."""
        for f in faults:
            if f not in FAULTS:
                raise ValueError(f"unknown fault {f!r}")
        with self._lock:
            self._queued.extend(faults)

    def wait_idle(self, timeout: float = 10) -> bool:
        """Wait until no request is in flight (late copies included)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._active:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def faults_seen(self) -> dict[str, int]:
        out: dict[str, int] = {}
        with self._lock:
            for _, _, fault in self.log:
                out[fault] = out.get(fault, 0) + 1
        return out

    # ---------------------------------------------------------------- serving
    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with self._lock:
                self._active += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(30)
            request = self._read_request(conn)
            if request is not None:
                self._handle(conn, *request)
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass
            with self._idle:
                self._active -= 1
                self._idle.notify_all()

    @staticmethod
    def _read_request(conn: socket.socket):
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = []
        length = 0
        encoding = ""
        for line in lines[1:]:
            name, _, value = line.partition(":")
            low = name.strip().lower()
            if low == "content-length":
                length = int(value.strip())
            if low == "content-encoding":
                encoding = value.strip().lower()
            if low in ("connection", "keep-alive"):
                continue
            headers.append(line)
        body = rest
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            body += chunk
        forward = ("\r\n".join([lines[0], *headers, "Connection: close"]) + "\r\n\r\n").encode(
            "latin-1") + body
        return method, target.split("?")[0], body, encoding, forward

    def _choose(self, info: RequestInfo) -> str:
        with self._lock:
            if info.path in self.queue_paths and self._queued:
                return self._queued.popleft()
        if self.chooser is not None:
            return self.chooser(info) or "pass"
        return "pass"

    def _forward(self, raw: bytes) -> bytes:
        with socket.create_connection(self.upstream, timeout=60) as up:
            up.sendall(raw)
            chunks = []
            while True:
                chunk = up.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        return b"".join(chunks)

    def _handle(self, conn, method, path, body, encoding, forward) -> None:
        n_events = None
        if path == "/api/v1/batches":
            try:
                raw = gzip.decompress(body) if encoding == "gzip" else body
                n_events = len(json.loads(raw)["events"])
            except (OSError, ValueError, KeyError, TypeError, EOFError):
                n_events = None
        fault = self._choose(RequestInfo(method, path, n_events))
        with self._lock:
            self.log.append((method, path, fault))
        if fault == "pass":
            conn.sendall(self._forward(forward))
        elif fault == "drop":
            return
        elif fault == "reset":
            self._reset(conn)
        elif fault == "delay":
            time.sleep(self.delay_seconds)
            self._forward(forward)  # a late copy the client no longer waits for
        elif fault in ("500", "502", "503"):
            conn.sendall(_response(int(fault), b"<html><body>upstream error</body></html>",
                                   "text/html"))
        elif fault == "429":
            conn.sendall(_response(429, b'{"error":"rate_limited","detail":"slow down"}',
                                   "application/json", f"Retry-After: {self.retry_after}\r\n"))
        elif fault == "lose":
            self._forward(forward)
        elif fault == "lose_reset":
            self._forward(forward)
            self._reset(conn)
        elif fault == "truncate":
            answer = self._forward(forward)
            head, _, payload = answer.partition(b"\r\n\r\n")
            conn.sendall(head + b"\r\n\r\n" + payload[: len(payload) // 2])
        elif fault == "captive":
            conn.sendall(_response(200, CAPTIVE_PAGE, "text/html; charset=utf-8"))
        elif fault == "413":
            conn.sendall(_response(413, b'{"error":"too_large","detail":"body too large"}',
                                   "application/json"))
        elif fault == "413html":
            conn.sendall(_response(413, b"<html><head><title>413 Request Entity Too Large"
                                        b"</title></head><body><center><h1>413 Request Entity "
                                        b"Too Large</h1></center><hr><center>nginx</center>"
                                        b"</body></html>", "text/html"))
        elif fault == "twice":
            self._forward(forward)
            conn.sendall(self._forward(forward))
        elif fault == "429date":
            now = time.time() + self.date_offset
            conn.sendall(_response(429, b'{"error":"rate_limited","detail":"slow down"}',
                                   "application/json",
                                   f"Date: {formatdate(now, usegmt=True)}\r\nRetry-After: "
                                   f"{formatdate(now + self.retry_after, usegmt=True)}\r\n"))
        else:
            raise ValueError(f"unknown fault {fault!r}")

    @staticmethod
    def _reset(conn: socket.socket) -> None:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
