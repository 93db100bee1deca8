"""Soak: the real kiosk app (offscreen window, real widgets, real sync worker) tapped without a
pause for ``seconds`` while it syncs to a real server. Resident memory and open file
descriptors must stay flat; every event the app recorded reaches the server once.

Flat means: after a warm-up (the first fifth of the samples), the median of the last third of
the samples is within ``RSS_SLACK_MB`` of the median of the first third, and the number of open
descriptors varies by at most ``FD_SLACK``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from tests.reliability.harness import (
    PYTHON,
    LiveServer,
    Row,
    check_kiosk_side,
    check_server_side,
    count_5xx,
    rss_and_fds,
    tally,
)

CHILD = Path(__file__).with_name("soak_child.py")
RSS_SLACK_MB = 8.0
FD_SLACK = 4


def run(seconds: float = 60, workdir: Path | None = None) -> Row:
    from kiosk.store import RatingStore
    from sync.client import SyncClient
    from sync.credentials import Credentials

    row = Row("soak (kiosk app)")
    workdir = Path(workdir or tempfile.mkdtemp(prefix="rel-soak-"))
    with LiveServer(workdir / "aggregator.db") as srv:
        k = srv.kiosk(workdir / "kiosk")
        k.client.pull_config()  # as `kiosk enroll` does: the app starts with its window
        home = k.home
        k.store.close()
        srv.kiosks.remove(k)
        # Renders with the machine's default GL (Mesa llvmpipe here), as the kiosk does: the
        # app waits for each frame under llvmpipe, so memory stays flat (docs/reliability.md).
        env = dict(os.environ, KIVY_NO_ARGS="1", SDL_VIDEODRIVER="offscreen",
                   KIVY_LOG_LEVEL="error", KIVY_HOME=str(workdir / "kivy-home"))
        proc = subprocess.Popen([PYTHON, str(CHILD), str(home), srv.url, str(seconds)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env)
        lines: list[str] = []
        ready = threading.Event()

        def read():
            for line in proc.stdout:
                lines.append(line.strip())
                if line.strip() == "ready":
                    ready.set()

        reader = threading.Thread(target=read)
        reader.start()
        err_box: list[str] = []
        err_reader = threading.Thread(target=lambda: err_box.append(proc.stderr.read()))
        err_reader.start()
        samples: list[tuple[float, int]] = []
        if ready.wait(120):
            while proc.poll() is None:
                try:
                    samples.append(rss_and_fds(proc.pid))
                except (OSError, ValueError, IndexError):
                    break
                time.sleep(max(0.5, seconds / 120))
        try:
            proc.wait(timeout=seconds + 120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            row.problems.append("the app did not stop")
        reader.join()
        err_reader.join()
        stderr = "".join(err_box)
        row.check(proc.returncode == 0, f"app exited with {proc.returncode}: {stderr[-600:]}")
        row.check("Traceback" not in stderr, f"app logged a traceback: {stderr[-600:]}")
        taps = next((int(line.split()[1]) for line in lines if line.startswith("taps ")), 0)
        row.tried = taps
        row.check(taps > 0, "no tap was made")
        store = RatingStore(home / "kiosk.db")
        try:
            SyncClient(srv.url, store, Credentials.load(home), timeout=30).drain()
            check_kiosk_side(row, store)
            row.check(store.pending_count() == 0, "events pending after the final drain")
            row.check(not store.quarantined(), f"events quarantined: "
                                               f"{[e['quarantine'] for e in store.quarantined()][:2]}")
            ids = [e["id"] for e in store.iter_events()]
            ratings = sum(1 for e in store.iter_events() if e["type"] == "rating")
            row.check(ratings == taps, f"{taps} faces tapped, {ratings} ratings recorded")
            device_id = store.device_id
        finally:
            store.close()
        tally(row, ids, [e["id"] for e in srv.events(device_id)])
        check_server_side(row, srv.engine, [device_id])
        count_5xx(row, srv.counter)
    row.samples = samples  # for the curious: (RSS MB, fds) over time
    steady = samples[len(samples) // 5:]
    if len(steady) >= 6:
        third = len(steady) // 3
        rss_first = statistics.median(s[0] for s in steady[:third])
        rss_last = statistics.median(s[0] for s in steady[-third:])
        fds = [s[1] for s in steady]
        row.check(rss_last - rss_first <= RSS_SLACK_MB,
                  f"RSS grew {rss_last - rss_first:.1f} MB ({rss_first:.1f} → {rss_last:.1f})")
        # The sync worker's connections and sending threads come and go, so a few descriptors
        # vary; a leak shows as growth: the most open late against the most open early.
        fd_first, fd_last = max(fds[:third]), max(fds[-third:])
        row.check(fd_last - fd_first <= FD_SLACK,
                  f"open fds grew from at most {fd_first} to {fd_last}")
        row.note = (f"{seconds:.0f} s; RSS {rss_first:.1f} → {rss_last:.1f} MB (median, after "
                    f"warm-up); fds {min(fds)}–{max(fds)}; {len(samples)} samples")
    else:
        row.problems.append(f"only {len(samples)} samples of memory: too short to judge")
    return row
