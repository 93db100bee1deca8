"""Server crashes: ``aggregator serve`` SIGKILLed while it ingests batches. After every kill
the database must show each batch whole or not at all; after restarts and client retries every
kiosk event is on the server exactly once. On SQLite and (with a URL) PostgreSQL."""

from __future__ import annotations

import random
import tempfile
import threading
import time
from pathlib import Path

from tests.reliability.harness import (
    Row,
    ServerProcess,
    check_kiosk_side,
    check_server_side,
    free_port,
    make_kiosk,
    postgres_database,
    server_events,
    setup_org,
    tally,
)


def _frozen_sizes(store) -> dict[str, int]:
    """Events per batch as the kiosk froze it (its ``n``: a closed batch keeps no body)."""
    return dict(store.conn.execute("SELECT id, n FROM batches").fetchall())


def _partial_batches(engine, store, device_id: str) -> list[str]:
    sizes = _frozen_sizes(store)
    per_batch: dict[str, int] = {}
    for e in server_events(engine, device_id):
        per_batch[e["batch_id"]] = per_batch.get(e["batch_id"], 0) + 1
    # The server stores each event under the batch that first brought it; no 413 splits here,
    # so a batch of which it holds some but not all events is a partial batch.
    return [f"{bid[:8]}: {n}/{sizes.get(bid)}" for bid, n in per_batch.items()
            if sizes.get(bid) is not None and n != sizes[bid]]


def _run_on(database_url: str, kills: int, workdir: Path, label: str) -> Row:
    from aggregator.db import make_engine
    from kiosk.store import RatingStore
    from sync.client import AdminClient, SyncClient
    from sync.errors import SyncError

    row = Row(f"server crashes ({label})")
    rng = random.Random(7)
    server = ServerProcess(database_url, free_port(), workdir / "logs")
    server.start()
    engine = make_engine(database_url)
    kiosk = None
    in_flight_kills = 0
    try:
        admin = AdminClient(server.url, "reliability-admin-token", timeout=30)
        setup_org(admin)
        kiosk = make_kiosk(admin, server.url, workdir / "kiosk", timeout=10)
        store = kiosk.store
        promised = [e["id"] for e in kiosk.rate(1000)]
        t0 = time.monotonic()
        kiosk.client.drain()  # how long ingest takes here, to aim the kills inside it
        per_event = (time.monotonic() - t0) / 1000
        for cycle in range(kills):
            n = rng.randint(1000, 3000)
            promised += [e["id"] for e in kiosk.rate(n)]
            started = threading.Event()
            crashed: list[str] = []

            def upload(started=started, crashed=crashed):
                # Its own store connection: one connection per thread.
                up_store = RatingStore(store.path, check=False)
                try:
                    up = SyncClient(server.url, up_store, kiosk.client.credentials, timeout=10)
                    started.set()
                    up.drain()
                except SyncError:
                    pass  # the server died under it: retried after the restart
                except Exception as exc:  # anything else is a kiosk bug
                    crashed.append(f"{type(exc).__name__}: {exc}")
                finally:
                    started.set()
                    up_store.close()

            uploader = threading.Thread(target=upload)
            uploader.start()
            started.wait(30)
            # Somewhere inside the drain: its length was measured on the first cycle.
            time.sleep(rng.uniform(0.0, per_event * n))
            if uploader.is_alive():
                in_flight_kills += 1
            server.kill()
            row.tried += 1
            uploader.join(60)
            row.check(not crashed, f"kill {cycle}: uploader crashed: {crashed}")
            partial = _partial_batches(engine, store, kiosk.device_id)
            if partial:
                row.problems.append(f"kill {cycle}: partial batches visible: {partial[:3]}")
            server.start()
        client = kiosk.client
        for _ in range(20):  # the client retries until everything is acknowledged
            try:
                client.drain()
                break
            except SyncError:
                time.sleep(0.5)
        check_kiosk_side(row, store)
        row.check(store.pending_count() == 0, "events still pending after retries")
        server_ids = [e["id"] for e in server_events(engine, kiosk.device_id)]
        tally(row, promised, server_ids)
        row.check(set(kiosk.ids()) == set(server_ids),
                  "the server does not hold exactly the kiosk's events")
        check_server_side(row, engine, [kiosk.device_id])
    finally:
        if kiosk is not None:
            kiosk.store.close()
        server.stop()
        engine.dispose()
    n5, where = server.count_5xx()
    row.http_5xx += n5
    row.problems += where[:5]
    row.note = f"{in_flight_kills} of {kills} kills with a batch in flight"
    return row


def run(kills: int = 10, pg_url: str | None = None, workdir: Path | None = None,
        backends: tuple[str, ...] = ("sqlite", "postgresql")) -> list[Row]:
    workdir = Path(workdir or tempfile.mkdtemp(prefix="rel-server-crash-"))
    rows = []
    if "sqlite" in backends:
        rows.append(_run_on(f"sqlite:///{workdir / 'sqlite' / 'aggregator.db'}", kills,
                            workdir / "sqlite", "SQLite"))
    if "postgresql" in backends and pg_url:
        with postgres_database(pg_url) as url:
            rows.append(_run_on(url, kills, workdir / "pg", "PostgreSQL"))
    elif "postgresql" in backends:
        rows.append(Row("server crashes (PostgreSQL)",
                        skipped="AGGREGATOR_TEST_PG_URL is not set "
                                "(export it from tests/aggregator/start_pg.sh)"))
    return rows
