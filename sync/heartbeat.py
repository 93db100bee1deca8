"""The heartbeat of a kiosk whose database cannot be written (a full disk).

No sync worker runs then (kiosk/store_recovery.py): nothing new can be recorded, and the
server only saw the kiosk fall silent. ``heartbeat_read_only`` sends the heartbeat from a
read-only view of the database, so the dashboard's device page shows the free disk space and
the problem, and writes nothing on the kiosk. The store recovery calls it from its own thread,
with the view opened in that thread (one connection per thread).

>>> heartbeat_read_only(db_path, problem)   # doctest: +SKIP
{'server_time': '2026-12-04T15:00:00+00:00'}
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .credentials import Credentials


def heartbeat_read_only(db_path: str | os.PathLike, problem: Exception, *,
                        server_url: str | None = None, timeout: float = 15,
                        **client_options: Any) -> dict[str, Any]:
    """Send one heartbeat naming ``problem``; raises ``SyncError`` (``NotEnrolled`` when the
    kiosk has no credential) as the client does. ``client_options``: ``SyncClient``'s (a
    test's ``clock``)."""
    from kiosk.store import RatingStore

    from .client import SyncClient

    db_path = Path(db_path)
    creds = Credentials.load(db_path.parent)
    view = RatingStore.read_only_view(db_path, problem)
    try:
        client = SyncClient(creds.server_url or server_url or "", view, creds, timeout=timeout,
                            **client_options)
        client.last_error = f"the kiosk database cannot be written: {problem}"
        return client.heartbeat()
    finally:
        view.close()
