"""The fleet simulator: N virtual kiosks rating and syncing against a real server.

Each virtual kiosk is the real thing minus the window: its own ``RatingStore`` database and
device credential, a ``RatingFlow`` with a roster signing in and citizens rating (with
follow-ups after bad ratings), and a ``SyncClient`` uploading its outbox. Enrolment needs one
code per device: give ``enroll_codes``, or an ``admin_token`` and the simulator makes a
simulated unit, windows and staff member and issues codes through the admin API.

>>> result = simulate("http://127.0.0.1:8700", devices=3, ratings=50, admin_token="…")  # doctest: +SKIP
>>> result["totals"]["pending"]                                                        # doctest: +SKIP
0
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

from .backoff import Backoff
from .credentials import Credentials
from .errors import NotAuthorised, SyncError

SIM_UNIT = "SIM-U"
SIM_STAFF_BADGE = "90000001"
# Share of each level: mostly good, some bad (so follow-ups and cases happen).
LEVEL_WEIGHTS = (("very_satisfied", 60), ("satisfied", 22), ("basic_satisfied", 8),
                 ("dissatisfied", 6), ("very_dissatisfied", 4))


def prepare_fleet(server: str, admin_token: str, devices: int, *, prefix: str = "SIM",
                  timeout: float = 15) -> list[str]:
    """Create (or replace) a simulated unit with one window per device; one code each."""
    from .client import AdminClient

    admin = AdminClient(server, admin_token, timeout=timeout)
    unit = f"{prefix}-U"
    admin.save("units", [{"id": unit, "name": "模拟便民服务中心"}])
    windows = [f"{prefix}-W-{i:04d}" for i in range(1, devices + 1)]
    for k in range(0, len(windows), 1000):
        admin.save("windows", [{"id": w, "name": f"模拟窗口 {w[-4:]}", "unit_id": unit}
                               for w in windows[k:k + 1000]])
    admin.save("staff", [{"id": f"{prefix}-S-1", "name": "模拟员工", "staff_no": "9001",
                          "unit_id": unit, "badge": SIM_STAFF_BADGE, "post": "综合受理",
                          "pledge": "热情服务，一次办好"}])
    return [admin.enroll_code(w)["code"] for w in windows]


class _FakeMonotonic:
    """The flow's clock: every rating is a minute after the last, so none is flagged."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _roster(config: dict[str, Any] | None) -> list[dict[str, Any]]:
    roster = [dict(s) for s in (config or {}).get("roster") or [] if isinstance(s, dict)]
    if not roster:
        roster = [{"staff_id": "SIM-S-LOCAL", "name": "模拟员工"}]
    if not any(s.get("badge") for s in roster):
        roster[0]["badge"] = SIM_STAFF_BADGE  # local sign-in only; the staff id stays the server's
    return roster


def run_device(index: int, server: str, code: str | None, ratings: int, workdir: Path, *,
               rate: float | None = None, seed: int = 0, upload_every: int = 100,
               timeout: float = 15, deadline_s: float = 600,
               sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """One virtual kiosk from enrolment to an empty outbox; returns its counts."""
    from kiosk.flow import FlowSettings, RatingFlow
    from kiosk.store import RatingStore

    from .client import SyncClient

    home = workdir / f"kiosk-{index:04d}"
    store = RatingStore(home / "kiosk.db")
    try:
        creds = Credentials.load(home) if Credentials.exists(home) else None
        client = SyncClient(server, store, creds, timeout=timeout)
        if creds is None:
            if code is None:
                raise SyncError(f"device {index}: no enrolment code")
            client.enroll(code)
        creds = client.credentials
        client.pull_config()
        config, _ = store.device_config()
        trigger = (config or {}).get("trigger") or {}
        settings = FlowSettings(window_id=creds.window_id, unit_id=creds.unit_id or "",
                                scale=(config or {}).get("scale", 5),
                                lockout_seconds=trigger.get("lockout_seconds", 10))
        clock = _FakeMonotonic()
        flow = RatingFlow(store, settings, _roster(config), clock=clock)
        badge = next(s["badge"] for s in flow.roster if s.get("badge"))
        flow.sign_in_badge(badge)
        rng = random.Random(seed * 100003 + index)
        levels = [lv for lv, _ in LEVEL_WEIGHTS if lv in flow.levels()]
        weights = [w for lv, w in LEVEL_WEIGHTS if lv in flow.levels()]
        backoff = Backoff(base=0.2, cap=5.0)
        errors = 0
        last_upload = time.monotonic()

        def sync_now(final: bool) -> None:
            nonlocal errors
            stop_at = time.monotonic() + deadline_s
            while True:
                try:
                    client.drain()
                    backoff.success()
                    return
                except NotAuthorised:
                    raise
                except SyncError as exc:
                    errors += 1
                    if not final or time.monotonic() > stop_at:
                        if final:
                            raise
                        return
                    sleep(backoff.failure(exc.retry_after))

        started = time.monotonic()
        for n in range(ratings):
            flow.start_rating()
            level = rng.choices(levels, weights)[0]
            state = flow.rate(level)
            if state == "follow_up":
                reasons = flow.reasons_for(level)
                for reason in rng.sample(reasons, k=min(len(reasons), rng.randint(1, 2))):
                    flow.toggle_reason(reason)
                flow.submit_follow_up()
            clock.now += 61  # past lockout and burst windows: a clean, counted rating
            flow.tick()
            if rate:
                sleep(max(0.0, started + (n + 1) / rate - time.monotonic()))
            if (n + 1) % upload_every == 0 or (rate and time.monotonic() - last_upload >= 1.0):
                sync_now(final=False)
                last_upload = time.monotonic()
        flow.sign_out()
        sync_now(final=True)
        diag = store.diagnostics()
        return {"device_id": store.device_id, "window_id": creds.window_id,
                "ratings": ratings, "events": diag["events"],
                "acked": diag["events"] - diag["pending"] - diag["quarantined"],
                "pending": diag["pending"], "quarantined": diag["quarantined"],
                "errors": errors}
    finally:
        store.close()


def simulate(server: str, devices: int, ratings: int, rate: float | None = None, *,
             workdir: str | Path | None = None, enroll_codes: list[str] | None = None,
             admin_token: str | None = None, seed: int = 0, threads: int = 32,
             timeout: float = 15, out=print) -> dict[str, Any]:
    """Run ``devices`` virtual kiosks recording ``ratings`` each; returns and prints counts."""
    if devices < 1 or ratings < 0:
        raise ValueError(f"devices must be ≥ 1 and ratings ≥ 0, got {devices} and {ratings}")
    workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="kiosk-sim-"))
    workdir.mkdir(parents=True, exist_ok=True)
    enrolled = [Credentials.exists(workdir / f"kiosk-{i:04d}") for i in range(devices)]
    codes: list[str | None] = list(enroll_codes or [])
    missing = sum(1 for e in enrolled if not e)
    if missing and len(codes) < devices:
        if not admin_token:
            raise SyncError(f"{devices} devices need {devices} enrolment codes, got "
                            f"{len(codes)}: give --admin-token (or AGGREGATOR_ADMIN_TOKEN)")
        codes = prepare_fleet(server, admin_token, devices, timeout=timeout)
    codes += [None] * (devices - len(codes))
    out(f"simulating {devices} kiosks × {ratings} ratings against {server} (workdir {workdir})")
    started = time.monotonic()
    lock = threading.Lock()
    failures: list[str] = []

    def one(i: int) -> dict[str, Any] | None:
        try:
            return run_device(i, server, codes[i], ratings, workdir, rate=rate, seed=seed,
                              timeout=timeout)
        except Exception as exc:  # reported, counted; the other kiosks go on
            with lock:
                failures.append(f"kiosk {i}: {type(exc).__name__}: {exc}")
            return None

    with ThreadPoolExecutor(max_workers=max(1, min(threads, devices))) as pool:
        per_device = list(pool.map(one, range(devices)))
    seconds = time.monotonic() - started
    done = [d for d in per_device if d]
    totals = {k: sum(d[k] for d in done) for k in ("ratings", "events", "acked", "pending",
                                                  "quarantined", "errors")}
    totals["devices_ok"] = len(done)
    totals["devices_failed"] = len(failures)
    result = {"devices": per_device, "totals": totals, "failures": failures,
              "seconds": round(seconds, 3),
              "ratings_per_s": round(totals["ratings"] / seconds, 1) if seconds else None,
              "events_per_s": round(totals["events"] / seconds, 1) if seconds else None,
              "workdir": str(workdir)}
    out(f"sent {totals['events']} events ({totals['ratings']} ratings) from {len(done)} kiosks: "
        f"acked {totals['acked']}, pending {totals['pending']}, quarantined "
        f"{totals['quarantined']}, retried errors {totals['errors']}")
    out(f"{seconds:.2f} s: {result['ratings_per_s']} ratings/s, {result['events_per_s']} events/s")
    for line in failures:
        out(f"FAILED {line}")
    return result


def is_loopback(url: str) -> bool:
    """True when every address the host of ``url`` resolves to is this machine's loopback.

    >>> is_loopback("http://127.0.0.1:8700"), is_loopback("http://192.0.2.7:8700")
    (True, False)
    """
    import ipaddress
    import socket
    from urllib.parse import urlsplit

    try:
        host = urlsplit(url).hostname
        found = socket.getaddrinfo(host, None) if host else []
    except (OSError, ValueError, UnicodeError):
        return False
    return bool(found) and all(ipaddress.ip_address(a[4][0].split("%")[0]).is_loopback
                               for a in found)


def main(argv: list[str] | None = None) -> int:
    """``kiosk simulate``: exit 0 when every event of every kiosk was acknowledged."""
    p = argparse.ArgumentParser(prog="kiosk simulate",
                                description="Run N virtual kiosks against an aggregation server.")
    p.add_argument("--server", required=True, help="aggregation server URL")
    p.add_argument("--devices", type=int, default=10)
    p.add_argument("--ratings", type=int, default=100, help="ratings per device")
    p.add_argument("--rate", type=float, default=None, help="ratings per second per device")
    p.add_argument("--workdir", default=None, help="where the virtual kiosks keep their data")
    p.add_argument("--admin-token", default=None,
                   help="admin token to issue enrolment codes (default: $AGGREGATOR_ADMIN_TOKEN)")
    p.add_argument("--codes", default=None, help="file with one enrolment code per line")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--allow-remote-server", action="store_true",
                   help="run against a server not on this machine (a load test of a server "
                        "that holds no real data): its rankings then hold the simulated unit")
    args = p.parse_args(argv)
    if args.devices < 1 or args.ratings < 0:
        p.error("--devices must be at least 1 and --ratings at least 0")
    if not args.allow_remote_server and not is_loopback(args.server):
        # It made its unit SIM-U, windows and thousands of made-up ratings on a live server,
        # where they stood in the rankings and bulletins beside the real halls.
        print(f"kiosk simulate: {args.server} is not on this machine: the simulated unit "
              f"{SIM_UNIT}, its windows and made-up ratings would go into that server's rankings "
              "and bulletins. Simulate against a test server on 127.0.0.1, or pass "
              "--allow-remote-server for a server that holds no real data", file=sys.stderr)
        return 2
    codes = None
    if args.codes:
        codes = [line.strip() for line in Path(args.codes).read_text().splitlines() if line.strip()]
    token = args.admin_token or os.environ.get("AGGREGATOR_ADMIN_TOKEN")
    try:
        result = simulate(args.server, args.devices, args.ratings, args.rate,
                          workdir=args.workdir, enroll_codes=codes, admin_token=token,
                          seed=args.seed)
    except SyncError as exc:
        print(f"kiosk simulate: {exc}", file=sys.stderr)
        return 1
    t = result["totals"]
    return 0 if t["devices_failed"] == 0 and t["pending"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
