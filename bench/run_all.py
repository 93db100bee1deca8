"""Run every benchmark of the project and print ONE table (``make bench``).

    .venv/bin/python bench/run_all.py [--quick] [--only NAME,…] [--json PATH]

Each bench script runs as its own subprocess with a timeout, so a crash or a hang in one does
not stop the others; each writes its figures with ``--json`` (see bench/benchjson.py) and its
human output goes to bench/out/<name>.log. The table: figure | value | raw limit | ratio |
target | holds. ``raw limit`` is the raw operation measured in the same run where one exists.

The machine's own speed is measured too, because a shared virtual machine's varies during a
day (up to 2.4x on the one of docs/benchmarks.md): before each bench and at the end, the CPU
time of a fixed pure-Python loop (``sum(range(10**7))``, best of 3). Figures with a raw limit
are ratios and compare across runs; absolute ones (ms, events/s) compare only between runs
whose reference loop took about the same time.

Default sizes are the issue's (100,000-event drain, 20,000-tap soak, rollups of 1M and 10M
ratings, 1,000 devices) and take 20–30 minutes on 2 cores; ``--quick`` uses small sizes
(a few minutes). When AGGREGATOR_TEST_PG_URL is unset and PostgreSQL binaries exist, a
throwaway cluster is started with tests/aggregator/start_pg.sh and stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"

# name: (arguments at full size, arguments with --quick, timeout s full, timeout s quick)
BENCHES = {
    "store": (["--n", "2000"], ["--n", "500"], 600, 180),
    "kiosk_gui": (["--taps", "20000", "--samples", "200"], ["--taps", "300", "--samples", "30"],
                  4800, 600),
    "sync": (["--events", "100000"], ["--events", "5000"], 1800, 300),
    "ingest": (["--events", "20000", "--stats-scale", "1,10"],
               ["--events", "3000", "--stats-scale", "1"], 3600, 600),
    "fleet": (["--devices", "1000", "--ratings", "5"], ["--devices", "100", "--ratings", "3"],
              1800, 300),
    "dashboard": (["--scales", "1,10", "--runs", "7"], ["--scales", "1", "--runs", "3"],
                  2400, 600),
    "capacity": (["--windows", "1000,5000", "--partition-ratings", "1000000"],
                 ["--events", "3000", "--windows", "1000", "--skip", "partition"], 2400, 600),
}


def start_pg() -> tuple[str | None, str | None]:
    """(url, data dir) of a throwaway cluster, or (None, None)."""
    if not any(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        return None, None
    out = subprocess.run(["bash", str(ROOT / "tests/aggregator/start_pg.sh")], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        print(f"run_all: start_pg.sh failed, PostgreSQL figures skipped:\n{out.stderr}",
              file=sys.stderr)
        return None, None
    m = re.search(r"cluster in (\S+)", out.stderr)
    return out.stdout.strip(), m[1] if m else None


def stop_pg(data_dir: str) -> None:
    pgbin = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))[-1]
    cmd = f"{pgbin} -D {data_dir} -m fast stop"
    if os.geteuid() == 0:
        subprocess.run(["su", "postgres", "-s", "/bin/sh", "-c", cmd], capture_output=True,
                       timeout=120)
    else:
        subprocess.run(["sh", "-c", cmd], capture_output=True, timeout=120)
    shutil.rmtree(Path(data_dir).parent, ignore_errors=True)


def run_one(name: str, args: list[str], timeout: int, env: dict, outdir: Path) -> tuple[list, str]:
    """(rows, status) of one bench script."""
    jpath = outdir / f"{name}.json"
    jpath.unlink(missing_ok=True)
    log = outdir / f"{name}.log"
    cmd = [sys.executable, str(BENCH / f"bench_{name}.py"), *args, "--json", str(jpath)]
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        fh.write("$ " + " ".join(cmd) + "\n")
        fh.flush()
        # Own process group, so a timeout ends the bench's own children (servers) too.
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout)
            status = f"exit {rc}"
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 15)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait()
            status = f"TIMEOUT after {timeout} s"
    status += f", {time.perf_counter() - t0:.0f} s"
    rows = json.loads(jpath.read_text()) if jpath.exists() else []
    if not rows:
        rows = [{"figure": f"bench_{name}: no figures ({status}; see {log.relative_to(ROOT)})",
                 "value": None, "unit": "", "raw": None, "ratio": None, "target": "",
                 "holds": False}]
    return rows, status


def reference_seconds() -> float:
    """CPU seconds of ``sum(range(10**7))`` in this process, best of 3: the machine's speed."""
    best = float("inf")
    for _ in range(3):
        t0 = time.process_time()
        sum(range(10**7))
        best = min(best, time.process_time() - t0)
    return best


def speed_row(seconds: list[float]) -> dict:
    median = sorted(seconds)[len(seconds) // 2]
    return {"figure": f"machine speed: CPU time of sum(range(10**7)), median of {len(seconds)} "
                      f"checks (range {min(seconds):.3f}–{max(seconds):.3f} s)",
            "value": round(median, 3), "unit": "s", "raw": None, "ratio": None,
            "target": "(reported)", "holds": None}


def fmt(x, unit: str = "") -> str:
    if x is None:
        return "—"
    if isinstance(x, float) and abs(x) >= 100:
        s = f"{x:,.0f}"
    elif isinstance(x, float):
        s = f"{x:.2f}"
    else:
        s = f"{x:,}"
    return f"{s} {unit}".strip()


def table(rows: list[dict], markdown: bool = False) -> str:
    head = ["figure", "value", "raw limit", "ratio", "target", "holds"]
    body = [[r["figure"], fmt(r["value"], r["unit"]), fmt(r["raw"], r["unit"]),
             "—" if r["ratio"] is None else f"{r['ratio']:.2f}x", r["target"] or "—",
             {True: "yes", False: "NO", None: "—"}[r["holds"]]] for r in rows]
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(c.replace("|", "/") for c in row) + " |" for row in body]
        return "\n".join(lines)
    widths = [max(len(str(c)) for c in col) for col in zip(head, *body)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([line(head), line(["-" * w for w in widths])] + [line(b) for b in body])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes, a few minutes")
    p.add_argument("--only", default="", help="comma-separated subset of: " + ", ".join(BENCHES))
    p.add_argument("--json", default=None, help="also write all rows as JSON here")
    p.add_argument("--markdown", action="store_true", help="print the table as Markdown too")
    args = p.parse_args(argv)
    only = [x for x in args.only.split(",") if x] or list(BENCHES)
    unknown = set(only) - set(BENCHES)
    if unknown:
        p.error(f"unknown bench(es): {', '.join(sorted(unknown))}")
    outdir = BENCH / "out"
    outdir.mkdir(exist_ok=True)
    # the benches' temp files (kiosk databases, Kivy home) go with this dir when the run ends
    run_tmp = Path(tempfile.mkdtemp(prefix="bench-run-"))
    (run_tmp / "tmp").mkdir()
    env = dict(os.environ, KIVY_NO_ARGS="1", SDL_VIDEODRIVER="offscreen",
               KIVY_HOME=str(run_tmp / "kivy-home"), TMPDIR=str(run_tmp / "tmp"),
               PYTHONUNBUFFERED="1")
    pg_dir = None
    if not env.get("AGGREGATOR_TEST_PG_URL"):
        url, pg_dir = start_pg()
        if url:
            env["AGGREGATOR_TEST_PG_URL"] = url
            print(f"run_all: throwaway PostgreSQL at {url} (data {pg_dir})", file=sys.stderr)
        else:
            print("run_all: no PostgreSQL; its figures are skipped", file=sys.stderr)
    load = os.getloadavg()
    started = time.time()
    print(f"run_all ({'quick' if args.quick else 'full'}): {os.cpu_count()} cores, load "
          f"average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; logs in bench/out/", flush=True)
    rows: list[dict] = []
    speeds: list[float] = []
    try:
        for name in only:
            full, quick, t_full, t_quick = BENCHES[name]
            speeds.append(reference_seconds())
            print(f"  bench_{name} (reference loop {speeds[-1]:.3f} s) …", end=" ", flush=True)
            got, status = run_one(name, quick if args.quick else full,
                                  t_quick if args.quick else t_full, env, outdir)
            print(status, flush=True)
            rows += got
    finally:
        if pg_dir:
            stop_pg(pg_dir)
        shutil.rmtree(run_tmp, ignore_errors=True)
    speeds.append(reference_seconds())
    rows.append(speed_row(speeds))
    load = os.getloadavg()
    print(f"\ndone in {(time.time() - started) / 60:.1f} min; load average now {load[0]:.2f} "
          f"{load[1]:.2f} {load[2]:.2f}; reference loop at the end {speeds[-1]:.3f} s\n")
    print(table(rows))
    if args.markdown:
        print("\n" + table(rows, markdown=True))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, ensure_ascii=False, indent=1) + "\n")
    missed = [r["figure"] for r in rows if r["holds"] is False]
    print(f"\n{len(rows)} figures; targets held: "
          f"{sum(1 for r in rows if r['holds'])}, missed: {len(missed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
