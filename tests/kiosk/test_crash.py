"""SIGKILL a recording process at random moments: every returned event survives, gapless, chained
(or, once acknowledged, is deleted by retention with the chain anchored where it was cut)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from kiosk.store import RatingStore

RECORDER = Path(__file__).with_name("recorder.py")
CYCLES = int(os.environ.get("KIOSK_CRASH_CYCLES", "50"))


def _run_and_kill(db_path: Path, rng: random.Random) -> list[tuple[int, str]]:
    proc = subprocess.Popen(
        [sys.executable, str(RECORDER), str(db_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    returned: list[tuple[int, str]] = []
    ready = threading.Event()

    def read():
        for line in proc.stdout:
            if line.strip() == "ready":
                ready.set()
                continue
            parts = line.split()
            if len(parts) == 2:  # a line cut by the kill is not a promise
                returned.append((int(parts[0]), parts[1]))

    reader = threading.Thread(target=read)
    reader.start()
    assert ready.wait(60), proc.stderr.read() if proc.poll() is not None else "recorder never started"
    time.sleep(rng.uniform(0.0, 0.25))  # kill somewhere: in record, freeze, ack or between
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    reader.join()
    return returned


def test_sigkill_while_recording_loses_no_returned_event(tmp_path):
    rng = random.Random(20261123)
    db_path = tmp_path / "kiosk.db"
    promised: dict[str, int] = {}
    pruned = 0
    for cycle in range(CYCLES):
        for seq, event_id in _run_and_kill(db_path, rng):
            promised[event_id] = seq
        store = RatingStore(db_path)  # the integrity check runs on every restart
        try:
            assert store.recovered_from is None, f"cycle {cycle}: database needed recovery"
            stored = {e["id"]: e["seq"] for e in store.iter_events()}
            # Retention deletes acknowledged events up to the chain's start, nothing after it.
            start = store.chain_start()[0]
            pruned += start > 0
            missing = {i for i, s in promised.items() if s > start} - set(stored)
            assert not missing, f"cycle {cycle}: {len(missing)} returned events lost"
            assert all(stored[i] == s for i, s in promised.items() if s > start)
            ok, count, bad = store.verify_chain()  # also proves the sequence is gapless
            assert ok, f"cycle {cycle}: chain breaks at seq {bad}"
            assert count == len(stored)
        finally:
            store.close()
    assert len(promised) > CYCLES  # the loop really recorded between kills
    assert pruned  # and deleted acknowledged events between them
