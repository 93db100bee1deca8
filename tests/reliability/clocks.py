"""Wrong clocks: kiosks a year ahead and a year behind, a clock jumping backwards between
ratings, and clocks skewed differently across the events of one batch. Every event arrives once,
in sequence order, and no rating is dated after the server's today; the two kiosks whose clock
is wrong but steady have their ratings dated today (device time corrected by the measured skew).

(tests/sync/test_clock.py covers a year off and a backwards jump in CI.)
"""

from __future__ import annotations

import random
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from tests.reliability.harness import (
    DeviceClock,
    LiveServer,
    Row,
    check_kiosk_side,
    check_server_side,
    count_5xx,
    tally,
)

YEAR = timedelta(days=365)


def _drain(kiosk, row: Row) -> None:
    from sync.errors import SyncError

    for _ in range(6):  # the first answer may be clock_skew: the client corrects and retries
        try:
            kiosk.client.drain()
            return
        except SyncError as exc:
            if not exc.retryable:
                row.problems.append(f"{kiosk.device_id[:8]}: {exc}")
                return
            time.sleep(0.05)
    row.problems.append(f"{kiosk.device_id[:8]}: outbox not drained")


def run(ratings: int = 200, workdir: Path | None = None) -> Row:
    from sqlalchemy import select

    from aggregator.schema import ratings as ratings_table

    row = Row("wrong clocks")
    workdir = Path(workdir or tempfile.mkdtemp(prefix="rel-clocks-"))
    rng = random.Random(11)
    with LiveServer(workdir / "aggregator.db") as srv:
        ahead = srv.kiosk(workdir / "ahead", "W-REL-1", clock=DeviceClock())
        behind = srv.kiosk(workdir / "behind", "W-REL-2", clock=DeviceClock())
        jumping = srv.kiosk(workdir / "jumping", "W-REL-3", clock=DeviceClock())
        skewed = srv.kiosk(workdir / "skewed", "W-REL-4", clock=DeviceClock())
        # Enrolment ran on a right clock; now the clocks go wrong (a kiosk with no battery
        # clock booting without network).
        ahead.clock.offset, behind.clock.offset = YEAR, -YEAR
        promised: list[str] = []
        kiosks = (ahead, behind, jumping, skewed)
        for k in (ahead, behind):
            for _ in range(ratings // 20 or 1):
                promised += [e["id"] for e in k.rate(20)]
                _drain(k, row)
                row.tried += 1
        for n in range(ratings):
            # jumps backwards by minutes to months, now and then forward again
            jumping.clock.offset = -timedelta(seconds=rng.choice((0, 90, 3600, 86400 * 40))) \
                if rng.random() < 0.3 else jumping.clock.offset
            promised += [e["id"] for e in jumping.rate(1)]
            row.tried += 1
            if n % 25 == 0:
                _drain(jumping, row)
        for _ in range(ratings):  # every event of one batch with another idea of the time
            skewed.clock.offset = timedelta(seconds=rng.uniform(-YEAR.total_seconds(),
                                                                YEAR.total_seconds()))
            promised += [e["id"] for e in skewed.rate(1)]
            row.tried += 1
        skewed.clock.offset = timedelta(days=-3)
        for k in kiosks:
            _drain(k, row)
            check_kiosk_side(row, k.store)
            row.check(k.store.pending_count() == 0, f"{k.device_id[:8]}: events pending")
        server_ids = []
        for k in kiosks:
            ids = [e["id"] for e in srv.events(k.device_id)]
            row.check(ids == k.ids(), f"{k.device_id[:8]}: server ≠ kiosk events in seq order")
            server_ids += ids
        tally(row, promised, server_ids)
        check_server_side(row, srv.engine, [k.device_id for k in kiosks])
        local = timezone(timedelta(hours=8))
        today = datetime.now(local).date()
        allowed = {today.isoformat(), (today - timedelta(days=1)).isoformat()}
        with srv.engine.connect() as conn:
            for k in kiosks:
                days = [d for (d,) in conn.execute(select(ratings_table.c.day).where(
                    ratings_table.c.device_id == k.device_id))]
                row.check(max(days) <= today.isoformat(),
                          f"{k.device_id[:8]}: a rating dated after today ({max(days)})")
                if k in (ahead, behind):
                    row.check(set(days) <= allowed,
                              f"{k.device_id[:8]}: steady wrong clock not corrected: "
                              f"{sorted(set(days))[:3]}")
        count_5xx(row, srv.counter)
        row.note = "±1 year, backwards jumps, per-event skew within a batch"
    return row
