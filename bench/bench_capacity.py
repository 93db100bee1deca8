"""The measurements behind docs/scaling.md (a capacity plan for a province). Not a test.

    export AGGREGATOR_TEST_PG_URL=$(bash tests/aggregator/start_pg.sh)
    .venv/bin/python bench/bench_capacity.py [--events 20000] [--windows 1000,10000,50000]
                                             [--partition-ratings 2000000] [--skip …]

Sections (each prints lines starting with its name; ``--skip ingest,rollups,ranking,partition``):

ingest     Signed gzip batches over HTTP to ``aggregator serve`` on loopback (SQLite with 1
           worker; PostgreSQL with 1 and 2 workers), bodies signed before the clock starts.
           Besides events/s it reads the CPU time (/proc utime+stime) the aggregator processes
           and the PostgreSQL server processes used during the run, so the cost is per event
           in CPU-µs, independent of how many cores the load generator took: "events per
           core-second" = 1e6 / (aggregator µs + database µs).
rollups    Rollup rows per window: the distinct rollup keys of 100 ratings a day at one window
           (3 staff on shifts, 8 service items, the level mix of bench_ingest, 0.4 % flagged)
           over 30 days, simulated in Python; then bytes per row of rollup_daily,
           rollup_monthly, ratings and events as PostgreSQL stores them (pg_total_relation_size
           after inserting that many rows, indexes included).
ranking    A month's ranking (stats.compute, what the dashboards call) by window, unit and
           region, and a window ranking inside one city, over monthly rollups of N windows
           (120 rows per window-month, about what the rollups section measures; rows generated
           directly, 3,000 ratings per window-month) on PostgreSQL.
partition  ``ratings`` as shipped vs the same table partitioned by month (declarative RANGE on
           ``day``, primary key (id, day)), both filled with the same N ratings over 12 months
           by generate_series: ingest-shaped inserts (unnest, 400 rows, ON CONFLICT DO NOTHING),
           the dashboard's ratings queries (case catch-up, window drill-down, unit month), the
           follow-up attach by id, and removing a month (DELETE vs DROP of a partition).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "aggregator"))
sys.path.insert(0, str(ROOT / "bench"))

import requests  # noqa: E402
from bench_ingest import enrol_windows, make_events, pack, pg_database, run_threads, running_server  # noqa: E402,E501
from benchjson import Figures  # noqa: E402
from device import Device  # noqa: E402  (the tests' real signer)

from aggregator import stats  # noqa: E402
from aggregator.db import make_engine, read, write  # noqa: E402
from aggregator.migrations import migrate  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
FIG = Figures()
LEVELS = ([("very_satisfied", 5)] * 80 + [("satisfied", 4)] * 15 + [("basic_satisfied", 3)] * 3
          + [("dissatisfied", 2)] + [("very_dissatisfied", 1)])


# -- CPU accounting ------------------------------------------------------------------------

def _stat(pid: int) -> tuple[int, int, str] | None:
    """(ppid, utime+stime ticks, comm) of a live process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm = raw[raw.index("(") + 1:raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2:].split()
    return int(fields[1]), int(fields[11]) + int(fields[12]), comm


def _all() -> dict[int, tuple[int, int, str]]:
    out = {}
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            s = _stat(int(p.name))
            if s:
                out[int(p.name)] = s
    return out


def cpu_seconds(root_pid: int) -> tuple[float, float]:
    """(CPU s of root_pid and its descendants, CPU s of every postgres process)."""
    procs = _all()
    tree, frontier = {root_pid}, [root_pid]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, _, _) in procs.items():
            if ppid == parent and pid not in tree:
                tree.add(pid)
                frontier.append(pid)
    agg = sum(procs[p][1] for p in tree if p in procs) / TICK
    pg = sum(t for _, t, comm in procs.values() if comm.startswith("postgres")) / TICK
    return agg, pg


# -- ingest ----------------------------------------------------------------------------------

def ingest(url: str, n: int, workers: int, clients: int, batch: int | None = None) -> dict:
    pairs = enrol_windows(url, clients)
    with running_server(url, workers) as (proc, base):
        plans = []
        for k, (w, code) in enumerate(pairs):
            device = Device(base, window_id=w)
            assert device.enroll(code).status_code == 200
            share = n // clients + (1 if k < n % clients else 0)
            events = make_events(device, share)
            chunks = pack(events) if batch is None else [events[k:k + batch]
                                                         for k in range(0, len(events), batch)]
            bodies = [device.batch_body(b) for b in chunks]
            path = "/api/v1/batches"
            signed = [(body, {"Content-Type": "application/json", "Content-Encoding": "gzip",
                              **device.headers("POST", path, body)}) for body in bodies]
            plans.append(signed)
        errors: list[str] = []
        latencies: list[float] = []

        def post_all(signed):
            session = requests.Session()
            for body, headers in signed:
                t0 = time.perf_counter()
                r = session.post(base + "/api/v1/batches", data=body, headers=headers,
                                 timeout=120)
                latencies.append(time.perf_counter() - t0)
                if r.status_code != 200:
                    errors.append(r.text[:300])
                    return
        agg0, pg0 = cpu_seconds(proc.pid)
        elapsed = run_threads([threading.Thread(target=post_all, args=(p,)) for p in plans])
        agg1, pg1 = cpu_seconds(proc.pid)
        assert not errors, errors[0]
    batches = sum(len(p) for p in plans)
    latencies.sort()
    return {"events": n, "batches": batches, "seconds": elapsed, "rate": n / elapsed,
            "agg_us": (agg1 - agg0) / n * 1e6, "db_us": (pg1 - pg0) / n * 1e6,
            "p50_ms": latencies[len(latencies) // 2] * 1000,
            "p95_ms": latencies[int(len(latencies) * 0.95)] * 1000}


def section_ingest(n: int, pg: str | None, tmp: str) -> None:
    """Full batches (~400 events), then one event per batch: what a kiosk sends when it is
    online and uploads each rating as it happens (the per-request cost)."""
    runs = [("SQLite", f"sqlite:///{tmp}/ingest.db", 1, 2, None, n)]
    if pg:
        runs += [("PostgreSQL", None, 1, 2, None, n), ("PostgreSQL", None, 2, 4, None, n),
                 ("PostgreSQL", None, 1, 2, 1, max(200, n // 10))]
    for name, url, workers, clients, batch, count in runs:
        drop = None
        if url is None:
            url, drop = pg_database(pg)
        try:
            r = ingest(url, count, workers, clients, batch)
            if name == "PostgreSQL" and workers == 1 and batch is None:
                _pg_sizes_after_ingest(url)
        finally:
            if drop:
                drop()
        per_core = 1e6 / (r["agg_us"] + r["db_us"])
        db_part = f"{r['db_us']:.0f} µs (PostgreSQL processes)" if name == "PostgreSQL" \
            else "in-process (SQLite)"
        size = "1-event batches" if batch == 1 else "full batches"
        print(f"ingest {name:<10} workers={workers} clients={clients} {size}: "
              f"{r['rate']:,.0f} events/s "
              f"wall ({r['events']:,} events, {r['batches']} batches, batch p50 "
              f"{r['p50_ms']:.0f} ms, p95 {r['p95_ms']:.0f} ms) | CPU per event: aggregator "
              f"{r['agg_us']:.0f} µs + database {db_part} = {per_core:,.0f} events per "
              f"core-second")
        FIG.add(f"capacity: ingest {name} workers={workers} {size}, events per core-second",
                per_core, "events/core-s", target="(reported)")


def _pg_sizes_after_ingest(url: str) -> None:
    engine = make_engine(url)
    with read(engine) as conn:
        for table in ("events", "ratings"):
            n = conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar()
            size = conn.exec_driver_sql(f"SELECT pg_total_relation_size('{table}')").scalar()
            print(f"rollups  PostgreSQL {table:<14}: {size / max(n, 1):,.0f} bytes per row "
                  f"with indexes ({n:,} rows after the ingest run)")
            FIG.add(f"aggregator PostgreSQL bytes per {table[:-1]} row (with indexes)",
                    size / max(n, 1), "B", target="(reported)")
    engine.dispose()


# -- rollup sizes ---------------------------------------------------------------------------

def rollup_keys(ratings_per_day: int, days: int = 30, seed: int = 3) -> tuple[float, float]:
    """(daily rollup rows per window-day, monthly rows per window-month), simulated."""
    rng = random.Random(seed)
    daily, monthly = set(), set()
    staff = ["S1", "S2", "S3"]
    items = [f"SI-{k}" for k in range(8)]
    item_weights = [30, 20, 15, 10, 10, 7, 5, 3]
    for d in range(days):
        on_duty = rng.sample(staff, 2)  # two shifts a day
        for k in range(ratings_per_day):
            s = on_duty[0] if k < ratings_per_day // 2 else on_duty[1]
            item = rng.choices(items, item_weights)[0]
            level, _ = rng.choice(LEVELS)
            flagged = 1 if rng.random() < 0.004 else 0
            daily.add((d, s, item, level, flagged))
            monthly.add((s, item, level, flagged))
        if rng.random() < 0.5:
            daily.add((d, on_duty[0], "", "not_rated", 0))
            monthly.add((on_duty[0], "", "not_rated", 0))
    return len(daily) / days, len(monthly)


def section_rollups(pg: str | None, per_day: int) -> tuple[float, float]:
    per_wd, per_wm = rollup_keys(per_day)
    print(f"rollups  keys at {per_day} ratings/window/day: {per_wd:.1f} rollup_daily rows per "
          f"window-day, {per_wm} rollup_monthly rows per window-month (simulated, 30 days)")
    if pg:
        url, drop = pg_database(pg)
        try:
            engine = make_engine(url)
            migrate(engine)
            rows_d = [(f"2026-10-{d + 1:02d}", f"W{w:05d}", f"U{w // 20:04d}", f"S{w}-{s}",
                       f"SI-{i}", lv, 0, 3, 15, 0) for w in range(300) for d in range(30)
                      for s in range(2) for i in range(3) for lv in ("very_satisfied",
                                                                      "satisfied")]
            _copy(engine, "rollup_daily", rows_d)
            rows_m = [("2026-10",) + r[1:] for r in rows_d if r[0] == "2026-10-01"]
            _copy(engine, "rollup_monthly", rows_m)
            with engine.connect() as conn:
                for table, n in (("rollup_daily", len(rows_d)), ("rollup_monthly", len(rows_m))):
                    size = conn.exec_driver_sql(
                        f"SELECT pg_total_relation_size('{table}')").scalar()
                    print(f"rollups  PostgreSQL {table:<14}: {size / n:,.0f} bytes per row "
                          f"with indexes ({n:,} rows)")
                    FIG.add(f"aggregator PostgreSQL bytes per {table} row (with indexes)",
                            size / n, "B", target="(reported)")
            engine.dispose()
        finally:
            drop()
    return per_wd, per_wm


def _copy(engine, table: str, rows: list[tuple]) -> None:
    cols = ("day" if table == "rollup_daily" else "month", "window_id", "unit_id", "staff_id",
            "service_item", "level", "flagged", "count", "stars_sum", "invited")
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cur:
            with cur.copy(f'COPY {table} ({", ".join(chr(34) + c + chr(34) for c in cols)}) '
                          "FROM STDIN") as copy:
                for r in rows:
                    copy.write_row(r)
        raw.commit()
    finally:
        raw.close()


# -- ranking at province scale --------------------------------------------------------------

def section_ranking(pg: str, sizes: list[int]) -> None:
    for n_windows in sizes:
        url, drop = pg_database(pg)
        try:
            engine = make_engine(url)
            migrate(engine)
            n_units = max(1, n_windows // 20)
            cities, districts = 15, 150
            with write(engine) as conn:
                conn.exec_driver_sql("INSERT INTO regions (id, name, level) VALUES "
                                     "('P', 'province', 'province')")
                conn.exec_driver_sql(
                    "INSERT INTO regions (id, name, level, parent_id) SELECT 'C' || g, "
                    f"'city ' || g, 'city', 'P' FROM generate_series(0, {cities - 1}) g")
                conn.exec_driver_sql(
                    "INSERT INTO regions (id, name, level, parent_id) SELECT 'D' || g, "
                    f"'district ' || g, 'district', 'C' || mod(g, {cities}) "
                    f"FROM generate_series(0, {districts - 1}) g")
                conn.exec_driver_sql(
                    "INSERT INTO units (id, name, region_id, scale, trigger_mode, "
                    "lockout_seconds, invite_timeout_seconds) SELECT 'U' || g, 'unit ' || g, "
                    f"'D' || mod(g, {districts}), 5, 'open', 10, 20 "
                    f"FROM generate_series(0, {n_units - 1}) g")
                conn.exec_driver_sql(
                    "INSERT INTO windows (id, name, unit_id, active) SELECT 'W' || g, "
                    f"'window ' || g, 'U' || mod(g, {n_units}), true "
                    f"FROM generate_series(0, {n_windows - 1}) g")
                # ~120 monthly rows per window (3 staff x 8 items x 5 levels; the rollups
                # section measures 108), for the month ranked and the month before.
                for month in ("2026-09", "2026-10"):
                    conn.exec_driver_sql(
                        'INSERT INTO rollup_monthly (month, window_id, unit_id, staff_id, '
                        'service_item, level, flagged, "count", stars_sum, invited) '
                        f"SELECT '{month}', 'W' || w, 'U' || mod(w, {n_units}), "
                        "'S' || w || '-' || s, 'SI-' || i, lv.level, 0, lv.n, lv.n * lv.stars, 0 "
                        f"FROM generate_series(0, {n_windows - 1}) w, generate_series(0, 2) s, "
                        "generate_series(0, 7) i, "
                        "(VALUES ('very_satisfied', 5, 100), ('satisfied', 4, 19), "
                        "('basic_satisfied', 3, 4), ('dissatisfied', 2, 1), "
                        "('very_dissatisfied', 1, 1)) AS lv(level, stars, n)")
                # what rollups.add keeps beside it, and what stats.compute reads for windows,
                # units and regions (migration 42)
                conn.exec_driver_sql(
                    'INSERT INTO rollup_window_monthly (month, window_id, unit_id, level, '
                    'flagged, "count", stars_sum, invited) SELECT month, window_id, unit_id, '
                    'level, flagged, SUM("count"), SUM(stars_sum), SUM(invited) '
                    'FROM rollup_monthly GROUP BY month, window_id, unit_id, level, flagged')
            with engine.connect() as conn:
                conn.exec_driver_sql("COMMIT")
                conn.exec_driver_sql("ANALYZE")
            first, last = dt.date(2026, 10, 1), dt.date(2026, 10, 31)
            for group_by, region in (("window", None), ("unit", None), ("region", "P"),
                                     ("window", "C3")):
                times = []
                for _ in range(3):
                    t0 = time.perf_counter()
                    with read(engine) as conn:
                        out = stats.compute(conn, group_by, first, last, region=region)
                    times.append(time.perf_counter() - t0)
                where = f" in {region}" if region else " (whole province)"
                print(f"ranking  {n_windows:>6,} windows, month by {group_by:<6}{where}: "
                      f"median {statistics.median(times) * 1000:,.0f} ms over 3 runs, "
                      f"{len(out['rows']):,} rows ranked, "
                      f"{out['total']['rated']:,} ratings in the month")
            engine.dispose()
        finally:
            drop()


# -- partitioning ----------------------------------------------------------------------------

FILL = """INSERT INTO {table} (id, device_id, window_id, unit_id, staff_id, staff_name,
 service_item, case_no, invitation_id, channel, level, stars, scale, reasons, reasons_version,
 comment, phone, callback_consent, device_time, server_time, day, flags, flagged, rated_at)
SELECT md5(g::text || '{salt}'), 'kiosk-' || (g % 5000), 'W' || (g % 5000), 'U' || (g % 250),
 'S' || (g % 15000), '某某', 'SI-' || (g % 8), NULL, NULL, 4,
 (ARRAY['very_satisfied','satisfied','basic_satisfied','dissatisfied','very_dissatisfied'])[s.k],
 6 - s.k, 5, NULL, NULL, NULL, NULL, false, t.ts, t.ts,
 to_char(t.ts AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD'), '[]', false, t.ts
FROM generate_series(1, {n}) g,
 LATERAL (SELECT CASE WHEN g % 100 < 80 THEN 1 WHEN g % 100 < 95 THEN 2 WHEN g % 100 < 98
          THEN 3 WHEN g % 100 < 99 THEN 4 ELSE 5 END AS k) s,
 LATERAL (SELECT timestamptz '2026-01-01 01:00+00' + (g::float8 / {n}) * interval '364 days'
          AS ts) t"""


def _median_ms(cur, sql: str, params_list: list) -> float:
    times = []
    for params in params_list:
        t0 = time.perf_counter()
        cur.execute(sql, params)
        cur.fetchall() if cur.description else None
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def section_partition(pg: str, n: int) -> None:
    import psycopg

    url, drop = pg_database(pg)
    try:
        engine = make_engine(url)
        migrate(engine)
        engine.dispose()
        with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE ratings_part (LIKE ratings INCLUDING DEFAULTS) "
                        "PARTITION BY RANGE (day)")
            cur.execute("ALTER TABLE ratings_part ADD PRIMARY KEY (id, day)")
            for m in range(1, 13):
                lo, hi = f"2026-{m:02d}-01", (f"2026-{m + 1:02d}-01" if m < 12 else "2027-01-01")
                cur.execute(f"CREATE TABLE ratings_p2026_{m:02d} PARTITION OF ratings_part "
                            f"FOR VALUES FROM ('{lo}') TO ('{hi}')")
            cur.execute("CREATE INDEX ON ratings_part (window_id, day)")
            cur.execute("CREATE INDEX ON ratings_part (unit_id, day)")
            cur.execute("CREATE INDEX ON ratings_part (server_time) WHERE stars <= 2")
            fill = {}
            for table in ("ratings", "ratings_part"):
                t0 = time.perf_counter()
                cur.execute(FILL.format(table=table, n=n, salt="a"))
                fill[table] = time.perf_counter() - t0
                cur.execute(f"VACUUM ANALYZE {table}")
            sizes = {}
            for table in ("ratings", "ratings_part"):
                cur.execute("SELECT COALESCE(sum(pg_total_relation_size(c.oid)), 0) FROM "
                            "pg_class c WHERE c.relname = %s OR c.oid IN (SELECT inhrelid FROM "
                            "pg_inherits WHERE inhparent = %s::regclass)", (table, table))
                sizes[table] = cur.fetchone()[0]
            print(f"partition {n:,} ratings over 12 months: fill (INSERT … SELECT) plain "
                  f"{n / fill['ratings']:,.0f} rows/s, partitioned "
                  f"{n / fill['ratings_part']:,.0f} rows/s | size with indexes plain "
                  f"{sizes['ratings'] / 2**20:,.0f} MiB, partitioned "
                  f"{sizes['ratings_part'] / 2**20:,.0f} MiB")
            rng = random.Random(5)
            # Ingest-shaped inserts: 400 new rows per statement via unnest, ON CONFLICT DO
            # NOTHING, each in its own transaction (as one batch), into the current month.
            for table in ("ratings", "ratings_part"):
                batches = []
                for b in range(40):
                    ids = [f"new-{table}-{b}-{k}" for k in range(400)]
                    batches.append(ids)
                t0 = time.perf_counter()
                for ids in batches:
                    with conn.transaction():
                        cur.execute(
                            f"INSERT INTO {table} (id, device_id, window_id, unit_id, channel, "
                            "level, stars, scale, callback_consent, server_time, day, flags, "
                            "flagged) SELECT i, 'kiosk-1', 'W1', 'U1', 4, 'very_satisfied', 5, "
                            "5, false, now(), '2026-12-20', '[]', false FROM unnest(%s::text[]) "
                            "i ON CONFLICT DO NOTHING", (ids,))
                elapsed = time.perf_counter() - t0
                print(f"partition ingest-shaped insert into {table:<12}: "
                      f"{40 * 400 / elapsed:,.0f} rows/s (40 x 400-row transactions)")
            queries = {
                "case catch-up (bad since a time)":
                    ("SELECT id FROM {t} WHERE stars <= 2 AND flagged = false AND server_time "
                     ">= %s", [(dt.datetime(2026, m, 15, tzinfo=dt.timezone.utc),)
                               for m in (3, 6, 9, 12, 12)]),
                "window drill-down (7 days)":
                    ("SELECT id, level, stars, day FROM {t} WHERE window_id = %s AND day "
                     "BETWEEN %s AND %s", [(f"W{rng.randrange(5000)}", f"2026-{m:02d}-03",
                                            f"2026-{m:02d}-09") for m in range(1, 12)]),
                "unit month, bad ratings":
                    ("SELECT id, day FROM {t} WHERE unit_id = %s AND day BETWEEN %s AND %s "
                     "AND stars <= 2", [(f"U{rng.randrange(250)}", f"2026-{m:02d}-01",
                                         f"2026-{m:02d}-28") for m in range(1, 12)]),
                "follow-up attach by id (no day)":
                    ("SELECT id FROM {t} WHERE id = %s",
                     [(f"{__import__('hashlib').md5(str(rng.randrange(1, n)).encode() + b'a').hexdigest()}",)
                      for _ in range(21)]),
            }
            for label, (sql, params) in queries.items():
                ms = {t: _median_ms(cur, sql.format(t=t), params)
                      for t in ("ratings", "ratings_part")}
                print(f"partition query {label:<32}: plain {ms['ratings']:.2f} ms, "
                      f"partitioned {ms['ratings_part']:.2f} ms (median)")
            t0 = time.perf_counter()
            cur.execute("DELETE FROM ratings WHERE day < '2026-02-01'")
            deleted = cur.rowcount
            t_delete = time.perf_counter() - t0
            t0 = time.perf_counter()
            cur.execute("ALTER TABLE ratings_part DETACH PARTITION ratings_p2026_01")
            cur.execute("DROP TABLE ratings_p2026_01")
            t_drop = time.perf_counter() - t0
            print(f"partition remove January ({deleted:,} rows): DELETE {t_delete:.2f} s "
                  f"(and leaves dead rows for VACUUM) vs DETACH + DROP {t_drop * 1000:.0f} ms")
    finally:
        drop()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=20_000)
    p.add_argument("--per-day", type=int, default=100, help="ratings per window per day")
    p.add_argument("--windows", default="1000,5000,20000",
                   help="window counts for the ranking section")
    p.add_argument("--partition-ratings", type=int, default=2_000_000)
    p.add_argument("--skip", default="", help="comma-separated sections to skip")
    p.add_argument("--json", default=None, help="also write the figures as JSON rows here")
    args = p.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    pg = os.environ.get("AGGREGATOR_TEST_PG_URL")
    print(f"machine: {os.cpu_count()} cores, {os.uname().sysname} {os.uname().release}; "
          f"PostgreSQL: {'yes' if pg else 'no (set AGGREGATOR_TEST_PG_URL)'}")
    with tempfile.TemporaryDirectory() as tmp:
        if "ingest" not in skip:
            section_ingest(args.events, pg, tmp)
        if "rollups" not in skip:
            section_rollups(pg, args.per_day)
    if pg and "ranking" not in skip:
        section_ranking(pg, [int(x) for x in args.windows.split(",")])
    if pg and "partition" not in skip:
        section_partition(pg, args.partition_ratings)
    FIG.write(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
