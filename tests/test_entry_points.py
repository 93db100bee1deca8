"""The two console scripts installed by setup.py answer --help from the virtual environment."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    "script, words",
    [
        ("kiosk", ["run", "check-config", "status", "export", "set-pin", "enroll", "simulate"]),
        ("aggregator", ["serve", "migrate", "enroll-code", "demo"]),
    ],
)
def test_console_script_help(script, words, tmp_path):
    out = subprocess.run([str(BIN / script), "--help"], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    for word in words:
        assert word in out.stdout
