"""Kiosk crashes: a kiosk process SIGKILLed at random moments while it rates, freezes batches,
sends and applies acknowledgements. After every kill the kiosk database must hold every event
whose ``record`` returned, gapless and chained; at the end every one of them is on the server
exactly once.

(tests/kiosk/test_crash.py proves the store alone; this adds the flow, the sync client and a
real server, so kills land in send and ack too.)
"""

from __future__ import annotations

import random
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from tests.reliability.harness import PYTHON, LiveServer, Row, check_kiosk_side, check_server_side, count_5xx, tally

CHILD = Path(__file__).with_name("kiosk_child.py")


def _run_and_kill(home: Path, seed: int, rng: random.Random) -> tuple[list[tuple[int, str]], str]:
    proc = subprocess.Popen([PYTHON, str(CHILD), str(home), str(seed)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    returned: list[tuple[int, str]] = []
    ready = threading.Event()
    err: list[str] = []

    def read_out():
        for line in proc.stdout:
            if line.strip() == "ready":
                ready.set()
                continue
            parts = line.split()
            if len(parts) == 2 and parts[0].isdigit():  # a line cut by the kill is no promise
                returned.append((int(parts[0]), parts[1]))

    def read_err():
        err.append(proc.stderr.read())

    readers = [threading.Thread(target=read_out), threading.Thread(target=read_err)]
    for t in readers:
        t.start()
    ready.wait(60)
    time.sleep(rng.uniform(0.0, 0.8))  # somewhere in record, freeze, send, ack or between
    exited_early = proc.poll()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    for t in readers:
        t.join()
    problem = ""
    if exited_early is not None:
        problem = f"child exited by itself with {exited_early}: {''.join(err)[-800:]}"
    elif not ready.is_set():
        problem = "child never became ready: " + "".join(err)[-800:]
    return returned, problem


def run(cycles: int = 30, workdir: Path | None = None) -> Row:
    from kiosk.store import RatingStore
    from sync.client import SyncClient
    from sync.credentials import Credentials

    row = Row("kiosk crashes (SIGKILL)")
    workdir = Path(workdir or tempfile.mkdtemp(prefix="rel-kiosk-crash-"))
    rng = random.Random(20261123)
    with LiveServer(workdir / "aggregator.db") as srv:
        kiosk = srv.kiosk(workdir / "kiosk")
        home = kiosk.home
        kiosk.store.close()
        srv.kiosks.remove(kiosk)
        promised: dict[str, int] = {}
        for cycle in range(cycles):
            returned, problem = _run_and_kill(home, cycle, rng)
            row.tried += 1
            if problem:
                row.problems.append(f"cycle {cycle}: {problem}")
                break
            promised.update({i: s for s, i in returned})
            store = RatingStore(home / "kiosk.db")
            try:
                if store.recovered_from is not None:
                    row.problems.append(f"cycle {cycle}: database needed recovery")
                    break
                stored = {e["id"]: e["seq"] for e in store.iter_events()}
                lost = [i for i in promised if stored.get(i) != promised[i]]
                if lost:
                    row.problems.append(f"cycle {cycle}: {len(lost)} returned events lost "
                                        "or moved on the kiosk")
                    break
                ok, _, bad = store.verify_chain()
                if not ok:
                    row.problems.append(f"cycle {cycle}: kiosk chain breaks at seq {bad}")
                    break
            finally:
                store.close()
        store = RatingStore(home / "kiosk.db")
        try:
            client = SyncClient(srv.url, store, Credentials.load(home), timeout=30)
            client.drain()
            all_ids = [e["id"] for e in store.iter_events()]
            check_kiosk_side(row, store)
            row.check(store.pending_count() == 0, "events still pending after the final drain")
            row.check(not store.quarantined(), "events quarantined")
            device_id = store.device_id
        finally:
            store.close()
        server = srv.events(device_id)
        tally(row, promised, [e["id"] for e in server])
        row.check(set(all_ids) == {e["id"] for e in server},
                  "the server does not hold exactly the kiosk's events")
        check_server_side(row, srv.engine, [device_id])
        count_5xx(row, srv.counter)
        row.check(len(promised) > cycles, "the loop did not really record between kills")
    row.note = f"{cycles} kills; {len(all_ids)} events incl. unreported ones" + (
        "; " + row.note if row.note else "")
    return row
