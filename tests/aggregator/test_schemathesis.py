"""Property-based run of schemathesis against the live server's /openapi.json: no input
may produce a 5xx. Skipped when schemathesis is not installed (pip install schemathesis)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ST = shutil.which("st") or str(Path(sys.executable).parent / "st")


@pytest.mark.timeout(900)
def test_no_input_gives_a_server_error(org_setup, database_url, tmp_path):
    if not Path(ST).exists():
        pytest.skip("schemathesis is not installed (pip install schemathesis)")
    if not database_url.startswith("sqlite"):
        pytest.skip("one backend is enough for the fuzz run")
    result = subprocess.run(
        [ST, "run", f"{org_setup.url}/openapi.json", "--checks", "not_a_server_error",
         "--max-examples", "30", "--seed", "1", "--workers", "1", "--request-timeout", "30",
         "-H", f"Authorization: {org_setup.admin['Authorization']}"],
        capture_output=True, text=True, timeout=850, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
