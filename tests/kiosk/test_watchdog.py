"""systemd notifications reach a real datagram socket, and are harmless without one."""

from __future__ import annotations

import socket

from kiosk import watchdog


def test_notify_sends_to_the_notify_socket(tmp_path, monkeypatch):
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(path)
        monkeypatch.setenv("NOTIFY_SOCKET", path)
        assert watchdog.notify(b"READY=1")
        assert server.recv(64) == b"READY=1"


def test_notify_without_systemd_or_with_a_dead_socket_does_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert watchdog.notify(b"WATCHDOG=1") is False
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone"))
    assert watchdog.notify(b"WATCHDOG=1") is False  # logged, never raised
