"""The systemd units in deploy/: each passes ``systemd-analyze verify`` (when systemd is
there), and the periodic ones run what docs/operations.md says against the server's database."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from aggregator.db import make_engine, write
from tests.ops.helpers import ROOT, setup_org

DEPLOY = ROOT / "deploy"
INSTALLED = "/opt/aggregator/.venv/bin/aggregator"   # where the units expect the command
HERE = str(Path(sys.executable).parent / "aggregator")


def unit(name: str) -> dict[str, str]:
    """The ``Key=value`` lines of a unit file (last one wins; enough for these units)."""
    out = {}
    for line in (DEPLOY / name).read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            out[key.strip()] = value.strip()
    return out


def test_alerts_timer_runs_scan_alerts_on_the_servers_database(tmp_path):
    # Silent kiosks, open gaps and windows with never a bad rating were alerted only if the
    # operator added a cron line the documents barely mentioned: a hall whose kiosk died was
    # never told. The shipped timer must run `scan-alerts` where the server keeps its data.
    server, service, timer = (unit(n) for n in ("aggregator.service",
                                                "aggregator-alerts.service",
                                                "aggregator-alerts.timer"))
    assert timer["OnCalendar"] and timer["Persistent"] == "true"
    assert service["Type"] == "oneshot"
    for key in ("User", "EnvironmentFile", "WorkingDirectory"):
        assert service[key] == server[key], key
    argv = shlex.split(service["ExecStart"])
    assert argv[0] == INSTALLED and argv[1:] == ["scan-alerts"]
    # Run it as the unit does: in the server's working directory, the database from the
    # environment file or the default path there. A kiosk silent for days raises its alert.
    work = tmp_path / "var-lib-aggregator"
    work.mkdir()
    url = f"sqlite:///{work / 'var' / 'aggregator.db'}"
    setup_org(url, 1)
    engine = make_engine(url)
    with write(engine) as conn:
        conn.exec_driver_sql(
            "INSERT INTO devices (id, window_id, unit_id, public_key, enrolled_at, last_seen_at) "
            "VALUES ('dead-kiosk', 'W-001', 'U-01', 'x', '2026-01-01 00:00:00.000000', "
            "'2026-01-02 00:00:00.000000')")
    engine.dispose()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AGGREGATOR_")}
    out = subprocess.run([HERE, *argv[1:]], cwd=work, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    raised = json.loads(out.stdout)["raised"]
    assert [a["device_id"] for a in raised if a["kind"] == "device_silent"] == ["dead-kiosk"]


@pytest.mark.parametrize("name", ["aggregator-alerts.service", "aggregator-backup.service"])
def test_periodic_units_run_where_and_as_the_server_runs(name):
    # The backup unit had no working directory: with the default SQLite path it looked for
    # /var/aggregator.db and failed every night.
    server, service = unit("aggregator.service"), unit(name)
    for key in ("User", "EnvironmentFile", "WorkingDirectory"):
        assert service.get(key) == server[key], key


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed")
@pytest.mark.parametrize("name", sorted(p.name for p in DEPLOY.iterdir()
                                        if p.suffix in (".service", ".timer")
                                        and p.name != "kiosk.service"))
def test_deploy_unit_passes_systemd_analyze_verify(name, tmp_path):
    # A misspelt key is only a warning in the journal when the unit is loaded: the unit then
    # runs without it. (kiosk.service needs the kiosk's own virtualenv; it is left out.)
    for path in DEPLOY.iterdir():   # a timer is verified with the service it starts
        if path.suffix in (".service", ".timer"):
            (tmp_path / path.name).write_text(
                path.read_text(encoding="utf-8").replace(INSTALLED, HERE), encoding="utf-8")
    out = subprocess.run(["systemd-analyze", "verify", str(tmp_path / name)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and not out.stderr.strip(), out.stderr
