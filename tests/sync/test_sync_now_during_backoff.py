"""The dashboard's "sync now" reaches a kiosk whose uploads are failing.

Why it matters: "sync now" comes in a heartbeat answer and the server delivers it once. While
uploads fail (the very time a supervisor presses it), the heartbeat the worker sends is the
one after the failed upload, and its answer was thrown away: the request was marked delivered
and the kiosk sat out its backoff (up to 15 minutes) as if nobody had asked.
"""

from __future__ import annotations

import datetime as dt
import time

from sync.backoff import Backoff
from sync.worker import SyncWorker


def test_sync_now_in_the_heartbeat_after_a_failed_upload_cuts_the_backoff(
        aggregator_server, make_kiosk, proxy):
    from aggregator.dashboard.devices import request_sync_now
    from aggregator.db import write

    kiosk = make_kiosk(url=proxy.url)
    kiosk.client.pull_config()
    kiosk.record(3)
    with write(aggregator_server.engine) as conn:
        request_sync_now(conn, kiosk.store.device_id, dt.datetime.now(dt.timezone.utc),
                         "supervisor")
    # Batches fail until a heartbeat has gone through (the one carrying the "sync now").
    seen = {"heartbeat": False}

    def choose(info):
        if info.path == "/api/v1/heartbeat":
            seen["heartbeat"] = True
        return "503" if info.path == "/api/v1/batches" and not seen["heartbeat"] else "pass"

    proxy.chooser = choose
    # A backoff of 30 s after the first failure: only the "sync now" can cut it short.
    worker = SyncWorker(kiosk.store.path, kiosk.client.credentials, server_url=proxy.url,
                        interval=3600, config_every=3600,
                        backoff=Backoff(base=30, cap=30, uniform=lambda lo, hi: hi)).start()
    try:
        deadline = time.monotonic() + 10
        while kiosk.store.pending_count() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert seen["heartbeat"]
        assert kiosk.store.pending_count() == 0, worker.status()
    finally:
        assert worker.stop(timeout=10)
