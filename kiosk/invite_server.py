"""The local invitation endpoint: the window's queue or business system invites a rating.

    POST http://127.0.0.1:<trigger.invite_port>/invite
    {"case_no": "2024-000123", "service_item": "社会保障卡申领"}

answers ``202 {"status": "accepted"}`` when the rating screen opened (or when this case
number's invitation is already open: a repeated POST makes nothing new), ``409 {"error":
"busy"}`` when the window cannot take an invitation now (nobody signed in, paused, a rating
under way), ``409 {"error": "already_rated"}`` with the ``case_no`` when that case number
was rated in the last 12 hours (``flow.CASE_MEMORY_SECONDS``; one service, one rating:
retrying does not help),
``400 {"error": ..., "field": ...}`` naming the bad field (or the bad request: JSON, framing),
``404`` / ``405`` / ``413`` for the wrong path, method or size, ``408`` when the body promised by
Content-Length did not arrive, and ``503`` when the screen did not answer in time, in which case
the invitation was not made (it is never made later) and the caller may simply retry. Every
answer, errors included, is a JSON object with ``error`` (or ``status``). The body is UTF-8 JSON
(a leading BOM is accepted; ``Content-Type: application/json`` is best, any is taken), with
Content-Length or chunked; the connection is kept alive only when the request's body was read to its end.

Only a program on this machine may invite, never a web page open in a browser on it (or on a
machine that reaches it): a request with an ``Origin`` header (every browser's cross-site or
page-made POST has one, a form or ``text/plain`` POST that needs no CORS preflight too) is
refused with ``403``, and one whose ``Host`` is not 127.0.0.1, localhost or [::1] (a page's DNS
rebinding) with ``421``.

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
import threading
from http.server import ThreadingHTTPServer
from typing import Any, Callable

from . import constants as C
from .json_http import BodyError, JsonHandler

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
# The Host header of a request made on this machine, with or without the port; anything else
# is a name a web page had resolve to 127.0.0.1 (DNS rebinding).
LOCAL_HOST = re.compile(r"(127\.0\.0\.1|localhost|\[::1\])(:[0-9]{1,5})?", re.IGNORECASE)
MAX_BODY = 4096
FIELDS = {"case_no": 64, "service_item": 200}  # field → longest accepted value
ANSWER_TIMEOUT = 5.0
# What a 409 says for a case number already done today (``RatingFlow.refusal``), Chinese
# first: a queue system may show it to the staff member as it is.
CASE_REFUSALS = {
    C.REFUSED_RATED: "办件 {case_no} 已评价，一次一评，不能再次邀请评价"
                     " (case {case_no} was already rated: one service, one rating)",
}


def _unstorable(value: str) -> str | None:
    """Why ``value`` cannot be stored as text, or None: a lone UTF-16 surrogate (JSON's
    "\ud842" without its pair, e.g. a rare character cut in half) is not a character."""
    for position, char in enumerate(value):
        if "\ud800" <= char <= "\udfff":
            return f"a lone UTF-16 surrogate \\u{ord(char):04x} at position {position} (half of a character)"
    return None


def refusal(headers: Any) -> tuple[int, str] | None:
    """(status, error) for a request a web page may have made, or None: one with an Origin
    header (403) or a Host that is not this machine's loopback (421). A page's cross-site
    ``text/plain`` POST made invitations (202): browsers send such a "simple" request without
    asking first, but always with an Origin header (every POST has one), and a page reached by
    DNS rebinding names its own host. The Content-Type is not required: queue systems in the
    field send ``curl -d``'s form type or none, and refusing them would stop every invitation
    of a window that works today."""
    hosts = headers.get_all("Host") or []
    # No Host at all is an HTTP/1.0 client on this machine: browsers always send one.
    if len(hosts) > 1 or hosts and not LOCAL_HOST.fullmatch(hosts[0].strip()):
        shown = ", ".join(repr(h) for h in hosts)
        return 421, (f"Host {shown} is not this kiosk; send the request to "
                     f"http://{HOST}:PORT/invite (Host 127.0.0.1, localhost or [::1])")
    if headers.get("Origin") is not None:
        return 403, ("a request with an Origin header (made by a web page) cannot invite; the "
                     "queue system sends none")
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


class _Handler(JsonHandler):
    server: "_Server"
    max_body = MAX_BODY

    def log_message(self, fmt: str, *args: Any) -> None:  # route to logging, not stderr
        log.info("invite endpoint: " + fmt, *args)

    def not_allowed(self) -> None:
        if self.path.split("?")[0] == "/invite":
            self.answer(405, {"error": f"method {self.command} not allowed; use POST /invite with a JSON body"},
                        {"Allow": "POST"})
        else:
            self.answer(404, {"error": f"no such endpoint {self.path!r}; use POST /invite"})

    do_GET = do_HEAD = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = not_allowed  # noqa: N815

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        if self.path.split("?")[0] != "/invite":
            self.not_allowed()
            return
        refused = refusal(self.headers)
        if refused is not None:   # its body is read and dropped by answer()
            status, message = refused
            self.answer(status, {"error": message})
            return
        try:
            raw = self.read_body()
        except BodyError as exc:
            self.answer(exc.status, {"error": str(exc)})
            return
        invitation, problem = validate(raw)
        if problem is not None:
            message, field = problem
            self.answer(400, {"error": message, "field": field})
            return
        accepted = self.server.owner.deliver(invitation)
        if accepted is None:
            self.answer(503, {"error": "the kiosk screen did not answer in time; the invitation "
                                       "was not made; try again"})
        elif accepted is True:
            self.answer(202, {"status": "accepted"})
        elif accepted in CASE_REFUSALS:
            case_no = invitation["case_no"]
            self.answer(409, {"error": accepted, "case_no": case_no,
                              "detail": CASE_REFUSALS[accepted].format(case_no=case_no)})
        else:
            self.answer(409, {"error": "busy", "detail": "the window cannot take an invitation now "
                                                         "(nobody signed in, paused, or a rating is under way)"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: "InviteServer"


class InviteServer:
    """HTTP on 127.0.0.1:``port`` that turns ``POST /invite`` into ``on_invite(case_no, item)``.

    ``on_invite`` returns True when the invitation was accepted, False when the window is
    busy, or the code of a case number's refusal (``CASE_REFUSALS``); it runs through
    ``dispatch`` (default: called directly in the HTTP thread). ``port=0`` picks a free port
    (tests).
    """

    def __init__(self, on_invite: Callable[[str | None, str | None], bool | str], *, port: int,
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

    def deliver(self, invitation: dict[str, str | None]) -> bool | str | None:
        """Run the invitation on the UI thread and wait for its answer.

        None: the UI thread did not start it within ``answer_timeout``, and it never will (the
        scheduled call is cancelled), so the caller's 503 means "not invited, try again". Once
        started it is waited for: it then answers in moments, and its answer is the truth.
        """
        done = threading.Event()
        lock = threading.Lock()
        state = {"started": False, "cancelled": False}
        result: list[bool | str] = []

        def run() -> None:
            with lock:
                if state["cancelled"]:   # the caller was told 503: it must not happen now
                    log.info("invitation %r dropped: the caller was told to try again",
                             invitation["case_no"])
                    return
                state["started"] = True
            try:
                answer = self.on_invite(invitation["case_no"], invitation["service_item"])
                result.append(answer if answer in CASE_REFUSALS else bool(answer))
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


# Seconds between two tries to open the endpoint while its port is taken.
RETRY_SECONDS = 15


class InviteEndpoint:
    """The invitation endpoint kept open: ``try_start()`` opens it, and the app calls it
    again every ``RETRY_SECONDS`` while it is not open (the port taken by another program, or
    by the kiosk's own last run still closing). Once the port was taken at start the endpoint
    stayed shut until a restart, said once in the log, and the queue system's invitations
    went nowhere. The log says each change of state once; ``state()`` is what the technician
    panel shows.

    >>> endpoint = InviteEndpoint(lambda case_no, item: True, port=8765)   # doctest: +SKIP
    >>> endpoint.try_start(), endpoint.state()                             # doctest: +SKIP
    (False, ('unavailable', '127.0.0.1:8765: [Errno 98] Address already in use'))
    """

    def __init__(self, on_invite: Callable[[str | None, str | None], bool | str], *, port: int,
                 dispatch: Callable[[Callable[[], None]], None] | None = None,
                 answer_timeout: float = ANSWER_TIMEOUT) -> None:
        self.on_invite, self.port = on_invite, port
        self.dispatch, self.answer_timeout = dispatch, answer_timeout
        self.server: InviteServer | None = None
        self.error: str | None = None   # why the last try failed (None: not tried, or open)

    @property
    def listening(self) -> bool:
        return self.server is not None

    def try_start(self) -> bool:
        """Open the endpoint unless it is open; True when it is open now."""
        if self.server is not None:
            return True
        try:
            self.server = InviteServer(self.on_invite, port=self.port, dispatch=self.dispatch,
                                       answer_timeout=self.answer_timeout).start()
        except OSError as exc:
            error = str(exc)
            if error != self.error:   # once per state, not every RETRY_SECONDS
                log.error("invitation endpoint %s:%s not available: %s; trying again every "
                          "%d s (the staff key still invites)", HOST, self.port, error, RETRY_SECONDS)
            self.error = error
            return False
        if self.error is not None:
            log.warning("invitation endpoint open after all, on %s (it was not available: %s)",
                        self.server.url, self.error)
        self.error = None
        return True

    def state(self) -> tuple[str, str]:
        """("listening", "127.0.0.1:8765") or ("unavailable", why)."""
        if self.server is not None:
            return "listening", f"{HOST}:{self.server.port}"
        return "unavailable", f"{HOST}:{self.port}: {self.error or 'not started'}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
