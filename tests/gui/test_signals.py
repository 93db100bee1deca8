"""``kiosk run`` stops cleanly on SIGTERM (systemd's stop) and SIGINT."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent


def _events(db: Path) -> list[str]:
    if not db.exists():
        return []
    try:
        with sqlite3.connect(db) as conn:
            return [r[0] for r in conn.execute("SELECT type FROM events ORDER BY seq")]
    except sqlite3.OperationalError:   # the kiosk is still creating its schema (seen on a busy machine)
        return []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_kiosk_run_stops_cleanly_on_a_stop_signal(tmp_path, sig):
    # The window refuses close requests, and SDL turned these signals into one: systemd's
    # stop waited out its timeout and killed the kiosk.
    config = tmp_path / "config.yaml"
    shutil.copy(REPO / "config.yaml", config)
    env = dict(os.environ, KIVY_NO_ARGS="1", SDL_VIDEODRIVER="offscreen",
               KIVY_HOME=tempfile.mkdtemp(prefix="kivy-home-"), KIVY_LOG_LEVEL="info")
    proc = subprocess.Popen([sys.executable, "-m", "kiosk.cli", "run", "--config", str(config)],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    db = tmp_path / "var" / "kiosk" / "kiosk.db"
    try:
        deadline = time.monotonic() + 120
        while "app_start" not in _events(db):
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "the kiosk did not start"
            time.sleep(0.2)
        time.sleep(2)  # the window and the app's clock are running
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out[-2000:]
    assert out.count(f"stopping on signal {int(sig)}") == 1, out[-2000:]  # logged once
    assert "Leaving application" in out
    with sqlite3.connect(db) as conn:  # intact and chained on after the stop
        assert conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
