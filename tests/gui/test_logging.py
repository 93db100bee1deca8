"""The kiosk's log: one line per message, INFO and above, as ``kiosk run`` sets it up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent

# What ``kiosk run`` does before the window opens: the log, then Kivy's environment options,
# then Kivy's import (``launch.configure_kivy``).
_CHILD = """
import logging
from kiosk import cli, launch
cli.setup_logging()
launch.kivy_environment()
from kivy.logger import Logger
logging.getLogger("urllib3.connectionpool").debug("library debug line")
logging.getLogger("kiosk.app").info("kiosk info line")
Logger.info("Kiosk: kivy info line")
"""


def test_each_log_line_is_written_once_and_library_debug_stays_out(tmp_path):
    # Why: with Kivy's default log mode its handlers sat on the root logger beside the kiosk's
    # own, so every line reached the journal twice, and the root's level went to NOTSET, so
    # urllib3 logged a DEBUG line for every sync request (seen running `make run`, 2026-12-03).
    env = {k: v for k, v in os.environ.items() if k not in ("KIVY_LOG_MODE", "KIVY_NO_CONSOLELOG")}
    out = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True,
                         timeout=120, cwd=REPO,
                         env={**env, "KIVY_NO_ARGS": "1", "KIVY_LOG_LEVEL": "info",
                              "KIVY_HOME": str(tmp_path / "kivy-home")})
    assert out.returncode == 0, out.stderr[-3000:]
    log = out.stdout + out.stderr
    assert "library debug line" not in log
    assert log.count("kiosk info line") == 1, log[-3000:]
    assert log.count("kivy info line") == 1, log[-3000:]
