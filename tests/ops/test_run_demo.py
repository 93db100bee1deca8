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
import time
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
