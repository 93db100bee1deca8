"""The invitation endpoint takes invitations from programs on the kiosk only, never from a
web page: a page's cross-site "simple" POST (text/plain, no CORS preflight) was answered 202
and made an invitation, and so did one through DNS rebinding (a foreign Host). Real HTTP on
loopback, on a free port."""

from __future__ import annotations

import json
import socket

import pytest

from kiosk.invite_server import InviteServer

GOOD = b'{"case_no": "A1"}'
_CALLS: list = []


@pytest.fixture(scope="module")
def server():
    srv = InviteServer(lambda case_no, item: _CALLS.append(case_no) or True, port=0).start()
    yield srv
    srv.stop()


@pytest.fixture
def calls(server):
    _CALLS.clear()
    yield _CALLS
    _CALLS.clear()


def _post(port: int, headers: dict[str, str], body: bytes = GOOD, repeat: int = 1):
    """POST ``body`` ``repeat`` times on one kept-alive connection, headers as given (no
    default Host or Content-Type); the answers as (status, JSON)."""
    head = "".join(f"{k}: {v}\r\n" for k, v in {**headers, "Content-Length": str(len(body))}.items())
    raw = (f"POST /invite HTTP/1.1\r\n{head}\r\n").encode("latin-1") + body
    out = []
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(raw * repeat)
        stream = sock.makefile("rb")
        for _ in range(repeat):
            status = int(stream.readline().split()[1])
            length = 0
            while (line := stream.readline()) not in (b"\r\n", b""):
                name, value = line.decode("latin-1").split(":", 1)
                if name.lower() == "content-length":
                    length = int(value)
            out.append((status, json.loads(stream.read(length))))
    return out


def test_a_web_pages_text_plain_post_makes_no_invitation(server, calls):
    # What a page's cross-site "simple" POST looks like: text/plain, and an Origin header,
    # which browsers send with every POST. It made an invitation (202).
    [(status, body)] = _post(server.port, {"Host": f"127.0.0.1:{server.port}",
                                           "Origin": "https://evil.example",
                                           "Content-Type": "text/plain"})
    assert status == 403 and "Origin" in body["error"]
    assert calls == []


def test_a_queue_system_sending_no_json_content_type_still_invites(server, calls):
    # Queue systems in the field send curl -d's form type, or none: refusing them would stop
    # the invitations of windows that work today. Without an Origin they are not a web page.
    for headers in ({"Host": "127.0.0.1", "Content-Type": "application/x-www-form-urlencoded"},
                    {"Host": "127.0.0.1"}):
        [(status, body)] = _post(server.port, headers)
        assert (status, body) == (202, {"status": "accepted"})
    assert calls == ["A1", "A1"]


def test_a_request_with_an_origin_header_is_refused(server, calls):
    for origin in ("http://evil.example", "null", f"http://127.0.0.1:{server.port}"):
        [(status, body)] = _post(server.port, {"Host": "127.0.0.1", "Origin": origin,
                                               "Content-Type": "application/json"})
        assert status == 403 and "Origin" in body["error"]
    assert calls == []


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1.nip.io",
                                  "localhost.evil.example", "10.0.0.5:{port}"])
def test_a_foreign_host_dns_rebinding_is_refused(server, calls, host):
    [(status, body)] = _post(server.port, {"Host": host.format(port=server.port),
                                           "Content-Type": "application/json"})
    assert status == 421 and "is not this kiosk" in body["error"]
    assert calls == []


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.1:{port}", "localhost", "LocalHost:{port}",
                                  "[::1]", "[::1]:{port}", None])
def test_the_queue_systems_own_requests_are_still_accepted(server, calls, host):
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if host is not None:   # an HTTP/1.0 client may send none; a browser always does
        headers["Host"] = host.format(port=server.port)
    [(status, body)] = _post(server.port, headers)
    assert (status, body) == (202, {"status": "accepted"}) and calls == ["A1"]


def test_a_refused_request_keeps_a_kept_alive_connection_in_step(server, calls):
    answers = _post(server.port, {"Host": "evil.example", "Content-Type": "text/plain"}, repeat=2)
    assert [status for status, _ in answers] == [421, 421] and calls == []


def test_the_documented_curl_call_invites(server, calls):
    # docs/kiosk-deployment.md, section 5: what a queue system's integrator copies
    import shutil
    import subprocess

    if shutil.which("curl") is None:
        pytest.skip("no curl")
    out = subprocess.run(["curl", "-sS", "-X", "POST", server.url, "-H", "Content-Type: application/json",
                          "-d", '{"case_no": "2024-000123", "service_item": "社会保障卡申领"}'],
                         capture_output=True, text=True, timeout=30)
    assert json.loads(out.stdout) == {"status": "accepted"} and calls == ["2024-000123"]
