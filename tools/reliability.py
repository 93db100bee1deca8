"""Proof by injected faults that the system keeps its promises: runs every reliability
scenario and prints a table (faults or inputs tried, events recorded, on the server, duplicates,
losses, 5xx answers, result).

    .venv/bin/python tools/reliability.py            # short sizes (what CI runs, a few minutes)
    .venv/bin/python tools/reliability.py --long     # the issue's sizes (make reliability)
    .venv/bin/python tools/reliability.py --only kiosk_crash,network --long
    .venv/bin/python tools/reliability.py --markdown out.md   # also write the table as Markdown

PostgreSQL rows need ``AGGREGATOR_TEST_PG_URL`` (``export AGGREGATOR_TEST_PG_URL=$(bash
tests/aggregator/start_pg.sh)``); without it they are skipped with that reason. The disk-full
scenario mounts a 2 MiB tmpfs and needs root. The scenarios live in ``tests/reliability/``
(one module each, a ``run(size)`` function); ``tests/reliability/test_reliability.py`` runs
the short sizes under pytest. Exit status 0 when every row passed or was skipped.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# scenario name → (module in tests/reliability, short size, long size, what the size counts)
SCENARIOS = {
    "kiosk_crash": ("kiosk_crash", 30, 500, "SIGKILL cycles"),
    "server_crash": ("server_crash", 10, 100, "server kills per backend"),
    "network": ("network", 500, 10_000, "injected network faults"),
    "clocks": ("clocks", 200, 2_000, "ratings per wrong clock"),
    "disk_full": ("disk_full", 3, 20, "fill-up rounds"),
    "corrupt_db": ("corrupt_db", 300, 5_000, "events in the corrupted database"),
    "bad_input": ("bad_input", 20, 200, "hypothesis/schemathesis examples"),
    "attacks": ("attacks", 50, 200, "brute-force guesses"),
    "manipulation": ("manipulation", 60, 600, "stuffed presses per kind"),
    "soak": ("soak", 60, 3_600, "seconds of taps and syncs"),
}
COLUMNS = ("scenario", "tried", "recorded", "on_server", "duplicates", "losses", "http_5xx",
           "result")


def run_scenario(name: str, size: int, workdir: Path) -> list[dict]:
    """Run one scenario at ``size``; its rows as dicts (a crash is a FAIL row, not a stop)."""
    import importlib

    from tests.reliability.harness import Row

    module = importlib.import_module(f"tests.reliability.{SCENARIOS[name][0]}")
    kwargs = {"workdir": workdir / name}
    if name == "server_crash":
        kwargs["pg_url"] = os.environ.get("AGGREGATOR_TEST_PG_URL") or None
    started = time.monotonic()
    try:
        rows = module.run(size, **kwargs)
    except Exception as exc:  # report and go on with the other scenarios
        import traceback

        row = Row(name)
        row.problems.append(f"crashed: {type(exc).__name__}: {exc}")
        row.problems.append(traceback.format_exc()[-1500:])
        rows = row
    rows = rows if isinstance(rows, list) else [rows]
    out = []
    for r in rows:
        d = r.as_dict()
        d["size"] = size
        d["seconds"] = round(time.monotonic() - started, 1)
        out.append(d)
    return out


def table(rows: list[dict]) -> str:
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in COLUMNS}
    line = "  ".join(c.ljust(widths[c]) if c == "scenario" else c.rjust(widths[c])
                     for c in COLUMNS)
    out = [line, "-" * len(line)]
    for r in rows:
        out.append("  ".join(str(r[c]).ljust(widths[c]) if c == "scenario"
                             else str(r[c]).rjust(widths[c]) for c in COLUMNS))
    return "\n".join(out)


def markdown(rows: list[dict], command: str) -> str:
    head = "| " + " | ".join(COLUMNS) + " | notes |\n|" + "---|" * (len(COLUMNS) + 1) + "\n"
    body = "".join("| " + " | ".join(str(r[c]) for c in COLUMNS) + " | "
                   + (r["note"] or "").replace("|", "/") + " |\n" for r in rows)
    stamp = datetime.now(timezone.utc).astimezone().strftime("%Y-%m-%d %H:%M %z")
    return f"`{command}` ({stamp})\n\n{head}{body}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--long", action="store_true", help="the issue's sizes (make reliability)")
    p.add_argument("--only", default="", help="comma-separated scenarios: " + ", ".join(SCENARIOS))
    p.add_argument("--size", action="append", default=[], metavar="NAME=N",
                   help="override one scenario's size, e.g. --size soak=600")
    p.add_argument("--markdown", help="also write the table as Markdown to this file")
    p.add_argument("--json", help="also write every row (with problems) as JSON to this file")
    p.add_argument("--workdir", help="keep the scenarios' files here (default: a temp dir)")
    args = p.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        p.error(f"unknown scenario(s) {unknown}; choose from {', '.join(SCENARIOS)}")
    sizes = {n: SCENARIOS[n][2 if args.long else 1] for n in names}
    for item in args.size:
        name, _, value = item.partition("=")
        if name not in SCENARIOS or not value.isdigit() or int(value) < 1:
            p.error(f"--size wants NAME=N with a known name and N ≥ 1, got {item!r}")
        sizes[name] = int(value)
    logging.disable(logging.CRITICAL)  # the servers' own logs would drown the table
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="reliability-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"reliability: {'long' if args.long else 'short'} run of {', '.join(names)} "
          f"(files in {workdir})", flush=True)
    rows: list[dict] = []
    for name in names:
        print(f"  {name}: {sizes[name]} {SCENARIOS[name][3]} …", flush=True)
        new = run_scenario(name, sizes[name], workdir)
        for r in new:
            print(f"    {r['scenario']}: {r['result']} in {r['seconds']} s — {r['note']}",
                  flush=True)
            for problem in r["problems"][:8]:
                print(f"      ! {problem[:400]}", flush=True)
        rows += new
    print()
    print(table(rows))
    command = "tools/reliability.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    if args.markdown:
        Path(args.markdown).write_text(markdown(rows, command.strip()), encoding="utf-8")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, ensure_ascii=False, indent=2),
                                   encoding="utf-8")
    return 0 if all(r["result"] in ("PASS", "SKIP") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
