"""``kiosk enroll``: bind this kiosk to a server and window with a one-time code.

>>> enroll_kiosk(cfg, "http://127.0.0.1:8700", "K7Q-2MX-9TD")   # doctest: +SKIP
0
"""

from __future__ import annotations

import sys
from typing import Any

from .errors import EnrolmentFailed, ServerUnavailable, SyncError


def enrol_device(cfg: Any, server: str, code: str) -> tuple[bool, str, str | None]:
    """Enrol, save the credential in the data dir, pull the config once.

    Returns (enrolled, what happened, the problem's code): the server's ``unknown_code``,
    ``code_used`` or ``code_expired``, ``unreachable`` when no server answered, another
    error's own code, or None. The technician panel says the problem in its language (it
    showed "failed: enrolment" without a reason, which went to stderr).
    """
    from kiosk.config import data_dir
    from kiosk.store import RatingStore

    from .client import SyncClient

    # check=False: the app's store may have this file open (the panel's Enrol), and only it
    # moves a corrupt database aside; an enrol store that did moved the live file from under
    # the app, whose thanked taps then went into a file nothing sent.
    store = RatingStore(data_dir(cfg) / "kiosk.db", check=False)
    try:
        client = SyncClient(server, store, timeout=cfg.sync.timeout_seconds)
        info = client.enroll(code)
        done = (f"enrolled device {info['device_id']} to window {info['window_id']} "
                f"(unit {info.get('unit_id')}) at {client.server_url}")
        try:
            pulled = client.pull_config()
        except SyncError as exc:
            return True, f"{done}\nenrolled, but the config could not be pulled yet: {exc}", None
        return True, f"{done}\nconfig {pulled['status']} (version {pulled.get('version')})", None
    except EnrolmentFailed as exc:
        return False, str(exc), exc.code
    except ServerUnavailable as exc:
        return False, f"enrolment failed: {exc}", "unreachable"
    except SyncError as exc:
        return False, f"enrolment failed: {exc}", exc.code
    finally:
        store.close()


def enroll_kiosk(cfg: Any, server: str, code: str) -> int:
    """``kiosk enroll``: ``enrol_device``, said on stdout (or stderr); an exit code."""
    ok, message, _problem = enrol_device(cfg, server, code)
    if ok:
        print(message)
        return 0
    print(f"kiosk: {message}", file=sys.stderr)
    return 1
