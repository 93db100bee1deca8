"""A kiosk app in a child process, in a window of a given size: an offscreen window cannot
change size once it is open, so each size runs in a process of its own.

``APP`` starts the script: config.yaml (``argv[1]``) at ``argv[2]``×``argv[3]``, no voice, no
invitation endpoint; then ``cfg``, ``store``, ``flow`` (its clock ``now[0]``), ``app``, ``root``
on the ``Window``, and ``frames(n)``. A test adds what it does and prints one JSON line, which
``run_child`` returns.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

APP = """
import json, sys, tempfile
from pathlib import Path
from kiosk.config import load_config
from kiosk.launch import configure_kivy
cfg = load_config(sys.argv[1])
cfg.display.voice, cfg.trigger.invite_port, cfg.display.fullscreen = False, 0, False
cfg.display.width, cfg.display.height = int(sys.argv[2]), int(sys.argv[3])
configure_kivy(cfg)
from kivy.base import EventLoop
from kivy.core.window import Window
from kiosk.app import KioskApp
from kiosk.flow import FlowSettings, RatingFlow
from kiosk.store import RatingStore
EventLoop.ensure_window()
now = [0.0]
store = RatingStore(Path(tempfile.mkdtemp()) / "kiosk.db")
flow = RatingFlow(store, FlowSettings.from_config(cfg), cfg.roster, clock=lambda: now[0])
app = KioskApp(cfg, store, flow, invite_server=False)
root = app.build()
app.root = root
Window.add_widget(root)
app.dispatch("on_start")
def frames(n=4):
    for _ in range(n):
        EventLoop.idle()
"""


def run_child(script: str, tmp_path, width: int, height: int) -> dict:
    """Run ``script`` (``APP`` and a test's part) at ``width``×``height``; its JSON line."""
    run = subprocess.run([sys.executable, "-c", script, os.path.join(REPO, "config.yaml"),
                          str(width), str(height)], capture_output=True, text=True, timeout=180,
                         cwd=REPO, env={**os.environ, "KIVY_NO_ARGS": "1",
                                        "SDL_VIDEODRIVER": "offscreen",
                                        "KIVY_HOME": str(tmp_path / "kivy-home")})
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])
