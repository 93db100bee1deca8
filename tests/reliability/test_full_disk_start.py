"""``kiosk run`` itself on a data disk that is already full: a real 1 MiB tmpfs filled by a file
(skipped where this machine cannot mount one: not root; CI runs as root).

Why it matters: the kiosk printed "cannot open the kiosk database: database or disk is full"
and exited 1, with an existing database (which it had also moved aside as corrupt) and on a
first start (which left a 0-byte kiosk.db). Under systemd that was a restart loop with no
window. Now it keeps running (its window, its invitation endpoint, a clean stop on SIGTERM)
and opens its database by itself once there is room.
(tests/gui/test_full_disk_start.py drives the app's screens on such a disk.)
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kiosk import constants as C
from kiosk.store import RatingStore
from tests.reliability.disk_full import _fill

ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 120   # how long a line of the kiosk's log may take to come: a bound, never a measure


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RunningKiosk:
    """``kiosk run --windowed`` on ``data_dir`` in an offscreen window; its log in a file."""

    def __init__(self, tmp_path: Path, data_dir: Path) -> None:
        text = (ROOT / "config.yaml").read_text(encoding="utf-8")
        text = text.replace("data_dir: var/kiosk", f"data_dir: {data_dir}")
        self.port = _free_port()
        text = text.replace("invite_port: 8765", f"invite_port: {self.port}")
        config = tmp_path / "config.yaml"
        config.write_text(text, encoding="utf-8")
        self.log = tmp_path / "kiosk.log"
        env = dict(os.environ, KIVY_NO_ARGS="1", SDL_VIDEODRIVER="offscreen",
                   KIVY_HOME=str(tmp_path / "kivy-home"), KIVY_LOG_LEVEL="warning")
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "kiosk.cli", "run", "--config",
                                          str(config), "--windowed"], cwd=ROOT, env=env,
                                         stdout=out, stderr=subprocess.STDOUT)

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_for(self, line: str) -> None:
        deadline = time.monotonic() + WAIT_S
        while line not in self.text():
            if self.proc.poll() is not None:
                pytest.fail(f"kiosk run ended ({self.proc.returncode}) before {line!r}:\n{self.text()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {line!r} in the kiosk's log:\n{self.text()[-3000:]}")
            time.sleep(0.2)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(WAIT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


@pytest.fixture
def run_kiosk(tmp_path):
    started = []

    def run(data_dir: Path) -> RunningKiosk:
        started.append(RunningKiosk(tmp_path, data_dir))
        return started[-1]

    yield run
    for kiosk in started:
        kiosk.stop()


def test_kiosk_run_keeps_running_on_a_full_disk_with_its_database(small_disk, run_kiosk):
    data = small_disk / "kiosk"
    store = RatingStore(data / "kiosk.db")
    ids = [store.record(C.EV_RATING, {"level": "satisfied", "stars": 4})["id"] for _ in range(3)]
    store.close()
    before = (data / "kiosk.db").read_bytes()
    _fill(small_disk)
    kiosk = run_kiosk(data)
    kiosk.wait_for("cannot open the kiosk database for writing")
    kiosk.wait_for(f"invitation endpoint on http://127.0.0.1:{kiosk.port}/invite")  # the app runs
    assert kiosk.stop() == 0, kiosk.text()[-3000:]
    assert "stopping on signal 15" in kiosk.text()
    assert (data / "kiosk.db").read_bytes() == before               # kept, not moved aside
    assert not list(data.glob("*.corrupt-*"))
    reader = RatingStore(data / "kiosk.db", check=False)
    assert [e["id"] for e in reader.iter_events()] == ids
    reader.close()


def test_a_first_start_on_a_full_disk_runs_and_opens_its_database_once_there_is_room(
        small_disk, run_kiosk):
    data = small_disk / "kiosk"
    data.mkdir()
    filler = _fill(small_disk)
    kiosk = run_kiosk(data)
    kiosk.wait_for("cannot open the kiosk database for writing")
    kiosk.wait_for(f"invitation endpoint on http://127.0.0.1:{kiosk.port}/invite")
    assert not (data / "kiosk.db").exists()                         # no 0-byte database
    filler.unlink()
    kiosk.wait_for("kiosk database open for writing again")
    assert kiosk.stop() == 0, kiosk.text()[-3000:]
    store = RatingStore(data / "kiosk.db", check=False)
    assert [e["type"] for e in store.iter_events()] == [C.EV_APP_START]
    store.close()
