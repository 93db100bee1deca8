"""``kiosk enroll``: bind this kiosk to a server and window with a one-time code.

>>> enroll_kiosk(cfg, "http://127.0.0.1:8700", "K7Q-2MX-9TD")   # doctest: +SKIP
0
"""

from __future__ import annotations

import sys
from typing import Any

from .errors import EnrolmentFailed, SyncError


def enroll_kiosk(cfg: Any, server: str, code: str) -> int:
    """Enrol, save the credential in the data dir, pull the config once; an exit code."""
    from kiosk.config import data_dir
    from kiosk.store import RatingStore

    from .client import SyncClient

    store = RatingStore(data_dir(cfg) / "kiosk.db")
    try:
        client = SyncClient(server, store, timeout=cfg.sync.timeout_seconds)
        info = client.enroll(code)
        print(f"enrolled device {info['device_id']} to window {info['window_id']} "
              f"(unit {info.get('unit_id')}) at {client.server_url}")
        try:
            pulled = client.pull_config()
            print(f"config {pulled['status']} (version {pulled.get('version')})")
        except SyncError as exc:
            print(f"enrolled, but the config could not be pulled yet: {exc}", file=sys.stderr)
        return 0
    except EnrolmentFailed as exc:
        print(f"kiosk: {exc}", file=sys.stderr)
        return 1
    except SyncError as exc:
        print(f"kiosk: enrolment failed: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
