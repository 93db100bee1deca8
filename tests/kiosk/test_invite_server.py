"""The local invitation endpoint over real HTTP on loopback: what it refuses, how it reads a
body, what its answers mean, and that a bad invitation never stops the kiosk recording."""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
import time

import pytest

from kiosk import constants as C
from kiosk import invite_server
from kiosk.invite_server import InviteServer, validate

GOOD = b'{"case_no": "A1"}'


_CALLS: list = []   # the case numbers the shared endpoint was given


@pytest.fixture(scope="module")
def server():
    """An endpoint that accepts every invitation (one for the module: stopping one takes 0.5 s)."""
    srv = InviteServer(lambda case_no, item: _CALLS.append(case_no) or True, port=0).start()
    yield srv
    srv.stop()


@pytest.fixture
def calls(server):
    """The case numbers ``server`` was given during this test."""
    _CALLS.clear()
    yield _CALLS
    _CALLS.clear()


def _request(path: str = "/invite", body: bytes = GOOD, method: str = "POST",
             headers: dict[str, str] | None = None) -> bytes:
    head = {"Host": "127.0.0.1", "Content-Type": "application/json", "Content-Length": str(len(body)),
            **(headers or {})}
    lines = [f"{method} {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in head.items() if v is not None]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _chunked(body: bytes, path: str = "/invite") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
            "Content-Type: application/json\r\n\r\n").encode() \
        + b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:5], body[5:])) + b"0\r\n\r\n"


def _exchange(port: int, raw: bytes, answers: int, timeout: float = 5.0, close_after_send: bool = False):
    """Send ``raw`` on one connection; read up to ``answers`` answers as (status, headers,
    body bytes); also whether the server closed the connection after them."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(raw)
        if close_after_send:
            sock.shutdown(socket.SHUT_WR)
        stream = sock.makefile("rb")
        out = []
        for _ in range(answers):
            try:
                status_line = stream.readline()
            except TimeoutError:                    # kept alive, nothing more to say
                return out, False
            if not status_line:
                break
            status = int(status_line.split()[1])
            headers = {}
            while (line := stream.readline()) not in (b"\r\n", b"\n", b""):
                name, value = line.decode("latin-1").split(":", 1)
                headers[name.strip().lower()] = value.strip()
            length = 0 if raw.startswith(b"HEAD") else int(headers.get("content-length", 0))
            out.append((status, headers, stream.read(length)))
        sock.settimeout(0.5)
        try:
            closed = stream.read(1) == b""
        except (TimeoutError, OSError):
            closed = False
        return out, closed


def _json(answer) -> dict:
    status, headers, body = answer
    assert headers["content-type"].startswith("application/json"), answer   # never HTML
    return json.loads(body.decode("utf-8"))


# --------------------------------------------------------------- text the kiosk cannot store
@pytest.mark.parametrize("body, field", [
    (b'{"case_no": "2024-\\ud842"}', "case_no"),
    (b'{"case_no": "A1", "service_item": "\\udfff\\u793e\\u4fdd"}', "service_item"),
    (b'{"case_no": "\\ud842\\udfb7"}', None),   # a whole pair is one character (𠮷): fine
])
def test_a_lone_surrogate_is_refused_with_400_naming_the_field(server, calls, body, field):
    # The queue system cut a rare CJK character in half (a lone UTF-16 surrogate). It was
    # answered 409 "busy" and left the kiosk database locked; it is a bad field, said so.
    (answer,), _ = _exchange(server.port, _request(body=body), 1)
    if field is None:
        assert answer[0] == 202 and calls == ["\U00020bb7"]
        return
    reply = _json(answer)
    assert answer[0] == 400 and reply["field"] == field
    assert "surrogate" in reply["error"] and calls == []


def test_an_unknown_field_named_with_a_lone_surrogate_still_gets_a_json_answer(server, calls):
    # The answer echoes the field's name: encoding it as UTF-8 raised, and no answer came.
    (answer,), _ = _exchange(server.port, _request(body=b'{"\\ud800": 1, "case_no": "A1"}'), 1)
    assert answer[0] == 400 and _json(answer)["field"] == "\ud800" and calls == []


def test_an_invitation_the_store_cannot_encode_does_not_stop_the_next_rating(make_flow, store, clock,
                                                                           db_path, roster):
    # The flow's own defence, whatever the endpoint lets through: the store refuses the
    # invitation with a StoreError (which the flow handles), releases its write lock at once,
    # and the next citizen's tap is recorded. Before, the lock stayed held: "请稍后再试" for
    # every tap after it, and the sync worker's connection "database is locked".
    flow = make_flow(mode=C.MODE_OPEN)
    assert flow.sign_in_badge(roster[0]["badge"])
    assert flow.invite(case_no="2024-\ud842", source="http") is False
    assert "case_no" in flow.last_error
    other = sqlite3.connect(db_path, timeout=0.2, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")              # the sync worker's connection can write
    other.execute("ROLLBACK")
    other.close()
    assert flow.start_rating() == C.ST_RATE
    clock.advance(2)
    assert flow.rate("satisfied") == C.ST_THANKS
    ratings = [e["payload"]["level"] for e in store.iter_events() if e["type"] == C.EV_RATING]
    assert ratings == ["satisfied"]


# ---------------------------------------------------------------------- reading the body
def test_a_chunked_body_is_read_and_the_connection_stays_usable(server, calls):
    # Java's and Node's HTTP clients send a body chunked when they stream it. It was refused
    # with a misleading 400 and its unread chunks were parsed as a new request (HTML 501).
    answers, closed = _exchange(server.port, _chunked(b'{"case_no": "C1"}') + _request(body=b'{"case_no": "C2"}'), 2)
    assert [a[0] for a in answers] == [202, 202] and not closed
    assert calls == ["C1", "C2"]


@pytest.mark.parametrize("first, status", [
    (_request(path="/other"), 404),
    (_request(body=b"x" * 5000), 413),
    (_request(method="PUT"), 405),
    (_chunked(b'{"case_no": "Z"}', path="/other"), 404),
])
def test_the_unread_body_of_a_refused_request_is_not_taken_for_the_next_request(server, calls, first, status):
    # On a kept-alive connection the body left unread after a 404 or 413 was parsed as the
    # next request line: an HTML 501 answered a request nobody made, and the real next
    # request was lost.
    answers, _ = _exchange(server.port, first + _request(body=b'{"case_no": "N1"}'), 3, timeout=1)
    assert [a[0] for a in answers] == [status, 202]
    assert all(_json(a) for a in answers)
    assert calls == ["N1"]


def test_a_body_too_large_to_drop_gets_413_at_once_and_the_connection_closes(server, calls):
    raw = b"POST /invite HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n" + b"x" * 1000
    answers, closed = _exchange(server.port, raw, 2, timeout=1.5)
    assert [a[0] for a in answers] == [413] and closed
    assert answers[0][1]["connection"] == "close" and calls == []


@pytest.mark.parametrize("length", ["-1", "abc", "1_7", "+17", " ", "17, 17", "99999999999999999999999999"])
def test_a_bad_content_length_gets_400_at_once_and_no_invitation(server, calls, length):
    # "-1" gave no answer and held the handler thread until the caller gave up, and the
    # invitation was then taken anyway (read to the end of the stream). Answered at once here:
    # the caller's timeout (1.5 s) is shorter than the time a body may take to arrive.
    raw = f"POST /invite HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n".encode() + GOOD
    answers, closed = _exchange(server.port, raw, 2, timeout=1.5)
    expected = 413 if length.startswith("9") else 400
    assert [a[0] for a in answers] == [expected] and closed
    assert "Content-Length" in _json(answers[0])["error"] or expected == 413
    time.sleep(0.2)
    assert calls == []


def test_a_body_shorter_than_its_content_length_gets_408_and_no_invitation(server, calls, monkeypatch):
    # The handler waited for the missing bytes for ever (no answer, a thread held).
    monkeypatch.setattr(invite_server, "BODY_TIMEOUT", 0.3, raising=False)
    raw = b"POST /invite HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n" + GOOD
    answers, closed = _exchange(server.port, raw, 2, timeout=3)
    assert [a[0] for a in answers] == [408] and closed
    assert "17 of the 100 bytes" in _json(answers[0])["error"]
    # the caller gives up before the bytes come: the half body is no invitation either
    answers, _ = _exchange(server.port, raw, 1, timeout=3, close_after_send=True)
    assert [a[0] for a in answers] == [400]
    assert calls == []


def test_a_body_with_a_utf8_byte_order_mark_is_accepted(server, calls):
    # Windows tools (PowerShell, .NET's UTF8Encoding(true)) write a BOM before the JSON.
    (answer,), _ = _exchange(server.port, _request(body=b"\xef\xbb\xbf" + GOOD), 1)
    assert answer[0] == 202 and calls == ["A1"]
    assert validate("\ufeff{\"case_no\": \"A1\"}".encode())[0] == {"case_no": "A1", "service_item": None}


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "BREW"])
def test_every_other_method_gets_a_json_405(server, calls, method):
    # PUT, DELETE and HEAD got http.server's HTML page "501 Unsupported method".
    (answer,), _ = _exchange(server.port, _request(method=method), 1)
    status, headers, body = answer
    assert status == 405 and headers["allow"] == "POST"
    assert headers["content-type"].startswith("application/json")
    if method == "HEAD":
        assert body == b""                          # a HEAD answer has no body
    else:
        assert "POST /invite" in json.loads(body)["error"]
    assert calls == []


def test_a_malformed_request_gets_a_json_400(server):
    (answer,), closed = _exchange(server.port, b"NONSENSE\r\n\r\n", 1)
    assert answer[0] == 400 and _json(answer)["error"] and closed


# ----------------------------------------------------------------------- what 503 means
def test_503_means_the_invitation_was_not_made_and_the_retry_is_taken():
    # With the screen busy past the answer timeout the caller was told 503 "try again", the
    # invitation ran afterwards anyway, and the retry got 409 "busy": the queue system could
    # not tell whether the citizen had been invited.
    ui: list = []                                   # what the UI thread has been handed
    calls: list = []
    srv = InviteServer(lambda case_no, item: calls.append(case_no) or True, port=0,
                       dispatch=ui.append, answer_timeout=0.2).start()
    try:
        (answer,), _ = _exchange(srv.port, _request(body=b'{"case_no": "A-1"}'), 1)
        assert answer[0] == 503
        for fn in ui:                               # the screen is free again: it runs what waited
            fn()
        assert calls == []                          # and the timed-out invitation is not among it
        assert "not made" in _json(answer)["error"]
        ui.clear()
        srv.dispatch = lambda fn: fn()
        (answer,), _ = _exchange(srv.port, _request(body=b'{"case_no": "A-1"}'), 1)
        assert answer[0] == 202 and calls == ["A-1"]
    finally:
        srv.stop()


def test_an_invitation_the_screen_started_before_the_deadline_gets_its_real_answer():
    # The other half of "503 means not invited": once the screen began the invitation it
    # cannot be taken back, so its answer is waited for instead of answering 503.
    calls: list = []
    started = threading.Event()

    def slow_invite(case_no, item):
        started.set()
        time.sleep(0.4)                             # longer than the answer timeout
        calls.append(case_no)
        return True

    srv = InviteServer(slow_invite, port=0, answer_timeout=0.1,
                       dispatch=lambda fn: threading.Thread(target=fn).start()).start()
    try:
        (answer,), _ = _exchange(srv.port, _request(), 1)
        assert started.is_set() and answer[0] == 202 and calls == ["A1"]
    finally:
        srv.stop()


@pytest.mark.parametrize("code, words", [("already_rated", "已评价，一次一评")])
def test_a_case_number_rated_is_refused_with_409_naming_it(code, words):
    # A queue system retrying after its own timeout must learn that retrying cannot help
    # (one service, one rating), and which case number it was; "busy" said to try again.
    srv = InviteServer(lambda case_no, item: code, port=0).start()
    try:
        (answer,), _ = _exchange(srv.port, _request(body=b'{"case_no": "2024-000123"}'), 1)
    finally:
        srv.stop()
    reply = _json(answer)
    assert answer[0] == 409 and (reply["error"], reply["case_no"]) == (code, "2024-000123")
    assert reply["detail"].startswith("办件 2024-000123") and words in reply["detail"]
