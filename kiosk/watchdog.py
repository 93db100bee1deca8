"""systemd notifications: READY=1 once the first screen shows, then WATCHDOG=1 from the UI
clock, so that systemd restarts a kiosk whose UI thread hangs (deploy/kiosk-watchdog.conf).

A datagram to ``$NOTIFY_SOCKET``; a no-op outside systemd.

>>> notify(b"WATCHDOG=1")   # doctest: +SKIP
False
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)

PING_SECONDS = 10  # WatchdogSec=30 in the drop-in: three missed pings before a restart


def notify(message: bytes) -> bool:
    """Send one notification; True when a systemd socket took it."""
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return False
    if path.startswith("@"):  # an abstract socket
        path = "\0" + path[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(path)
            sock.sendall(message)
        return True
    except OSError as exc:  # a notification must never stop the kiosk
        log.warning("systemd notification %r failed: %s", message, exc)
        return False
