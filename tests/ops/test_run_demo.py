"""``make run``'s script (tools/run_demo.sh) on a machine without a display: the demo district
loaded once, the aggregator serving it, the demo kiosk enrolled, and a restart that keeps what
the first start made."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

from tests.dashboard.helpers import Dashboard
from tests.ops.helpers import ROOT, free_port

NO_DISPLAY = "No display here"


def _start(work: Path, port: int, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER", "AGGREGATOR_SECRET")}
    env["AGGREGATOR_PORT"] = str(port)
    with log.open("w") as out:
        return subprocess.Popen(["bash", "tools/run_demo.sh"], cwd=work, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def _wait_ready(proc: subprocess.Popen, log: Path) -> str:
    deadline = time.monotonic() + 300
    while NO_DISPLAY not in log.read_text():
        assert proc.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.3)
    return log.read_text()


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)   # Ctrl-C reaches the script and the aggregator
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    deadline = time.monotonic() + 30   # the aggregator too: the next start needs its port
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def test_make_run_serves_the_demo_and_a_restart_keeps_data_and_sessions(tmp_path):
    # Why: `make run` is one of the README's two commands and no other test runs its script.
    # A restart must not reload the demo, re-enrol the kiosk, or sign the supervisor out (the
    # server secret that signs sessions and QR tokens was random per start until 2026-12-03).
    work = tmp_path / "checkout"
    (work / "tools").mkdir(parents=True)
    shutil.copy(ROOT / "tools" / "run_demo.sh", work / "tools")
    shutil.copy(ROOT / "config.yaml", work)
    (work / ".venv").symlink_to(Path(sys.prefix))
    port = free_port()
    base = f"http://127.0.0.1:{port}"

    first_log = tmp_path / "first.log"
    proc = _start(work, port, first_log)
    try:
        out = _wait_ready(proc, first_log)
        assert "loading the demo district" in out and "enrolling the demo kiosk" in out
        assert requests.get(f"{base}/healthz", timeout=5).json()["status"] == "ok"
        s = Dashboard(base, engine=None, users={}).login("supervisor", "demo-supervisor-2026")
        assert s.get(f"{base}/dashboard/", allow_redirects=False).status_code == 200
        assert requests.get(f"{base}/r/W-001", timeout=5).status_code == 200
    finally:
        _stop(proc)
    assert (work / "var" / "kiosk" / "enrolment.json").exists()
    assert oct((work / "var" / "aggregator-secret").stat().st_mode & 0o777) == "0o600"

    second_log = tmp_path / "second.log"
    proc = _start(work, port, second_log)
    try:
        out = _wait_ready(proc, second_log)
        assert "loading the demo district" not in out and "enrolling the demo kiosk" not in out
        assert s.get(f"{base}/dashboard/", allow_redirects=False).status_code == 200
    finally:
        _stop(proc)


def _demo_checkout(tmp_path: Path, venv: Path) -> Path:
    work = tmp_path / "checkout"
    (work / "tools").mkdir(parents=True)
    shutil.copy(ROOT / "tools" / "run_demo.sh", work / "tools")
    shutil.copy(ROOT / "config.yaml", work)
    (work / ".venv").symlink_to(venv)
    # The demo district counts as loaded: the script goes straight to starting the server.
    (work / "var").mkdir()
    (work / "var" / "aggregator.db").touch()
    (work / "var" / "enroll-code.txt").write_text("ABC-DEF-GHJ\n")
    return work


def _run_demo(work: Path, port: int) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER", "AGGREGATOR_SECRET")}
    env["AGGREGATOR_PORT"] = str(port)
    return subprocess.run(["bash", "tools/run_demo.sh"], cwd=work, env=env, capture_output=True,
                          text=True, timeout=60, start_new_session=True)


class _Healthy(BaseHTTPRequestHandler):
    def do_GET(self):   # noqa: N802 (http.server's name)
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_make_run_stops_with_one_line_when_another_server_has_the_port(tmp_path):
    # Why: another server on the port answered the script's health check, so the demo kiosk
    # was enrolled against it ("enrolment refused: unknown enrolment code") while
    # var/aggregator.log stayed empty. The script must stop and say to set AGGREGATOR_PORT.
    work = _demo_checkout(tmp_path, Path(sys.prefix))
    other = ThreadingHTTPServer(("127.0.0.1", 0), _Healthy)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        out = _run_demo(work, other.server_address[1])
    finally:
        other.shutdown()
        other.server_close()
    said = out.stdout + out.stderr
    assert out.returncode == 1, said
    assert f"port {other.server_address[1]} is in use" in out.stderr and "AGGREGATOR_PORT=" in out.stderr
    assert "enrolling" not in said and not (work / "var" / "kiosk").exists()


def test_make_run_shows_the_log_when_its_aggregator_stops_while_starting(tmp_path):
    # Why: the health-check loop must watch its own server: when `aggregator serve` exits at
    # start (it cannot listen, say), the script says so and shows the end of its log.
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    fake = venv / "bin" / "aggregator"
    fake.write_text("#!/bin/sh\necho \"cannot listen on 127.0.0.1: address already in use\" >&2\n"
                    "exit 1\n")
    fake.chmod(0o755)
    work = _demo_checkout(tmp_path, venv)
    out = _run_demo(work, free_port())
    assert out.returncode == 1, out.stdout + out.stderr
    assert "the aggregator stopped while starting" in out.stderr
    assert "cannot listen on 127.0.0.1: address already in use" in out.stderr
    assert "AGGREGATOR_PORT=" in out.stderr and "enrolling" not in out.stdout
