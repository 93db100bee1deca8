"""A small JSON-over-HTTP handler for the kiosk's local endpoints (``invite_server``): every
answer JSON, bodies read by Content-Length or chunked within a time limit, and a kept-alive
connection never left out of step (a refused request's unread body was parsed as the next
request). Plain http.server, no Kivy.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any

log = logging.getLogger(__name__)

BODY_TIMEOUT = 2.0      # seconds for a whole body to arrive (a few KB, on loopback)
IDLE_TIMEOUT = 30.0     # seconds a kept-alive connection may wait for its next request
DISCARD_LIMIT = 65536   # an unwanted body up to this size is read and dropped, keeping the connection
_DIGITS = re.compile(r"[0-9]+")


class BodyError(Exception):
    """The request's body cannot be read; the answer to give (the connection is closed)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class JsonHandler(BaseHTTPRequestHandler):
    """A handler whose every answer is JSON (``answer``), also http.server's own refusals,
    and which reads a body by Content-Length or chunked (``read_body``, at most ``max_body``
    bytes within BODY_TIMEOUT), keeping a kept-alive connection in step: a body left unread is
    read and dropped when small, else the connection closes after the answer. Subclasses add
    ``do_POST`` and ``not_allowed`` (the answer to any other method or path)."""

    max_body = 4096
    protocol_version = "HTTP/1.1"
    default_request_version = "HTTP/1.0"   # a garbled request line still gets a status line
    timeout = IDLE_TIMEOUT   # an idle kept-alive connection does not hold its thread for ever

    # Bytes of this request's body not read yet: 0 once read (or none sent), None when unknown
    # (chunked and not read, a bad Content-Length). An answer given with body bytes left unread
    # either reads and drops them (a few KB) or closes the connection: left in the stream, they
    # were parsed as the next request on a kept-alive connection.
    _unread: int | None = 0
    _chunked = False   # the body is chunked and not read yet: it can still be read to its end

    def parse_request(self) -> bool:
        self._unread, self._chunked = None, False   # until the headers say how long the body is
        if not super().parse_request():
            return False
        lengths = self.headers.get_all("Content-Length") or []
        codings = self.headers.get_all("Transfer-Encoding")
        if codings:
            self._chunked = not lengths and [c.strip().lower() for c in ",".join(codings).split(",")] == ["chunked"]
        elif not lengths:
            self._unread = 0
        elif len({v.strip() for v in lengths}) == 1 and _DIGITS.fullmatch(lengths[0].strip()):
            digits = lengths[0].strip().lstrip("0") or "0"
            self._unread = int(digits) if len(digits) <= 15 else 10 ** 15   # only "too large"
        return True

    # ---------------------------------------------------------------- answers
    def answer(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        """Send ``body`` as JSON; first read and drop what is left of a small request body, or
        close the connection after the answer when that cannot be done."""
        close = not self._discard_body()
        text = json.dumps(body, ensure_ascii=False)
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:   # a lone surrogate echoed from the request: escape it
            data = json.dumps(body).encode("ascii")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if close:
                self.send_header("Connection", "close")   # also sets close_connection
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            self.wfile.flush()
        except OSError as exc:   # the caller has gone: nothing to tell it
            log.info("%s: the caller left before the answer (%s)", self.path, exc)
            self.close_connection = True
            return
        if close:
            self._linger()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (bad request line, headers too long, unknown method) in
        this module's JSON instead of its HTML page."""
        if code == HTTPStatus.NOT_IMPLEMENTED and self.command:   # a method without a do_*
            self.not_allowed()
            return
        self.log_error("code %d, message %s", code, message)
        self._unread, self._chunked = None, False
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "error"
        self.answer(code, {"error": message or explain or phrase})

    def _discard_body(self) -> bool:
        """Read and drop what is left of the body when it is small; False when the connection
        must close instead (too large, unknown length, did not arrive)."""
        left = self._unread
        if left == 0:
            return True
        if left is not None and left > DISCARD_LIMIT or left is None and not self._chunked:
            return False
        try:
            self._read_chunked() if left is None else self._read_exactly(left)
        except BodyError:
            return False
        return True

    def _linger(self) -> None:
        """Before closing with request bytes unread: stop sending and drain a little of what the
        caller still sends, so that its socket is not reset before it read the answer."""
        try:
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(0.5)
            drained = 0
            while drained < DISCARD_LIMIT:
                chunk = self.connection.recv(8192)
                if not chunk:
                    break
                drained += len(chunk)
        except OSError:
            pass


    # ---------------------------------------------------------------- the body
    def _read_exactly(self, length: int) -> bytes:
        """``length`` bytes of the body, within BODY_TIMEOUT; BodyError when they do not come."""
        deadline = time.monotonic() + BODY_TIMEOUT
        got = bytearray()
        try:
            while len(got) < length:
                self.connection.settimeout(max(0.01, deadline - time.monotonic()))
                chunk = self.rfile.read1(length - len(got))
                if not chunk:
                    self._unread = None
                    raise BodyError(400, f"the body ended after {len(got)} of the {length} bytes "
                                          "its Content-Length announced")
                got += chunk
                if self._unread is not None:
                    self._unread -= len(chunk)
        except TimeoutError:
            self._unread = None
            raise BodyError(408, f"only {len(got)} of the {length} bytes of the body its "
                                  f"Content-Length announced arrived within {BODY_TIMEOUT:g} s") from None
        finally:
            self.connection.settimeout(self.timeout)
        return bytes(got)

    def _read_chunked(self) -> bytes:
        """A body sent with ``Transfer-Encoding: chunked``, at most self.max_body bytes."""
        deadline = time.monotonic() + BODY_TIMEOUT
        body = bytearray()
        self._chunked = False   # read from here on: to its end, or the connection closes

        def line() -> bytes:
            self.connection.settimeout(max(0.01, deadline - time.monotonic()))
            text = self.rfile.readline(1024)
            if not text.endswith(b"\n"):
                raise BodyError(400, "the chunked body ended early or has a line too long")
            return text

        try:
            while True:
                size_text = line().split(b";", 1)[0].strip()
                if not re.fullmatch(rb"[0-9A-Fa-f]{1,8}", size_text):
                    raise BodyError(400, f"bad chunk size {size_text[:20]!r} in the chunked body")
                size = int(size_text, 16)
                if size == 0:
                    break
                if len(body) + size > self.max_body:
                    raise BodyError(413, f"the body is at most {self.max_body} bytes, got more")
                self.connection.settimeout(max(0.01, deadline - time.monotonic()))
                data = self.rfile.read(size)
                if len(data) < size or line().strip():
                    raise BodyError(400, "the chunked body ended early or a chunk is longer than its size")
                body += data
            while line().strip():   # trailer fields, up to the empty line
                pass
        except TimeoutError:
            raise BodyError(408, f"the chunked body did not arrive within {BODY_TIMEOUT:g} s") from None
        finally:
            self.connection.settimeout(self.timeout)
        self._unread = 0
        return bytes(body)

    def read_body(self) -> bytes:
        """The whole request body; BodyError with the answer when it cannot be read."""
        codings = ",".join(self.headers.get_all("Transfer-Encoding") or [])
        lengths = self.headers.get_all("Content-Length") or []
        if codings:
            if lengths:
                raise BodyError(400, "send either Content-Length or Transfer-Encoding, not both")
            if [c.strip().lower() for c in codings.split(",")] != ["chunked"]:
                raise BodyError(501, f"Transfer-Encoding {codings!r} is not supported; send the "
                                      "body with Content-Length (or chunked)")
            return self._read_chunked()
        if not lengths:
            return b""
        if self._unread is None:
            shown = ", ".join(repr(v) for v in lengths)
            raise BodyError(400, f"bad Content-Length {shown}: it must be one number of bytes, "
                                  f"0 to {self.max_body}")
        if self._unread > self.max_body:
            raise BodyError(413, f"the body is at most {self.max_body} bytes, got "
                                  f"{lengths[0].strip()[:20]}")
        return self._read_exactly(self._unread)

    def not_allowed(self) -> None:
        self.answer(405, {"error": f"method {self.command} not allowed"})
