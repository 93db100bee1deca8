"""Benchmark: drain one kiosk's backlog to a loopback aggregator on SQLite.

Prints three rates measured in the same run on the same machine:

1. client drain   — SyncClient.drain() of N events from a real RatingStore (freeze, gzip,
                    sign, POST, server ingest + commit, mark_acked), end to end;
2. server ingest  — the same number of events posted as pre-built, pre-gzipped signed batches
                    straight to the aggregator (no kiosk store), i.e. the server's own limit;
3. raw SQLite     — one executemany of the same rows into a bare table, the storage limit;

and the ratios between them. Target: client drain ≥ 20,000 events/s. It also prints the
client's own cost: process CPU seconds of the benchmark process per 1,000 events drained
(the kiosk side alone, its main and sending threads; the aggregator is a subprocess), which
matters on a 2-core kiosk-and-server box even while the server is the bottleneck.

The aggregator runs as ``aggregator serve`` in its own process on loopback, as deployed: once
with one worker and once with two (``--workers 1,2``; deploy/aggregator.service runs as many as
the host has cores, and two workers write one SQLite file in turn, queued on its lock file).
(Until 2026-11 it ran in a thread of the benchmark's own process, so the kiosk client and the
server shared one GIL, which no deployment does.) The client drains with its
defaults: gzip level 1 and 3 batches in flight (``SyncClient(pipeline=3)``).

    .venv/bin/python bench/bench_sync.py [--events 100000] [--workers 1,2]
"""

from __future__ import annotations

import argparse
import gzip
import json
import secrets
import socket
import sqlite3
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests  # noqa: E402  (the bench talks HTTP itself for the direct-ingest phase)
from benchjson import Figures  # noqa: E402

from kiosk.store import RatingStore  # noqa: E402
from sync.client import AdminClient, SyncClient  # noqa: E402
from sync.credentials import Credentials  # noqa: E402
from sync.protocol import (
    GENESIS_HASH,
    MAX_BATCH_BYTES,
    MAX_BATCH_EVENTS,
    event_hash,
    event_id,  # noqa: E402  (the kiosk's own ids: time-ordered)
    signing_string,
)

TARGET = 20_000
TOKEN = "bench-admin-token"
PAYLOAD = {"level": "satisfied", "stars": 4, "scale": 5, "channel": 4, "window_id": "W-B1",
           "unit_id": "U-B", "staff_id": "S-B1", "staff_name": "王芳", "service_item": "SI-01",
           "case_no": None, "invitation_id": None, "flags": []}


def start_aggregator(db: Path, workers: int = 1):
    """``aggregator serve`` on loopback in its own process (as deployed: the kiosk and the
    server never share a process, so they must not share a GIL here either)."""
    import os
    import subprocess

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen([sys.executable, "-m", "aggregator", "serve", "--database",
                             f"sqlite:///{db}", "--port", str(port), "--workers", str(workers)],
                            cwd=root, env=dict(os.environ, AGGREGATOR_ADMIN_TOKEN=TOKEN),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if requests.get(url + "/healthz", timeout=1).status_code == 200:
                break
        except requests.RequestException:
            pass
        if proc.poll() is not None:
            raise SystemExit(f"aggregator exited with {proc.returncode}")
        time.sleep(0.1)
    admin = AdminClient(url, TOKEN)
    admin.save("units", [{"id": "U-B", "name": "基准测试中心"}])
    admin.save("windows", [{"id": "W-B1", "name": "窗口 1", "unit_id": "U-B"}])
    return url, admin, proc


def stop_aggregator(proc) -> None:
    proc.terminate()
    proc.wait(timeout=30)


def fill_store(store: RatingStore, n: int) -> None:
    """The backlog, recorded through the store's public API (one durable commit each)."""
    for _ in range(n):
        store.record("rating", PAYLOAD)


def bench_client(work: Path, n: int, workers: int = 1) -> tuple[float, int, float]:
    url, admin, proc = start_aggregator(work / "agg-client.db", workers)
    try:
        store = RatingStore(work / "kiosk" / "kiosk.db")
        t0 = time.perf_counter()
        fill_store(store, n)
        print(f"  (backlog of {n} events recorded in {time.perf_counter() - t0:.1f} s)")
        client = SyncClient(url, store, timeout=60)
        client.enroll(admin.enroll_code("W-B1")["code"])
        # Process CPU of this process while draining: the kiosk side only (its main thread and
        # sending threads), since the aggregator is a subprocess.
        t0, cpu0 = time.perf_counter(), time.process_time()
        results = client.drain()
        seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        client.close()
        acked = sum(r.acked for r in results)
        assert store.pending_count() == 0, store.pending_count()
        store.close()
        return seconds, acked, cpu
    finally:
        stop_aggregator(proc)


def build_batches(device_id: str, n: int) -> list[tuple[str, bytes]]:
    stream = str(uuid.uuid4())
    prev = GENESIS_HASH
    now = datetime.now(timezone.utc).astimezone().isoformat()
    batches, events, size = [], [], 200

    def flush():
        batch_id = str(uuid.uuid4())
        body = json.dumps({"protocol": 1, "device_id": device_id, "batch_id": batch_id,
                           "events": events}, ensure_ascii=False, separators=(",", ":")).encode()
        batches.append((batch_id, gzip.compress(body, 1, mtime=0)))  # as the client sends

    for seq in range(1, n + 1):
        ev = {"id": event_id(), "device_id": device_id, "stream_id": stream, "seq": seq,
              "type": "rating", "device_time": now, "boot_id": "bench", "mono_ns": seq,
              "payload": PAYLOAD, "prev_hash": prev}
        ev["hash"] = prev = event_hash(ev, prev)
        item = len(json.dumps(ev, ensure_ascii=False, separators=(",", ":")).encode()) + 1
        if events and (len(events) == MAX_BATCH_EVENTS or size + item > MAX_BATCH_BYTES):
            flush()
            events, size = [], 200
        events.append(ev)
        size += item
    if events:
        flush()
    return batches


def bench_ingest(work: Path, n: int, workers: int = 1) -> tuple[float, int, list[tuple]]:
    url, admin, proc = start_aggregator(work / "agg-direct.db", workers)
    try:
        creds = Credentials.generate(f"bench-{uuid.uuid4()}")
        r = requests.post(url + "/api/v1/enroll", json={
            "code": admin.enroll_code("W-B1")["code"], "device_id": creds.device_id,
            "public_key": creds.public_key_b64}, timeout=30)
        r.raise_for_status()
        batches = build_batches(creds.device_id, n)
        session = requests.Session()
        accepted = 0
        t0 = time.perf_counter()
        for _batch_id, body in batches:
            ts, nonce = datetime.now(timezone.utc).isoformat(), secrets.token_hex(16)
            sig = creds.sign(signing_string("POST", "/api/v1/batches", creds.device_id, ts,
                                            nonce, body))
            resp = session.post(url + "/api/v1/batches", data=body, timeout=60, headers={
                "Content-Type": "application/json", "Content-Encoding": "gzip",
                "X-Device-Id": creds.device_id, "X-Timestamp": ts, "X-Nonce": nonce,
                "X-Signature": sig})
            resp.raise_for_status()
            accepted += sum(1 for x in resp.json()["results"] if x["status"] == "accepted")
        seconds = time.perf_counter() - t0
        rows = []
        for _, body in batches:
            for ev in json.loads(gzip.decompress(body))["events"]:
                rows.append((ev["id"], ev["device_id"], ev["stream_id"], ev["seq"], ev["type"],
                             ev["device_time"], ev["boot_id"], ev["mono_ns"],
                             json.dumps(ev["payload"], ensure_ascii=False), ev["prev_hash"],
                             ev["hash"], "b", now_iso()))
        return seconds, accepted, rows
    finally:
        stop_aggregator(proc)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


def bench_raw(work: Path, rows: list[tuple]) -> float:
    conn = sqlite3.connect(work / "raw.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")  # what the aggregator runs with
    conn.execute("""CREATE TABLE events (id TEXT PRIMARY KEY, device_id TEXT, stream_id TEXT,
        seq INTEGER, type TEXT, device_time TEXT, boot_id TEXT, mono_ns INTEGER, payload TEXT,
        prev_hash TEXT, hash TEXT, batch_id TEXT, server_time TEXT,
        UNIQUE (device_id, stream_id, seq))""")
    t0 = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    conn.execute("COMMIT")
    seconds = time.perf_counter() - t0
    conn.close()
    return seconds


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=100_000, help="backlog size (default 100000)")
    p.add_argument("--workers", default="1,2",
                   help="aggregator serve --workers, one run each (default 1,2: one worker, and "
                        "as many as this machine's cores, as deploy/aggregator.service runs it, "
                        "on a 2-core machine)")
    p.add_argument("--json", default=None, help="also write the figures as JSON rows here")
    args = p.parse_args(argv)
    n = args.events
    fig = Figures()
    ok = True
    for workers in (int(w) for w in args.workers.split(",")):
        with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
            work = Path(tmp)
            label = f"{workers} worker{'s' if workers > 1 else ''}"
            print(f"bench_sync: {n} events, batches of {MAX_BATCH_EVENTS}, loopback aggregator "
                  f"on SQLite ({label})")
            c_s, c_n, c_cpu = bench_client(work, n, workers)
            i_s, i_n, rows = bench_ingest(work, n, workers)
            r_s = bench_raw(work, rows)
        client_rate, ingest_rate, raw_rate = c_n / c_s, i_n / i_s, len(rows) / r_s
        print(f"{'client drain (store → aggregator)':38} {client_rate:>12,.0f} events/s  ({c_n} in {c_s:.2f} s)")
        print(f"{'aggregator ingest (pre-built batches)':38} {ingest_rate:>12,.0f} events/s  ({i_n} in {i_s:.2f} s)")
        print(f"{'client CPU per 1,000 events drained':38} {c_cpu / c_n * 1000:>12.4f} s       "
              f"({c_cpu:.2f} s of process CPU in {c_s:.2f} s; server not included)")
        print(f"{'raw SQLite bulk insert':38} {raw_rate:>12,.0f} events/s  ({len(rows)} in {r_s:.2f} s)")
        print(f"client ÷ aggregator ingest = {client_rate / ingest_rate:.2f}; "
              f"client ÷ raw SQLite = {client_rate / raw_rate:.3f}; "
              f"ingest ÷ raw SQLite = {ingest_rate / raw_rate:.3f}")
        holds = client_rate >= TARGET
        ok &= holds
        print(f"target ≥ {TARGET:,} events/s for the client drain: {'HOLDS' if holds else 'MISSED'}")
        fig.add(f"sync drain of {n:,} events (SQLite, {label})", client_rate, "events/s",
                raw=raw_rate, target=f">= {TARGET:,} events/s", holds=holds)
        fig.add(f"sync drain, client CPU per 1,000 events ({label})", c_cpu / c_n * 1000, "s",
                target="(reported)")
        fig.add(f"aggregator ingest, pre-built batches (SQLite, {label})", ingest_rate,
                "events/s", raw=raw_rate, target="(reported)")
    fig.write(args.json)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
