"""The ``kiosk`` command run in a child process, as a technician runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def kiosk(*args, stdin=None, prefix=(), cwd=ROOT, timeout=300):
    """``python -m kiosk.cli *args`` (after ``prefix``, e.g. a ``prlimit``), in its own
    session, from the checkout, with Kivy kept off the command line and any display."""
    env = dict(os.environ, KIVY_NO_ARGS="1", SDL_VIDEODRIVER="offscreen")
    return subprocess.run([*prefix, sys.executable, "-m", "kiosk.cli", *args],
                          capture_output=True, text=True, input=stdin, env=env, cwd=cwd,
                          timeout=timeout, start_new_session=True)
