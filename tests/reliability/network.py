"""Network faults: thousands of faults injected by tests/sync/faultproxy.py (drop, reset,
timeout, 5xx, 429, answer lost after commit, truncated answer, captive portal, the server's
413 and a proxy's, a request sent twice) plus a slow
line, between a real kiosk and a real server. Every event is on the server exactly once.

(tests/sync/test_faults.py runs 300 rounds of this in CI; this counts faults, not rounds, and
adds the slow line and a second kiosk sharing the proxy.)
"""

from __future__ import annotations

import random
import tempfile
import threading
import time
from pathlib import Path

from tests.reliability.harness import LiveServer, Row, check_kiosk_side, check_server_side, count_5xx, tally
from tests.sync.faultproxy import FaultProxy

FAULT_MIX = ("drop", "reset", "delay", "500", "502", "503", "429", "lose", "lose_reset",
             "truncate", "captive", "413", "413html", "twice", "slow")


def run(faults: int = 500, workdir: Path | None = None) -> Row:
    from sync.backoff import Backoff
    from sync.errors import SyncError

    row = Row("network faults (proxy)")
    workdir = Path(workdir or tempfile.mkdtemp(prefix="rel-network-"))
    rng = random.Random(20261124)
    backoff = Backoff(base=0.001, cap=0.01, max_retry_after=0.01)
    with LiveServer(workdir / "aggregator.db") as srv:
        proxy = SlowProxy("127.0.0.1", srv.port, delay_seconds=0.6).start()
        try:
            kiosks = [srv.kiosk(workdir / f"kiosk-{i}", window_id=f"W-REL-{i + 1}",
                                url=proxy.url, timeout=0.3) for i in range(2)]
            for i, k in enumerate(kiosks):
                k.client.batch_size = (8, 60)[i]
            injected = 0

            def choose(info):
                nonlocal injected
                if info.path != "/api/v1/batches" or rng.random() < 0.2:
                    return "pass"
                fault = rng.choice(FAULT_MIX)
                if fault == "413" and (info.n_events or 0) < 2:
                    fault = "503"  # a one-event batch refused as too large is quarantined
                injected += 1
                return fault

            proxy.chooser = choose
            promised: list[str] = []
            stopped = []
            rounds = 0
            while injected < faults and rounds < faults * 10:
                rounds += 1
                k = kiosks[rounds % 2]
                promised += [e["id"] for e in k.rate(rng.randint(0, 3))]
                try:
                    k.client.upload_once()
                    backoff.success()
                except SyncError as exc:
                    if not exc.retryable:
                        stopped.append(str(exc))
                        break
                    time.sleep(backoff.failure(exc.retry_after))
            proxy.chooser = None
            row.check(proxy.wait_idle(60), "late copies still in flight")
            for k in kiosks:
                for _ in range(5):
                    try:
                        k.client.drain()
                        break
                    except SyncError:
                        time.sleep(0.1)
            row.tried = injected
            row.check(not stopped, f"an injected fault stopped the client: {stopped[:1]}")
            seen = proxy.faults_seen()
            seen["slow"] = proxy.slow_count
            missing = set(FAULT_MIX) - set(seen)
            row.check(not missing or faults < 50, f"faults never injected: {sorted(missing)}")
            server_ids = []
            for k in kiosks:
                check_kiosk_side(row, k.store)
                row.check(k.store.pending_count() == 0, "events pending after the final drain")
                row.check(not k.store.quarantined(), "events quarantined")
                ids = [e["id"] for e in srv.events(k.device_id)]
                row.check(ids == k.ids(), f"{k.device_id[:8]}: server ≠ kiosk events in seq order")
                server_ids += ids
            tally(row, promised, server_ids)
            check_server_side(row, srv.engine, [k.device_id for k in kiosks])
            count_5xx(row, srv.counter)
            row.note = (f"{rounds} upload rounds; " + ", ".join(
                f"{f} {seen.get(f, 0)}" for f in FAULT_MIX)) + (
                "; " + row.note if row.note else "")
        finally:
            proxy.chooser = None
            proxy.close()
    return row


class SlowProxy(FaultProxy):
    """tests/sync/faultproxy.py plus ``slow``: the request and the answer each wait half of
    ``slow_seconds`` (under the client's timeout), like a bad mobile line; the answer arrives."""

    slow_seconds = 0.15

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._local = threading.local()
        self.slow_count = 0

    def _choose(self, info):
        fault = super()._choose(info)
        self._local.slow = fault == "slow"
        if fault == "slow":
            with self._lock:
                self.slow_count += 1
            return "pass"
        return fault

    def _forward(self, raw: bytes) -> bytes:
        if not getattr(self._local, "slow", False):
            return super()._forward(raw)
        time.sleep(self.slow_seconds / 2)
        answer = super()._forward(raw)
        time.sleep(self.slow_seconds / 2)
        return answer
