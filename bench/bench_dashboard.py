"""Dashboard page render time: the overview and the monthly window ranking of 1,000 windows
at 3M and 30M ratings. Not a test.

    .venv/bin/python bench/bench_dashboard.py [--scales 1,10] [--runs 7] [--bare] [--json PATH]

The rollup tables are filled DIRECTLY (rollup_daily rows generated as in bench_ingest's stats
section, 3M ratings per month over 1,000 windows in 100 units, keyed as docs/scaling.md
measures a real window's: 3 staff on shifts, 8 service items, 100 ratings a day, so 29.3
rollup_daily rows per window-day and 108 rollup_monthly rows per window-month; then the
other rollups rebuilt from them by ``rollups.rebuild_monthly``), not by
ingesting millions of events; ``ratings`` and ``events`` stay empty (neither page reads them).
Until 2026-11-23 the rows were 2 staff × 1 item (10 per window-month, ~1.1M ratings a month),
which flattered the ranking ~10×. What the overview counts besides the rollups is filled as a
site of that volume would have it, unless ``--bare``: one case per bad rating of the filled
months (~60,000 a month, the generated ratings being 2 % bad; older months' cases closed but
3 %, the newest month's in every state), about one alert per device and week (95 % resolved)
and one device per window. The
organisation (one district, 100 units, the 1,000 windows) and an admin account are created
with the aggregator's own functions. Then ``aggregator serve`` (one worker, SQLite) runs on
loopback in a subprocess, the bench logs in like a browser (login form, CSRF token, session
cookie) and times full HTTP GETs of the real pages — server-side query and template render
included, no browser layout:

  overview   /dashboard/?period=2026-10
  ranking    /dashboard/rankings?group=window&period=2026-10   (1,000 rows, month vs previous)

Each page: the first GET after the server starts (cold) and the median of ``--runs`` more.
Scale ``k`` = k months of rollups (Oct 2026 backwards); the scales share one database that
grows. Targets: median under 100 ms, and flat as volume grows (largest ÷ smallest <= 2x).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "aggregator"))
sys.path.insert(0, str(ROOT / "bench"))

import requests  # noqa: E402
from bench_ingest import _month_rows, free_port  # noqa: E402
from benchjson import Figures  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from aggregator import org, rollups  # noqa: E402
from aggregator.dashboard import accounts  # noqa: E402
from aggregator.dashboard.tables import cases  # noqa: E402
from aggregator.db import make_engine, read, utcnow, write  # noqa: E402
from aggregator.migrations import migrate  # noqa: E402
from aggregator.schema import alerts, devices, rollup_daily  # noqa: E402

PASSWORD = "bench-dashboard-pw-1"
PAGES = {"overview": "/dashboard/?period=2026-10",
         "ranking": "/dashboard/rankings?group=window&period=2026-10"}
COLS = ("day", "window_id", "unit_id", "staff_id", "service_item", "level", "flagged",
        "count", "stars_sum", "invited")


def build_org(engine) -> None:
    with write(engine) as conn:
        org.save(conn, "regions", {"id": "R-B", "name": "基准区", "level": "district"})
        for u in range(100):
            org.save(conn, "units", {"id": f"U{u:03d}", "name": f"基准中心 {u:03d}",
                                     "region_id": "R-B"})
        for w in range(1000):
            org.save(conn, "windows", {"id": f"W{w:04d}", "name": f"窗口 {w:04d}",
                                       "unit_id": f"U{w // 10:03d}"})
        accounts.create_user(conn, "bench", PASSWORD, "admin", display_name="基准",
                             now=utcnow())


def add_months(engine, starts: list[dt.date], rng: random.Random, newest: dt.date,
               side_tables: bool) -> int:
    total = 0
    for first in starts:
        rows, t = _month_rows(first, rng)
        total += t
        with write(engine) as conn:
            for k in range(0, len(rows), 20000):
                conn.execute(rollup_daily.insert(), [dict(zip(COLS, r))
                                                     for r in rows[k:k + 20000]])
            if side_tables:
                add_cases(conn, rows, first == newest, rng)
                add_alerts(conn, first, rng)
    with write(engine) as conn:
        rollups.rebuild_monthly(conn)
    return total


OPEN_MIX = {"new": 20, "verified": 15, "rectifying": 20, "answered": 15, "closed": 28,
            "appealed": 2}
OLD_MIX = {"closed": 97, "appealed": 1, "answered": 2}


def add_cases(conn, rows: list[tuple], newest: bool, rng: random.Random) -> None:
    """One case per bad rating in the month's daily rows (as ingest opens them)."""
    mix = OPEN_MIX if newest else OLD_MIX
    now = utcnow()
    out = []
    for day, window, unit, staff, _, level, _, count, _, _ in rows:
        if level not in ("dissatisfied", "very_dissatisfied"):
            continue
        opened = dt.date.fromisoformat(day)
        for _ in range(count):
            state = rng.choices(list(mix), list(mix.values()))[0]
            worked = state != "new"
            out.append({
                "rating_id": f"bench-{len(out)}-{day}-{window}", "unit_id": unit,
                "window_id": window, "staff_id": staff, "opened_day": day, "state": state,
                "first_contact_due": (opened + dt.timedelta(days=1)).isoformat(),
                "answer_due": (opened + dt.timedelta(days=21)).isoformat(),
                "first_contact_at": now if worked else None,
                "answered_at": now if state in ("answered", "closed") else None,
                "closed_at": now if state == "closed" else None,
                "resolution": "resolved" if state == "closed" else None,
                "created_at": now, "updated_at": now})
    for k in range(0, len(out), 20000):
        conn.execute(cases.insert(), out[k:k + 20000])


def add_alerts(conn, first: dt.date, rng: random.Random) -> None:
    """About one alert per device and week of the month, 95 % of them resolved."""
    start = dt.datetime(first.year, first.month, first.day, tzinfo=dt.timezone.utc)
    out = []
    for w in range(1000):
        for week in range(4):
            at = start + dt.timedelta(days=7 * week, minutes=rng.randrange(7 * 24 * 60))
            out.append({"kind": rng.choice(("device_silent", "zero_bad", "burst")),
                        "severity": "warning", "dedupe_key": f"bench-{first}-{w}-{week}",
                        "device_id": f"D{w:04d}", "window_id": f"W{w:04d}", "detail": "bench",
                        "created_at": at,
                        "resolved_at": None if rng.random() < 0.05 else at + dt.timedelta(hours=5)})
    conn.execute(alerts.insert(), out)


def add_devices(engine, rng: random.Random) -> None:
    """One kiosk per window, last seen within the past 30 hours (some of them offline)."""
    now = utcnow()
    with write(engine) as conn:
        conn.execute(devices.insert(), [
            {"id": f"D{w:04d}", "window_id": f"W{w:04d}", "unit_id": f"U{w // 10:03d}",
             "public_key": "0" * 43, "enrolled_at": now - dt.timedelta(days=400),
             "last_seen_at": now - dt.timedelta(minutes=rng.randrange(30 * 60))}
            for w in range(1000)])


def time_pages(db_url: str, runs: int) -> dict[str, tuple[float, float, int]]:
    port = free_port()
    env = dict(os.environ, AGGREGATOR_SECRET="bench-dashboard", AGGREGATOR_ADMIN_TOKEN="bench")
    proc = subprocess.Popen([sys.executable, "-m", "aggregator", "serve", "--database", db_url,
                             "--port", str(port), "--workers", "1"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    out = {}
    try:
        for _ in range(600):
            try:
                if requests.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if proc.poll() is not None:
                raise SystemExit(f"aggregator exited with {proc.returncode}")
            time.sleep(0.1)
        s = requests.Session()
        form = s.get(base + "/dashboard/login", timeout=30)
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)[1]
        r = s.post(base + "/dashboard/login", data={"username": "bench", "password": PASSWORD,
                                                    "csrf": csrf, "next": "/dashboard/"},
                   allow_redirects=False, timeout=30)
        if r.status_code not in (302, 303):
            raise SystemExit(f"login failed: {r.status_code} {r.text[:300]}")
        for name, path in PAGES.items():
            times = []
            for _ in range(runs + 1):
                t0 = time.perf_counter()
                resp = s.get(base + path, timeout=120)
                times.append(time.perf_counter() - t0)
                if resp.status_code != 200 or "/dashboard/login" in resp.url:
                    raise SystemExit(f"GET {path}: {resp.status_code} {resp.text[:300]}")
            out[name] = (times[0] * 1000, statistics.median(times[1:]) * 1000, len(resp.content))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scales", default="1,10", help="months of rollups (3M ratings each)")
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--bare", action="store_true",
                   help="leave cases, alerts and devices empty (rollups only)")
    p.add_argument("--json", default=None, help="also write the figures as JSON rows here")
    args = p.parse_args(argv)
    scales = sorted(int(x) for x in args.scales.split(","))
    fig = Figures()
    results: dict[str, list[float]] = {name: [] for name in PAGES}
    with tempfile.TemporaryDirectory(prefix="bench-dash-") as tmp:
        url = f"sqlite:///{tmp}/dash.db"
        engine = make_engine(url)
        migrate(engine)
        build_org(engine)
        rng = random.Random(2)
        if not args.bare:
            add_devices(engine, rng)
        months = [dt.date(2026 - (k >= 10), (10 - k - 1) % 12 + 1, 1) for k in range(max(scales))]
        have, total = 0, 0
        for scale in scales:
            t0 = time.perf_counter()
            total += add_months(engine, months[have:scale], rng, months[0], not args.bare)
            have = scale
            with read(engine) as conn:
                side = "" if args.bare else (
                    f", {conn.execute(select(func.count()).select_from(cases)).scalar():,} "
                    f"cases, {conn.execute(select(func.count()).select_from(alerts)).scalar():,}"
                    " alerts")
            print(f"dashboard: {total:,} ratings as rollups over {scale} month(s){side} "
                  f"(filled directly in {time.perf_counter() - t0:.0f} s), 1,000 windows, "
                  "SQLite", flush=True)
            got = time_pages(url, args.runs)
            for name, (cold, median, size) in got.items():
                ok = median < 100
                results[name].append(median)
                print(f"  {name:<8} {PAGES[name]:<50} cold {cold:7.1f} ms | median "
                      f"{median:7.1f} ms over {args.runs} | {size:,} bytes | target < 100 ms: "
                      f"{'HOLDS' if ok else 'MISSED'}")
                fig.add(f"dashboard {name} page at {total / 1e6:.1f}M ratings (SQLite, HTTP)",
                        median, "ms", target="< 100 ms", holds=ok)
        engine.dispose()
    if len(scales) > 1:
        for name, ms in results.items():
            growth = ms[-1] / ms[0]
            print(f"  {name}: {scales[-1]} months ÷ {scales[0]} month = {growth:.2f}x "
                  f"(flat: <= 2x {'HOLDS' if growth <= 2 else 'MISSED'})")
            fig.add(f"dashboard {name} page, largest ÷ smallest volume", growth, "x",
                    target="flat (<= 2x)", holds=growth <= 2)
    fig.write(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
