"""Shared pieces of the reliability scenarios (tools/reliability.py, tests/reliability/).

A scenario is a function ``run(size) -> Row`` that injects faults into the real parts (real
kiosk store and flow, real sync client, real aggregator on loopback, real processes killed with
SIGKILL) and counts what it tried, what the kiosk recorded, what the server holds, duplicates,
losses and 5xx answers. Nothing here is a mock.

>>> with LiveServer(tmp / "a.db") as srv:                                   # doctest: +SKIP
...     kiosk = srv.kiosk(tmp / "k1")
...     kiosk.client.drain(); row = tally("x", 0, kiosk.promised(), srv.events(kiosk.device_id))
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable

REPO = Path(__file__).resolve().parent.parent.parent
PYTHON = sys.executable
ADMIN_TOKEN = "reliability-admin-token"
SECRET = "reliability-secret"
UNIT = "U-REL"
WINDOWS = tuple(f"W-REL-{i}" for i in range(1, 9))
STAFF_BADGE = "90000001"   # not a demo badge: the attack run loads the demo beside it


# ------------------------------------------------------------------------------ the row
@dataclass
class Row:
    """One line of the reliability table."""

    scenario: str
    tried: int = 0          # faults injected or inputs tried
    recorded: int = 0       # events whose record call returned (or inputs that must be kept)
    on_server: int = 0      # of those, how many the server holds
    duplicates: int = 0
    losses: int = 0
    http_5xx: int = 0
    problems: list[str] = field(default_factory=list)
    note: str = ""
    skipped: str = ""

    @property
    def result(self) -> str:
        if self.skipped:
            return "SKIP"
        ok = not (self.duplicates or self.losses or self.http_5xx or self.problems)
        return "PASS" if ok else "FAIL"

    def check(self, condition: bool, problem: str) -> bool:
        """Record ``problem`` unless ``condition`` holds; returns the condition."""
        if not condition:
            self.problems.append(problem)
        return condition

    def as_dict(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "tried": self.tried, "recorded": self.recorded,
                "on_server": self.on_server, "duplicates": self.duplicates,
                "losses": self.losses, "http_5xx": self.http_5xx, "result": self.result,
                "note": self.skipped or self.note, "problems": list(self.problems)}


def tally(row: Row, promised: Iterable[str], server_ids: Iterable[str]) -> Row:
    """Add to ``row`` the events promised by the kiosk vs the ids the server holds."""
    promised = list(promised)
    server_ids = list(server_ids)
    have = set(server_ids)
    row.recorded += len(promised)
    row.on_server += sum(1 for i in set(promised) if i in have)
    row.duplicates += len(server_ids) - len(have)
    row.losses += sum(1 for i in set(promised) if i not in have)
    return row


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------- counting 5xx answers
class StatusCounter:
    """ASGI wrapper counting every answer by status, so a scenario can report its 5xx.

    A 5xx "answered" to a client that had already hung up (``http.disconnect`` seen before the
    answer started) reached nobody; it is counted apart in ``orphan_5xx`` (and reported), not
    as an answer a kiosk got."""

    def __init__(self, app) -> None:
        self.app = app
        self.statuses: Counter[int] = Counter()
        self.five_xx: list[str] = []
        self.orphan_5xx: list[str] = []
        self._lock = threading.Lock()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        gone = [False]
        started = [False]

        async def watching_receive():
            message = await receive()
            if message["type"] == "http.disconnect":
                gone[0] = True
            return message

        def note(status: int, what: str) -> None:
            with self._lock:
                where = f"{scope['method']} {scope['path']} → {what}"
                if status >= 500 and gone[0]:
                    self.orphan_5xx.append(where)
                    return
                self.statuses[status] += 1
                if status >= 500:
                    self.five_xx.append(where)

        async def counting_send(message):
            if message["type"] == "http.response.start":
                started[0] = True
                note(message["status"], str(message["status"]))
            await send(message)

        try:
            return await self.app(scope, watching_receive, counting_send)
        except Exception as exc:  # unhandled: uvicorn answers 500 if nothing was sent yet
            if not started[0]:
                note(500, f"exception {type(exc).__name__}")
            raise

    @property
    def count_5xx(self) -> int:
        return sum(n for s, n in self.statuses.items() if s >= 500)


def count_5xx(row: Row, counter: StatusCounter) -> None:
    """Add the counter's 5xx answers to ``row``; 5xx for vanished clients go into the note."""
    row.http_5xx += counter.count_5xx
    row.problems.extend(counter.five_xx[:5])
    if counter.orphan_5xx:
        row.note = (row.note + "; " if row.note else "") + (
            f"{len(counter.orphan_5xx)} server errors logged for clients that hung up mid-request "
            "(known bug, xfail test_client_hanging_up_mid_body_is_not_a_server_error)")


# ---------------------------------------------------------------- a server on loopback
class DeviceClock:
    """A device wall clock a scenario can set off or jump: real time plus ``offset``."""

    def __init__(self, offset: timedelta = timedelta(0)) -> None:
        self.offset = offset

    def __call__(self) -> datetime:
        return datetime.now(timezone.utc).astimezone() + self.offset


@dataclass
class Kiosk:
    """A real kiosk minus the window: store, sync client, flow (when asked for)."""

    store: Any
    client: Any
    home: Path
    clock: DeviceClock
    window_id: str

    @property
    def device_id(self) -> str:
        return self.store.device_id

    def rate(self, n: int, level: str = "satisfied", **extra) -> list[dict]:
        stars = {"very_satisfied": 5, "satisfied": 4, "basic_satisfied": 3, "dissatisfied": 2,
                 "very_dissatisfied": 1}[level]
        payload = {"level": level, "stars": stars, "scale": 5, "channel": 4,
                   "window_id": self.window_id, "unit_id": UNIT, "staff_id": "S-REL-1",
                   "staff_name": "王芳", "service_item": None, "case_no": None,
                   "invitation_id": None, "flags": [], **extra}
        return [self.store.record("rating", dict(payload)) for _ in range(n)]

    def ids(self) -> list[str]:
        return [e["id"] for e in self.store.iter_events()]


class LiveServer:
    """The real aggregator (``create_app``) served by uvicorn on 127.0.0.1 in a thread, with
    one unit, windows ``WINDOWS`` and a staff member; every answer's status is counted."""

    def __init__(self, database: str | Path, **settings: Any) -> None:
        self.database_url = database if isinstance(database, str) and "://" in database \
            else f"sqlite:///{database}"
        self.settings_overrides = settings
        self.kiosks: list[Kiosk] = []

    def __enter__(self) -> "LiveServer":
        import uvicorn

        from aggregator import Settings, create_app
        from sync.client import AdminClient

        self.settings = Settings(admin_token=ADMIN_TOKEN, secret=SECRET,
                                 public_url="http://127.0.0.1", **self.settings_overrides)
        self.app = create_app(self.database_url, settings=self.settings)
        self.engine = self.app.state.engine
        self.counter = StatusCounter(self.app)
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(
            self.counter, host="127.0.0.1", port=self.port, log_level="critical",
            lifespan="off", access_log=False))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{self.port}"
        self.admin = AdminClient(self.url, ADMIN_TOKEN, timeout=30)
        setup_org(self.admin)
        return self

    def __exit__(self, *exc) -> None:
        for k in self.kiosks:
            k.store.close()
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.engine.dispose()

    def kiosk(self, home: Path, window_id: str = WINDOWS[0], *, url: str | None = None,
              clock: DeviceClock | None = None, timeout: float = 10) -> Kiosk:
        kiosk = make_kiosk(self.admin, url or self.url, home, window_id, clock=clock,
                           timeout=timeout)
        self.kiosks.append(kiosk)
        return kiosk

    def events(self, device_id: str) -> list[dict]:
        return server_events(self.engine, device_id)

    def alerts(self, kind: str | None = None) -> list[dict]:
        return server_alerts(self.engine, kind)


def setup_org(admin) -> None:
    admin.save("units", [{"id": UNIT, "name": "可靠性测试便民服务中心"}])
    admin.save("windows", [{"id": w, "name": f"窗口 {w}", "unit_id": UNIT} for w in WINDOWS])
    admin.save("staff", [{"id": "S-REL-1", "name": "王芳", "staff_no": "0001", "unit_id": UNIT,
                          "badge": STAFF_BADGE, "pledge": "一次告知"}])


def make_kiosk(admin, url: str, home: Path, window_id: str = WINDOWS[0], *,
               clock: DeviceClock | None = None, timeout: float = 10) -> Kiosk:
    """An enrolled kiosk: its own database under ``home`` and a sync client to ``url``."""
    from kiosk.store import RatingStore
    from sync.client import SyncClient

    clock = clock or DeviceClock()
    store = RatingStore(home / "kiosk.db", clock=clock)
    client = SyncClient(url, store, timeout=timeout, clock=clock)
    client.enroll(admin.enroll_code(window_id)["code"])
    return Kiosk(store, client, home, clock, window_id)


def server_events(engine, device_id: str | None = None) -> list[dict]:
    """The events the server holds (for one device), in (stream, seq) order."""
    from sqlalchemy import select

    from aggregator.schema import events

    q = select(events.c.id, events.c.device_id, events.c.stream_id, events.c.seq,
               events.c.type, events.c.prev_hash, events.c.hash, events.c.batch_id)
    if device_id is not None:
        q = q.where(events.c.device_id == device_id)
    with engine.connect() as conn:
        rows = conn.execute(q.order_by(events.c.stream_id, events.c.seq)).mappings().all()
    return [dict(r) for r in rows]


def server_alerts(engine, kind: str | None = None) -> list[dict]:
    from sqlalchemy import select

    from aggregator.schema import alerts

    q = select(alerts)
    if kind:
        q = q.where(alerts.c.kind == kind)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(q).mappings().all()]


def check_server_side(row: Row, engine, device_ids: Iterable[str]) -> None:
    """Server invariants for these devices: each stream gapless from 1 and hash-chained, and
    the rollups count every stored rating exactly once (a rollup counting a rating twice is a
    duplicate even when the event table is clean)."""
    from sqlalchemy import func, select

    from aggregator.schema import ratings

    device_ids = list(device_ids)
    for device_id in device_ids:
        streams: dict[str, list[dict]] = {}
        for e in server_events(engine, device_id):
            streams.setdefault(e["stream_id"], []).append(e)
        for stream, evs in streams.items():
            seqs = [e["seq"] for e in evs]
            row.check(seqs == list(range(1, len(seqs) + 1)),
                      f"{device_id}/{stream[:8]}: server sequence has gaps")
            links = zip(evs, evs[1:])
            row.check(all(b["prev_hash"] == a["hash"] for a, b in links),
                      f"{device_id}/{stream[:8]}: server chain does not link")
    with engine.connect() as conn:
        windows = [w for (w,) in conn.execute(
            select(ratings.c.window_id).where(ratings.c.device_id.in_(device_ids)).distinct())]
        for window in windows:
            n_ratings = conn.execute(select(func.count()).select_from(ratings).where(
                ratings.c.window_id == window)).scalar_one()
            n_rollup = conn.execute(text_rollup_sum(), {"w": window}).scalar_one() or 0
            if n_rollup > n_ratings:
                row.duplicates += n_rollup - n_ratings
                row.problems.append(f"{window}: rollups count {n_rollup} ratings, "
                                    f"table holds {n_ratings}")
            elif n_rollup < n_ratings:
                row.losses += n_ratings - n_rollup
                row.problems.append(f"{window}: rollups count {n_rollup} ratings, "
                                    f"table holds {n_ratings}")


def text_rollup_sum():
    from sqlalchemy import text

    return text("SELECT SUM(count) FROM rollup_daily WHERE window_id = :w AND level <> 'not_rated'")


def check_kiosk_side(row: Row, store) -> None:
    """The kiosk's own log: gapless from 1 and hash-chained."""
    ok, count, bad = store.verify_chain()
    row.check(ok, f"kiosk {store.device_id[:8]}: chain breaks at seq {bad}")


# ------------------------------------------------------------- a server as a process
class ServerProcess:
    """``aggregator serve`` as a child process (so it can be SIGKILLed); its stderr (JSON-lines
    access log) is kept to count 5xx answers."""

    def __init__(self, database_url: str, port: int, logdir: Path) -> None:
        self.database_url, self.port, self.logdir = database_url, port, logdir
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        logdir.mkdir(parents=True, exist_ok=True)

    def start(self, timeout: float = 60) -> None:
        import requests

        env = dict(os.environ, AGGREGATOR_ADMIN_TOKEN=ADMIN_TOKEN, AGGREGATOR_SECRET=SECRET,
                   PYTHONPATH=str(REPO))
        self.starts += 1
        log = open(self.logdir / f"server-{self.starts:04d}.log", "wb")
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "aggregator", "serve", "--database", self.database_url,
             "--port", str(self.port)], stdout=log, stderr=log, env=env, cwd=REPO)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"aggregator exited with {self.proc.returncode}: "
                                   + self.log_text(self.starts)[-2000:])
            try:
                if requests.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise RuntimeError("aggregator did not answer /healthz in time")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_text(self, n: int) -> str:
        p = self.logdir / f"server-{n:04d}.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def count_5xx(self) -> tuple[int, list[str]]:
        """5xx answers in every run's access log."""
        n, where = 0, []
        for p in sorted(self.logdir.glob("server-*.log")):
            for line in p.read_text(errors="replace").splitlines():
                if not line.startswith("{"):
                    continue
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                status = rec.get("status") or (rec.get("fields") or {}).get("status")
                if isinstance(status, int) and status >= 500:
                    n += 1
                    where.append(f"{p.name}: {rec.get('path')} {status}")
        return n, where


def postgres_database(pg_url: str):
    """A context manager: a fresh PostgreSQL database on the cluster of ``pg_url``, dropped after."""
    import contextlib
    import uuid
    from urllib.parse import urlsplit, urlunsplit

    @contextlib.contextmanager
    def fresh():
        import psycopg

        name = f"rel_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            yield urlunsplit(urlsplit(pg_url)._replace(path=f"/{name}"))
        finally:
            with psycopg.connect(pg_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return fresh()


def rss_and_fds(pid: int) -> tuple[float, int]:
    """Resident memory (MB) and open file descriptors of a process, from /proc."""
    with open(f"/proc/{pid}/statm") as fh:
        rss = int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    return rss, len(os.listdir(f"/proc/{pid}/fd"))
