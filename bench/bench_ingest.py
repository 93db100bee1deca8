"""Ingest and stats benchmark of the aggregator. Not part of the test suite.

    .venv/bin/python bench/bench_ingest.py [--events 20000] [--skip-stats]

Prints events/s for N events posted over HTTP in 500-event signed gzip batches to a loopback
server (a subprocess, so client and server do not share a GIL) on SQLite, next to a raw bulk
insert of the same rows (sqlite3 executemany into an equivalent table, same pragmas) in the same
run, and the ratio; the same on PostgreSQL when AGGREGATOR_TEST_PG_URL is set. Then the latency
of a month's window ranking over 1,000 windows after loading rollups equivalent to 1M ratings
(rollup rows are generated directly, not by ingesting 1M events). Target: ingest >= 40 % of raw.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "aggregator"))

import requests  # noqa: E402
from device import Device  # noqa: E402  (the tests' real signer)

from aggregator import demo, stats  # noqa: E402
from aggregator.db import make_engine, read, utcnow, write  # noqa: E402
from aggregator.enroll import create_code  # noqa: E402
from aggregator.migrations import migrate  # noqa: E402
from aggregator.schema import rollup_daily  # noqa: E402
from sync.protocol import MAX_BATCH_BYTES  # noqa: E402

BATCH = 500
LEVELS = ["very_satisfied"] * 80 + ["satisfied"] * 15 + ["basic_satisfied"] * 3 + \
    ["dissatisfied"] * 1 + ["very_dissatisfied"] * 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_events(device: Device, n: int) -> list[dict]:
    rng = random.Random(1)
    out = []
    for k in range(n):
        if k % 20 == 0:
            out.append(device.event("app_start", {}))
        else:
            out.append(device.rating(rng.choice(LEVELS)))
    return out


def ingest_http(url: str, n: int) -> tuple[float, list[dict]]:
    engine = make_engine(url)
    migrate(engine)
    with write(engine) as conn:
        demo.build_org(conn)
        code = create_code(conn, "W-001", utcnow())["code"]
    engine.dispose()
    port = free_port()
    env = dict(os.environ, AGGREGATOR_ADMIN_TOKEN="bench")
    proc = subprocess.Popen([sys.executable, "-m", "aggregator", "serve", "--database", url,
                             "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if requests.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        device = Device(base)
        assert device.enroll(code).status_code == 200
        device.window_id = "W-001"
        events = make_events(device, n)
        bodies = pack(device, events)
        session = requests.Session()
        start = time.perf_counter()
        for body in bodies:
            path = "/api/v1/batches"
            h = {"Content-Type": "application/json", "Content-Encoding": "gzip",
                 **device.headers("POST", path, body)}
            r = session.post(base + path, data=body, headers=h, timeout=120)
            assert r.status_code == 200, r.text[:300]
            assert all(x["status"] == "accepted" for x in r.json()["results"])
        elapsed = time.perf_counter() - start
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return n / elapsed, events


def pack(device: Device, events: list[dict]) -> list[bytes]:
    """Gzip batch bodies of at most 500 events and 256 KiB of JSON (the protocol limits;
    ~640-byte rating events hit the byte limit at ~400 events)."""
    import json
    bodies, current, size = [], [], 200
    for ev in events:
        n = len(json.dumps(ev, ensure_ascii=False).encode()) + 2
        if current and (len(current) == BATCH or size + n > MAX_BATCH_BYTES):
            bodies.append(device.batch_body(current))
            current, size = [], 200
        current.append(ev)
        size += n
    if current:
        bodies.append(device.batch_body(current))
    return bodies


def raw_rows(events: list[dict]) -> list[tuple]:
    import json
    now = utcnow().isoformat()
    return [(e["id"], e["device_id"], e["stream_id"], e["seq"], e["type"], e["device_time"],
             e["boot_id"], e["mono_ns"], json.dumps(e["payload"], ensure_ascii=False),
             e["prev_hash"], e["hash"], "batch", now) for e in events]


RAW_DDL = """CREATE TABLE raw_events (id TEXT PRIMARY KEY, device_id TEXT, stream_id TEXT,
 seq BIGINT, type TEXT, device_time TEXT, boot_id TEXT, mono_ns BIGINT, payload TEXT,
 prev_hash TEXT, hash TEXT, batch_id TEXT, server_time TEXT, UNIQUE (device_id, stream_id, seq))"""


def raw_sqlite(path: str, rows: list[tuple]) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(RAW_DDL)
    start = time.perf_counter()
    for k in range(0, len(rows), BATCH):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO raw_events VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                         rows[k:k + BATCH])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return len(rows) / elapsed


def raw_pg(url: str, rows: list[tuple]) -> float:
    import psycopg
    with psycopg.connect(url) as conn:
        conn.execute(RAW_DDL)
        conn.commit()
        start = time.perf_counter()
        for k in range(0, len(rows), BATCH):
            with conn.cursor() as cur:
                with cur.copy("COPY raw_events FROM STDIN") as copy:
                    for row in rows[k:k + BATCH]:
                        copy.write_row(row)
            conn.commit()
        return len(rows) / (time.perf_counter() - start)


def pg_database(base: str) -> tuple[str, callable]:
    from urllib.parse import urlsplit, urlunsplit

    import psycopg
    name = f"agg_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop():
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return urlunsplit(urlsplit(base)._replace(path=f"/{name}")), drop


def report(label: str, ingest: float, raw: float) -> bool:
    ratio = ingest / raw
    ok = ratio >= 0.40
    print(f"{label}: ingest over HTTP {ingest:,.0f} events/s | raw bulk insert {raw:,.0f} rows/s"
          f" | ratio {ratio:.1%} | target >= 40 %: {'HOLDS' if ok else 'MISSED'}")
    return ok


def bench_stats(url: str) -> float:
    engine = make_engine(url)
    migrate(engine)
    rng = random.Random(2)
    first = dt.date(2026, 10, 1)
    rows, total = [], 0
    for w in range(1000):
        for d in range(30):
            day = (first + dt.timedelta(days=d)).isoformat()
            n = 33 + (w + d) % 3  # ~1M ratings over 1,000 windows × 30 days
            for staff in range(2):
                for level, stars in (("very_satisfied", 5), ("satisfied", 4),
                                     ("basic_satisfied", 3), ("dissatisfied", 2),
                                     ("very_dissatisfied", 1)):
                    share = {5: 0.8, 4: 0.15, 3: 0.03, 2: 0.01, 1: 0.01}[stars]
                    c = int(round(n / 2 * share + rng.random() * 0.5))
                    if c:
                        rows.append({"day": day, "window_id": f"W{w:04d}",
                                     "unit_id": f"U{w // 10:03d}", "staff_id": f"S{w}-{staff}",
                                     "service_item": "SI-01", "level": level, "flagged": 0,
                                     "count": c, "stars_sum": c * stars, "invited": 0})
                        total += c
    with write(engine) as conn:
        for k in range(0, len(rows), 5000):
            conn.execute(rollup_daily.insert(), rows[k:k + 5000])
    times = []
    for _ in range(5):
        start = time.perf_counter()
        with read(engine) as conn:
            out = stats.compute(conn, "window", first, first + dt.timedelta(days=29))
        times.append(time.perf_counter() - start)
    assert len(out["rows"]) == 1000
    engine.dispose()
    median = statistics.median(times)
    print(f"stats: {len(rows):,} rollup rows (= {total:,} ratings, generated directly) | "
          f"month ranking of 1,000 windows: median {median * 1000:.0f} ms over 5 runs "
          f"({url.split(':')[0]})")
    return median


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=20_000)
    p.add_argument("--skip-stats", action="store_true")
    args = p.parse_args()
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        ingest, events = ingest_http(f"sqlite:///{tmp}/agg.db", args.events)
        raw = raw_sqlite(f"{tmp}/raw.db", raw_rows(events))
        ok &= report("SQLite    ", ingest, raw)
        pg = os.environ.get("AGGREGATOR_TEST_PG_URL")
        if pg:
            url, drop = pg_database(pg)
            try:
                ingest, events = ingest_http(url, args.events)
                raw = raw_pg(url, raw_rows(events))
                ok &= report("PostgreSQL", ingest, raw)
            finally:
                drop()
        else:
            print("PostgreSQL: skipped (AGGREGATOR_TEST_PG_URL is not set)")
        if not args.skip_stats:
            bench_stats(f"sqlite:///{tmp}/stats.db")
            if pg:
                url, drop = pg_database(pg)
                try:
                    bench_stats(url)
                finally:
                    drop()
    print("targets:", "all hold" if ok else "NOT all hold")
    return 0


if __name__ == "__main__":
    sys.exit(main())
