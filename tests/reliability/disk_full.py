"""A full disk on the kiosk, then on the server, each a real tmpfs filled by a file (skipped
where this machine cannot mount one).

The kiosk (``run_kiosk``, its database on 2 MiB): the flow shows "try again", never thanks;
what was recorded before is intact; recording resumes when space returns; everything reaches
the server once. The server (``run_server``, its SQLite database on 64 MiB): each refused
upload gets 503 ``storage_full`` with ``Retry-After``; once space returns, everything is
stored once.

(tests/kiosk/test_store.py covers SQLITE_FULL with ``PRAGMA max_page_count``; this is a real
filesystem running out of blocks.)
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import requests

from tests.qr_form import qr_post
from tests.reliability.harness import LiveServer, Row, check_kiosk_side, check_server_side, count_5xx, tally


def _mount_tmpfs(target: Path, size: str = "2m") -> str | None:
    """Mount a tmpfs of ``size`` on ``target``; None when it worked, else why not."""
    target.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return "not root: cannot mount a small filesystem"
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(target)],
                       capture_output=True, text=True)
    return None if r.returncode == 0 else f"mount failed: {r.stderr.strip()}"


def _fill(path: Path) -> Path:
    """Fill the filesystem of ``path`` until writing fails; the filler is removed later."""
    filler = path / "filler.bin"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)
    return filler


def run(rounds: int = 3, workdir: Path | None = None) -> list[Row]:
    """Both scenarios, ``rounds`` fill-ups each (tools/reliability.py)."""
    workdir = Path(workdir or tempfile.mkdtemp(prefix="rel-disk-full-"))
    return [run_kiosk(rounds, workdir / "kiosk"), run_server(rounds, workdir / "server")]


def run_kiosk(rounds: int = 3, workdir: Path | None = None) -> Row:
    from kiosk import constants as C
    from kiosk.flow import FlowSettings, RatingFlow
    from kiosk.store import RatingStore
    from sync.client import SyncClient

    row = Row("disk full (kiosk)")
    workdir = Path(workdir or tempfile.mkdtemp(prefix="rel-disk-full-"))
    mnt = workdir / "small-fs"
    why_not = _mount_tmpfs(mnt)
    if why_not:
        row.skipped = why_not + " (tests/kiosk/test_store.py covers SQLITE_FULL by page limit)"
        return row
    try:
        with LiveServer(workdir / "aggregator.db") as srv:
            enrolled = srv.kiosk(mnt / "kiosk")
            home = enrolled.home
            enrolled.store.close()
            srv.kiosks.remove(enrolled)
            store = RatingStore(home / "kiosk.db")
            client = SyncClient(srv.url, store, enrolled.client.credentials, timeout=10)
            clock_now = [1000.0]
            flow = RatingFlow(store, FlowSettings(window_id=enrolled.window_id,
                                                  unit_id=enrolled.client.credentials.unit_id),
                              [{"staff_id": "S-REL-1", "name": "王芳", "badge": "1"}],
                              clock=lambda: clock_now[0])
            flow.sign_in_badge("1")
            promised: list[str] = []
            refused = 0
            for r in range(rounds):
                for _ in range(20):
                    flow.start_rating()
                    state = flow.rate("satisfied")
                    row.check(state == C.ST_THANKS, f"round {r}: a rating with space was refused")
                    clock_now[0] += 61
                    flow.tick()
                promised = [e["id"] for e in store.iter_events()]
                filler = _fill(mnt)
                full_tries = 0
                for _ in range(200):  # tap until the disk really refuses (WAL pages run out)
                    flow.start_rating()
                    before = store.chain_head()[0]
                    state = flow.rate("very_satisfied")
                    row.tried += 1
                    clock_now[0] += 61
                    if state == C.ST_RETRY:
                        full_tries += 1
                        row.check(store.chain_head()[0] == before,
                                  "a refused rating left an event behind")
                        row.check("disk full" in (flow.last_error or ""),
                                  f"unclear error: {flow.last_error!r}")
                        if full_tries >= 5:
                            break
                    else:
                        row.check(state == C.ST_THANKS, f"unexpected state {state}")
                        promised.append(next(iter(reversed(list(store.iter_events()))))["id"])
                    flow.tick()
                    flow.tick()
                refused += full_tries
                row.check(full_tries > 0, f"round {r}: the full disk never refused a rating")
                stored = [e["id"] for e in store.iter_events()]
                row.check(stored[:len(promised)] == promised,
                          f"round {r}: what was recorded before the disk filled changed")
                check_kiosk_side(row, store)
                filler.unlink()  # space returns
                clock_now[0] += 61
                flow.tick()
                flow.start_rating()
                row.check(flow.rate("satisfied") == C.ST_THANKS,
                          f"round {r}: recording did not resume when space returned")
                clock_now[0] += 61
                flow.tick()
                client.drain()
            flow.sign_out()
            client.drain()
            all_ids = [e["id"] for e in store.iter_events()]
            server_ids = [e["id"] for e in srv.events(store.device_id)]
            tally(row, all_ids, server_ids)
            row.check(server_ids == all_ids, "server ≠ kiosk events")
            row.check(store.pending_count() == 0, "events pending")
            check_server_side(row, srv.engine, [store.device_id])
            store.close()
            count_5xx(row, srv.counter)
            row.note = f"2 MiB tmpfs; {refused} ratings refused with 'try again', none thanked"
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
    return row


def run_server(rounds: int = 2, workdir: Path | None = None) -> Row:
    """A full disk on the aggregator: its SQLite database on a real tmpfs, filled while kiosks
    upload. Each refused batch gets 503 ``storage_full`` with ``Retry-After`` (not a 500, which
    says "a bug" and gave no hint); the kiosk keeps the batch; once space returns, every event
    is stored exactly once."""
    from sync.errors import SyncError

    row = Row("disk full (aggregator)")
    workdir = Path(workdir or tempfile.mkdtemp(prefix="rel-disk-full-server-"))
    mnt = workdir / "server-fs"
    why_not = _mount_tmpfs(mnt, "64m")   # each round keeps ~1.3 MB more: room for 40
    if why_not:
        row.skipped = why_not
        return row
    refused = 0
    try:
        with LiveServer(mnt / "aggregator.db", qr_rate_limit_seconds=0) as srv:
            k = srv.kiosk(workdir / "kiosk")
            form = {"level": "dissatisfied", "comment": "排队太久了"}
            for r in range(rounds):
                k.rate(30)
                k.client.drain()
                filler = _fill(mnt)
                errors: list[SyncError] = []
                for _ in range(200):   # until the server's disk really refuses (WAL pages run out)
                    k.rate(50)
                    row.tried += 1
                    try:
                        k.client.drain()
                    except SyncError as exc:
                        errors.append(exc)
                        if len(errors) >= 3:
                            break
                refused += len(errors)
                row.check(bool(errors), f"round {r}: the full disk never refused a batch")
                for exc in errors:
                    row.check("storage_full" in str(exc) and "disk" in str(exc),
                              f"round {r}: unclear error for a full disk: {exc}")
                    row.check(getattr(exc, "retry_after", None) is not None,
                              f"round {r}: no Retry-After with the refusal: {exc}")
                check_kiosk_side(row, k.store)
                # The health check tells an uptime checker (it said "ok" while every upload
                # was refused, since a full disk leaves SQLite readable).
                health = requests.get(srv.url + "/healthz", timeout=10)
                row.check(health.status_code == 503
                          and health.json()["status"] == "storage_full",
                          f"round {r}: /healthz on a full disk answered {health.status_code} "
                          f"{health.text[:80]}")
                # a citizen on the phone page meanwhile gets the form back, comment kept
                pages = [qr_post(srv.url, k.window_id, form) for _ in range(3)]
                row.check(any(p.status_code == 503 and "排队太久了" in p.text
                              and "系统暂时无法保存" in p.text for p in pages),
                          f"round {r}: the phone page on a full disk answered "
                          f"{[p.status_code for p in pages]}")
                filler.unlink()   # space returns
                health = requests.get(srv.url + "/healthz", timeout=10)
                row.check(health.status_code == 200 and health.json()["status"] == "ok",
                          f"round {r}: /healthz once space returned answered "
                          f"{health.status_code}")
                k.client.drain()
                sent = qr_post(srv.url, k.window_id, form)
                row.check(sent.status_code == 200 and "感谢" in sent.text,
                          f"round {r}: the phone page did not take the rating once space "
                          f"returned ({sent.status_code})")
                row.check(k.store.pending_count() == 0, f"round {r}: events still pending")
            all_ids = k.ids()
            server_ids = [e["id"] for e in srv.events(k.device_id)]
            tally(row, all_ids, server_ids)
            row.check(server_ids == all_ids, "server ≠ kiosk events")
            check_server_side(row, srv.engine, [k.device_id])
            statuses = dict(srv.counter.statuses)
            row.check(statuses.get(503, 0) >= refused,
                      f"{refused} refused uploads but {statuses.get(503, 0)} answers 503")
            # 503 is this scenario's expected answer; any other 5xx counts against it
            row.http_5xx += sum(n for s, n in statuses.items() if s >= 500 and s != 503)
            row.problems.extend([w for w in srv.counter.five_xx if "→ 503" not in w][:5])
            row.note = (f"64 MiB tmpfs under the server's database; {refused} uploads refused "
                        f"with 503 storage_full, then all stored once")
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
    return row
