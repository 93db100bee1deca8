"""The local invitation endpoint: the window's queue or business system invites a rating.

    POST http://127.0.0.1:<trigger.invite_port>/invite
    {"case_no": "2024-000123", "service_item": "社会保障卡申领"}

answers ``202 {"status": "accepted"}`` when the rating screen opened, ``409 {"error": "busy"}``
when the window cannot take an invitation now (nobody signed in, paused, a rating under way),
``400 {"error": ..., "field": ...}`` naming the bad field (or the bad request: JSON, framing),
``404`` / ``405`` / ``413`` for the wrong path, method or size, ``408`` when the body promised by
Content-Length did not arrive, and ``503`` when the screen did not answer in time, in which case
the invitation was not made (it is never made later) and the caller may simply retry. Every
answer, errors included, is a JSON object with ``error`` (or ``status``). The body is UTF-8 JSON
(a leading BOM is accepted), sent with Content-Length or chunked; the connection is kept alive
only when the request's body was read to its end.

The server binds 127.0.0.1 only and runs in a daemon thread. The invitation itself runs on the
UI thread: ``dispatch(fn)`` hands ``fn`` to it (the app passes a ``Clock.schedule_once``
wrapper) and the HTTP thread waits for its answer. No Kivy is imported here.

>>> server = InviteServer(lambda case_no, item: True, port=0).start()   # doctest: +SKIP
>>> server.url                                                          # doctest: +SKIP
'http://127.0.0.1:54321/invite'
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
MAX_BODY = 4096
FIELDS = {"case_no": 64, "service_item": 200}  # field → longest accepted value
ANSWER_TIMEOUT = 5.0
BODY_TIMEOUT = 2.0      # seconds for a whole body to arrive (at most MAX_BODY bytes, on loopback)
IDLE_TIMEOUT = 30.0     # seconds a kept-alive connection may wait for its next request
DISCARD_LIMIT = 65536   # an unwanted body up to this size is read and dropped, keeping the connection
_DIGITS = re.compile(r"[0-9]+")


def _unstorable(value: str) -> str | None:
    """Why ``value`` cannot be stored as text, or None: a lone UTF-16 surrogate (JSON's
    "\ud842" without its pair, e.g. a rare character cut in half) is not a character."""
    for position, char in enumerate(value):
        if "\ud800" <= char <= "\udfff":
            return f"a lone UTF-16 surrogate \\u{ord(char):04x} at position {position} (half of a character)"
    return None


def validate(body: bytes) -> tuple[dict[str, str | None] | None, tuple[str, str | None] | None]:
    """(invitation, None) or (None, (error message, field name or None)). Plain Python."""
    try:
        # utf-8-sig: a leading byte order mark (Windows tools write one) is not an error
        data = json.loads(body.decode("utf-8-sig") or "null")
    except (UnicodeDecodeError, ValueError) as exc:
        return None, (f"the body is not valid JSON in UTF-8: {exc}", None)
    if not isinstance(data, dict):
        return None, ("the body must be a JSON object like {\"case_no\": \"...\", \"service_item\": \"...\"}", None)
    for key in data:
        if key not in FIELDS:
            return None, (f"unknown field {key!r}; expected case_no, service_item", key)
    out: dict[str, str | None] = {}
    for name, longest in FIELDS.items():
        value = data.get(name)
        if value is None:
            out[name] = None
            continue
        if not isinstance(value, str):
            return None, (f"{name} must be a string, got {type(value).__name__}", name)
        value = value.strip()
        if len(value) > longest:
            return None, (f"{name} is at most {longest} characters, got {len(value)}", name)
        if any(ord(c) < 32 for c in value):
            return None, (f"{name} must not contain control characters", name)
        # The kiosk stores the invitation as UTF-8 text; such a value was taken as far as the
        # store, which could not encode it (and, before the store rolled back on any error,
        # left its database locked: no rating after it was recorded).
        problem = _unstorable(value)
        if problem is not None:
            return None, (f"{name} is not valid text: it holds {problem}; send whole characters", name)
        out[name] = value or None
    if out["case_no"] is None:
        return None, ("case_no is required (the case number or queue ticket of this service)", "case_no")
    return out, None


class _BodyError(Exception):
    """The request's body cannot be read; the answer to give (the connection is closed)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"
    protocol_version = "HTTP/1.1"
    default_request_version = "HTTP/1.0"   # a garbled request line still gets a status line
    timeout = IDLE_TIMEOUT   # an idle kept-alive connection does not hold its thread for ever

    # Bytes of this request's body not read yet: 0 once read (or none sent), None when unknown
    # (chunked and not read, a bad Content-Length). An answer given with body bytes left unread
    # either reads and drops them (a few KB) or closes the connection: left in the stream, they
    # were parsed as the next request on a kept-alive connection.
    _unread: int | None = 0
    _chunked = False   # the body is chunked and not read yet: it can still be read to its end

    def log_message(self, fmt: str, *args: Any) -> None:  # route to logging, not stderr
        log.info("invite endpoint: " + fmt, *args)

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
    def _answer(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
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
            log.info("invite endpoint: the caller left before the answer (%s)", exc)
            self.close_connection = True
            return
        if close:
            self._linger()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (bad request line, headers too long, unknown method) in
        this module's JSON instead of its HTML page."""
        if code == HTTPStatus.NOT_IMPLEMENTED and self.command:   # a method without a do_*
            self._not_allowed()
            return
        self.log_error("code %d, message %s", code, message)
        self._unread, self._chunked = None, False
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "error"
        self._answer(code, {"error": message or explain or phrase})

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
        except _BodyError:
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

    def _not_allowed(self) -> None:
        if self.path.split("?")[0] == "/invite":
            self._answer(405, {"error": f"method {self.command} not allowed; use POST /invite with a JSON body"},
                         {"Allow": "POST"})
        else:
            self._answer(404, {"error": f"no such endpoint {self.path!r}; use POST /invite"})

    do_GET = do_HEAD = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed  # noqa: N815

    # ---------------------------------------------------------------- the body
    def _read_exactly(self, length: int) -> bytes:
        """``length`` bytes of the body, within BODY_TIMEOUT; _BodyError when they do not come."""
        deadline = time.monotonic() + BODY_TIMEOUT
        got = bytearray()
        try:
            while len(got) < length:
                self.connection.settimeout(max(0.01, deadline - time.monotonic()))
                chunk = self.rfile.read1(length - len(got))
                if not chunk:
                    self._unread = None
                    raise _BodyError(400, f"the body ended after {len(got)} of the {length} bytes "
                                          "its Content-Length announced")
                got += chunk
                if self._unread is not None:
                    self._unread -= len(chunk)
        except TimeoutError:
            self._unread = None
            raise _BodyError(408, f"only {len(got)} of the {length} bytes of the body its "
                                  f"Content-Length announced arrived within {BODY_TIMEOUT:g} s") from None
        finally:
            self.connection.settimeout(self.timeout)
        return bytes(got)

    def _read_chunked(self) -> bytes:
        """A body sent with ``Transfer-Encoding: chunked``, at most MAX_BODY bytes."""
        deadline = time.monotonic() + BODY_TIMEOUT
        body = bytearray()
        self._chunked = False   # read from here on: to its end, or the connection closes

        def line() -> bytes:
            self.connection.settimeout(max(0.01, deadline - time.monotonic()))
            text = self.rfile.readline(1024)
            if not text.endswith(b"\n"):
                raise _BodyError(400, "the chunked body ended early or has a line too long")
            return text

        try:
            while True:
                size_text = line().split(b";", 1)[0].strip()
                if not re.fullmatch(rb"[0-9A-Fa-f]{1,8}", size_text):
                    raise _BodyError(400, f"bad chunk size {size_text[:20]!r} in the chunked body")
                size = int(size_text, 16)
                if size == 0:
                    break
                if len(body) + size > MAX_BODY:
                    raise _BodyError(413, f"the body is at most {MAX_BODY} bytes, got more")
                self.connection.settimeout(max(0.01, deadline - time.monotonic()))
                data = self.rfile.read(size)
                if len(data) < size or line().strip():
                    raise _BodyError(400, "the chunked body ended early or a chunk is longer than its size")
                body += data
            while line().strip():   # trailer fields, up to the empty line
                pass
        except TimeoutError:
            raise _BodyError(408, f"the chunked body did not arrive within {BODY_TIMEOUT:g} s") from None
        finally:
            self.connection.settimeout(self.timeout)
        self._unread = 0
        return bytes(body)

    def _read_body(self) -> bytes:
        """The whole request body; _BodyError with the answer when it cannot be read."""
        codings = ",".join(self.headers.get_all("Transfer-Encoding") or [])
        lengths = self.headers.get_all("Content-Length") or []
        if codings:
            if lengths:
                raise _BodyError(400, "send either Content-Length or Transfer-Encoding, not both")
            if [c.strip().lower() for c in codings.split(",")] != ["chunked"]:
                raise _BodyError(501, f"Transfer-Encoding {codings!r} is not supported; send the "
                                      "body with Content-Length (or chunked)")
            return self._read_chunked()
        if not lengths:
            return b""
        if self._unread is None:
            shown = ", ".join(repr(v) for v in lengths)
            raise _BodyError(400, f"bad Content-Length {shown}: it must be one number of bytes, "
                                  f"0 to {MAX_BODY}")
        if self._unread > MAX_BODY:
            raise _BodyError(413, f"the body is at most {MAX_BODY} bytes, got "
                                  f"{lengths[0].strip()[:20]}")
        return self._read_exactly(self._unread)

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        if self.path.split("?")[0] != "/invite":
            self._not_allowed()
            return
        try:
            raw = self._read_body()
        except _BodyError as exc:
            self._answer(exc.status, {"error": str(exc)})
            return
        invitation, problem = validate(raw)
        if problem is not None:
            message, field = problem
            self._answer(400, {"error": message, "field": field})
            return
        accepted = self.server.owner.deliver(invitation)
        if accepted is None:
            self._answer(503, {"error": "the kiosk screen did not answer in time; the invitation "
                                        "was not made; try again"})
        elif accepted:
            self._answer(202, {"status": "accepted"})
        else:
            self._answer(409, {"error": "busy", "detail": "the window cannot take an invitation now "
                                                          "(nobody signed in, paused, or a rating is under way)"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: "InviteServer"


class InviteServer:
    """HTTP on 127.0.0.1:``port`` that turns ``POST /invite`` into ``on_invite(case_no, item)``.

    ``on_invite`` returns True when the invitation was accepted; it runs through ``dispatch``
    (default: called directly in the HTTP thread). ``port=0`` picks a free port (tests).
    """

    def __init__(self, on_invite: Callable[[str | None, str | None], bool], *, port: int,
                 dispatch: Callable[[Callable[[], None]], None] | None = None,
                 answer_timeout: float = ANSWER_TIMEOUT) -> None:
        self.on_invite = on_invite
        self.port = port
        self.dispatch = dispatch or (lambda fn: fn())
        self.answer_timeout = answer_timeout
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/invite"

    def start(self) -> "InviteServer":
        self._httpd = _Server((HOST, self.port), _Handler)
        self._httpd.owner = self
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="invite-server", daemon=True)
        self._thread.start()
        log.info("invitation endpoint on %s", self.url)
        return self

    def deliver(self, invitation: dict[str, str | None]) -> bool | None:
        """Run the invitation on the UI thread and wait for its answer.

        None: the UI thread did not start it within ``answer_timeout``, and it never will (the
        scheduled call is cancelled), so the caller's 503 means "not invited, try again". Once
        started it is waited for: it then answers in moments, and its answer is the truth.
        """
        done = threading.Event()
        lock = threading.Lock()
        state = {"started": False, "cancelled": False}
        result: list[bool] = []

        def run() -> None:
            with lock:
                if state["cancelled"]:   # the caller was told 503: it must not happen now
                    log.info("invitation %r dropped: the caller was told to try again",
                             invitation["case_no"])
                    return
                state["started"] = True
            try:
                result.append(bool(self.on_invite(invitation["case_no"], invitation["service_item"])))
            except Exception:  # the screen's problem must not hang the caller
                log.exception("invitation failed")
                result.append(False)
            finally:
                done.set()

        try:
            self.dispatch(run)
        except Exception:   # e.g. the app is stopping: nothing was scheduled
            log.exception("invitation could not be handed to the screen")
            return None
        if not done.wait(self.answer_timeout):
            with lock:
                if not state["started"]:
                    state["cancelled"] = True
                    return None
            done.wait()   # it started at the deadline: its answer is moments away
        return result[0]

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
