"""The invitation endpoint opens once its port is free: when another program held
trigger.invite_port at start, the kiosk said so once in the log and the queue system's
invitations went nowhere until a restart."""

from __future__ import annotations

import json
import logging
import socket
import urllib.request

from kiosk.invite_server import InviteEndpoint


def _held_port() -> socket.socket:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    return holder


def test_the_endpoint_opens_once_the_port_is_freed_and_logs_each_change_once(caplog):
    holder = _held_port()
    port = holder.getsockname()[1]
    calls = []
    endpoint = InviteEndpoint(lambda case_no, item: calls.append(case_no) or True, port=port)
    try:
        with caplog.at_level(logging.INFO, logger="kiosk.invite_server"):
            for _ in range(3):   # the start, then two of the app's retries
                assert endpoint.try_start() is False
            state, detail = endpoint.state()
            assert state == "unavailable" and f"127.0.0.1:{port}" in detail and "in use" in detail
            errors = [r for r in caplog.records if r.levelno == logging.ERROR]
            assert len(errors) == 1 and "trying again every 15 s" in errors[0].getMessage()

            holder.close()
            assert endpoint.try_start() is True and endpoint.try_start() is True
            assert endpoint.state() == ("listening", f"127.0.0.1:{port}")
            assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] \
                == [f"invitation endpoint open after all, on http://127.0.0.1:{port}/invite "
                    f"(it was not available: {errors[0].args[2]})"]
        request = urllib.request.Request(f"http://127.0.0.1:{port}/invite", data=b'{"case_no": "A7"}',
                                         headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=5) as answer:
            assert answer.status == 202 and json.loads(answer.read()) == {"status": "accepted"}
        assert calls == ["A7"]
    finally:
        holder.close()
        endpoint.stop()
    assert endpoint.state()[0] == "unavailable"
