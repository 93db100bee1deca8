"""The real app in the offscreen window, with its invitation port held by another program at
start: the technician panel's status says the endpoint is not available and why, the app
tries again by itself, and once the port is free the endpoint listens and the row says so.
It stayed shut until a restart, said once in the log."""

from __future__ import annotations

import socket
import time

from kiosk import invite_server


def _rows(k) -> dict[str, str]:
    return dict(k.app.diagnostics_rows())


def test_the_endpoint_listens_once_its_port_is_freed_and_the_panel_says_so(make_kiosk, monkeypatch):
    monkeypatch.setattr(invite_server, "RETRY_SECONDS", 0.05)   # not the 15 s of a kiosk
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        k = make_kiosk(trigger__invite_port=port)
        k.frames(3)
        row = _rows(k)["邀请评价接口"]
        assert row.startswith("不可用") and f"127.0.0.1:{port}" in row and "in use" in row
    finally:
        holder.close()
    deadline = time.monotonic() + 10
    while _rows(k)["邀请评价接口"].startswith("不可用") and time.monotonic() < deadline:
        k.frames(1)
        time.sleep(0.01)
    assert _rows(k)["邀请评价接口"] == f"正常，监听 127.0.0.1:{port}"
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass   # the kiosk's own endpoint answers there now


def test_the_panel_shows_the_factory_pin_while_it_is_in_use(make_kiosk):
    k = make_kiosk()   # the sample config.yaml: technician.pin_hash is empty
    assert "出厂密码 000000" in _rows(k)["技术员密码"]
    k.app.tech_lock.pin_hash = "pbkdf2_sha256$200000$00$" + "0" * 64
    assert "技术员密码" not in _rows(k)
