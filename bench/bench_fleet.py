"""A fleet of simulated kiosks syncing at once to one aggregator. Not a test.

    .venv/bin/python bench/bench_fleet.py [--devices 1000] [--ratings 5] [--workers 2]
                                          [--json PATH]

Starts ``aggregator serve --workers 2`` on SQLite on loopback (a subprocess), then runs
``kiosk simulate --server URL --devices N --ratings M`` (sync/simulator.py: each virtual kiosk
has its own RatingStore, credential, RatingFlow and SyncClient; the simulator enrols them
through the admin API and runs them on its thread pool, 32 threads) as another subprocess.
Prints what the simulator reports: events acknowledged, kiosks failed, events left pending or
quarantined, sync errors retried, and throughput. Target: zero errors (no failed kiosk, no
unacknowledged event); throughput is reported, there is no target for it.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from benchjson import Figures  # noqa: E402

TOKEN = "bench-fleet-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--devices", type=int, default=1000)
    p.add_argument("--ratings", type=int, default=5, help="ratings per device")
    p.add_argument("--workers", type=int, default=2, help="uvicorn workers of the aggregator")
    p.add_argument("--timeout", type=float, default=1800, help="seconds for the simulator")
    p.add_argument("--json", default=None, help="also write the figures as JSON rows here")
    args = p.parse_args(argv)
    bindir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        port = free_port()
        env = dict(os.environ, AGGREGATOR_ADMIN_TOKEN=TOKEN,
                   AGGREGATOR_SECRET="bench-fleet-secret")
        log = open(Path(tmp) / "server.log", "w")
        server = subprocess.Popen(
            [sys.executable, "-m", "aggregator", "serve", "--database",
             f"sqlite:///{tmp}/agg.db", "--port", str(port), "--workers", str(args.workers)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(600):
                try:
                    if requests.get(url + "/healthz", timeout=1).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                if server.poll() is not None:
                    raise SystemExit(f"aggregator exited with {server.returncode}")
                time.sleep(0.1)
            print(f"bench_fleet: {args.devices} kiosks × {args.ratings} ratings → aggregator "
                  f"serve --workers {args.workers} on SQLite ({url})", flush=True)
            kiosk = bindir / "kiosk"
            cmd = ([str(kiosk)] if kiosk.exists() else [sys.executable, "-m", "kiosk.cli"]) + [
                "simulate", "--server", url, "--devices", str(args.devices), "--ratings",
                str(args.ratings), "--workdir", f"{tmp}/kiosks", "--admin-token", TOKEN]
            t0 = time.perf_counter()
            try:
                out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                                     timeout=args.timeout)
                text, rc = out.stdout + out.stderr, out.returncode
            except subprocess.TimeoutExpired as exc:
                text, rc = f"{exc.stdout or ''}\nTIMEOUT after {args.timeout:.0f} s", -1
            wall = time.perf_counter() - t0
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
            log.close()
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    failed_lines = [line for line in text.splitlines() if line.startswith("FAILED")]
    for line in text.splitlines():
        if not line.startswith("FAILED") and " INFO " not in line:
            print("  " + line)
    for line in failed_lines[:10]:
        print("  " + line)
    if len(failed_lines) > 10:
        print(f"  … {len(failed_lines) - 10} more FAILED lines")
    m = re.search(r"sent (\d+) events \((\d+) ratings\) from (\d+) kiosks: acked (\d+), pending "
                  r"(\d+), quarantined (\d+), retried errors (\d+)", text)
    t = re.search(r"([\d.]+) s: ([\d.]+|None) ratings/s, ([\d.]+|None) events/s", text)
    fig = Figures()
    if not m:
        print(f"bench_fleet: the simulator's summary is missing (exit {rc}); target MISSED")
        fig.add(f"fleet of {args.devices:,} devices: errors", None, "", target="0",
                holds=False)
        fig.write(args.json)
        return 1
    events, ratings, ok_devices, acked, pending, quarantined, retried = map(int, m.groups())
    failed = args.devices - ok_devices
    errors = failed + pending + quarantined
    seconds = float(t[1]) if t else wall
    print(f"fleet: {ok_devices}/{args.devices} kiosks done, {acked:,}/{events:,} events acked, "
          f"{failed} kiosks failed, {pending} pending, {quarantined} quarantined, {retried} "
          f"sync errors retried | {seconds:.1f} s: {events / seconds:,.0f} events/s, "
          f"{ratings / seconds:,.0f} ratings/s (enrolment, config pull and uploads included)")
    print(f"target: zero errors: {'HOLDS' if errors == 0 else 'MISSED'}")
    fig.add(f"fleet of {args.devices:,} devices × {args.ratings}: errors (failed kiosks + "
            "unacked events)", errors, "", target="0", holds=errors == 0)
    fig.add("fleet: sync errors retried", retried, "", target="(reported)")
    fig.add(f"fleet throughput ({args.workers} workers, SQLite)", events / seconds,
            "events/s", target="(reported)")
    fig.write(args.json)
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
