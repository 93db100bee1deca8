"""A full disk on the kiosk: the kiosk database on a real 2 MiB tmpfs (or, when this machine
cannot mount one, a process with RLIMIT_FSIZE). The flow shows "try again", never thanks; what
was recorded before is intact; recording resumes when space returns; everything reaches the
server once.

(tests/kiosk/test_store.py covers SQLITE_FULL with ``PRAGMA max_page_count``; this is a real
filesystem running out of blocks.)
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

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


def run(rounds: int = 3, workdir: Path | None = None) -> Row:
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
