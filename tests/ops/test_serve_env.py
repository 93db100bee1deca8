"""``aggregator serve`` started the way deploy/aggregator.service starts it: its environment
and command line reach every worker, and a bad environment is one line."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import requests

from tests.aggregator.device import Device
from tests.ops.helpers import ROOT, _stop, free_port, setup_org, wait_http


def serve(tmp_path, url: str, workers: int, *extra: str, env: dict | None = None,
          name: str = "serve") -> tuple[str, subprocess.Popen]:
    port = free_port()
    log = tmp_path / f"{name}-{workers}.log"
    environ = dict(os.environ, AGGREGATOR_SECRET="s", PYTHONPATH=str(ROOT))
    for key in ("PROMETHEUS_MULTIPROC_DIR", "AGGREGATOR_PUBLIC_URL"):
        environ.pop(key, None)
    environ.update(env or {})
    proc = subprocess.Popen([sys.executable, "-m", "aggregator", "serve", "--database", url,
                             "--port", str(port), "--workers", str(workers), *extra],
                            cwd=ROOT, env=environ, stdout=open(log, "wb"),
                            stderr=subprocess.STDOUT)
    proc.log = log
    return f"http://127.0.0.1:{port}", proc


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_makes_the_metrics_folder_the_service_names(tmp_path, workers):
    # deploy/aggregator.service suggests PROMETHEUS_MULTIPROC_DIR=/run/aggregator/metrics,
    # and systemd makes only /run/aggregator: importing the metrics opened a file in the
    # missing folder and the server never started (with one worker the folder was never
    # made at all).
    url = f"sqlite:///{tmp_path / 'agg.db'}"
    setup_org(url, 1)
    folder = tmp_path / "run" / "aggregator" / "metrics"
    base, proc = serve(tmp_path, url, workers, env={"PROMETHEUS_MULTIPROC_DIR": str(folder)})
    try:
        wait_http(base + "/healthz", proc, proc.log)
        assert folder.is_dir() and any(folder.glob("*.db"))
        assert "aggregator_batch_seconds" in requests.get(base + "/metrics", timeout=10).text
    finally:
        _stop(proc)
    # a stale file of a stopped run is emptied at the next start, for one worker too
    stale = folder / "counter_999999.db"
    stale.write_bytes(b"stale")
    base, proc = serve(tmp_path, url, workers, env={"PROMETHEUS_MULTIPROC_DIR": str(folder)},
                       name="again")
    try:
        wait_http(base + "/healthz", proc, proc.log)
        assert not stale.exists()
    finally:
        _stop(proc)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_metrics_folder_that_cannot_be_made_is_one_line(tmp_path, workers):
    url = f"sqlite:///{tmp_path / 'agg.db'}"
    setup_org(url, 1)
    (tmp_path / "a-file").write_text("")
    folder = tmp_path / "a-file" / "metrics"
    environ = dict(os.environ, AGGREGATOR_SECRET="s", PYTHONPATH=str(ROOT),
                   PROMETHEUS_MULTIPROC_DIR=str(folder))
    out = subprocess.run([sys.executable, "-m", "aggregator", "serve", "--database", url,
                          "--port", str(free_port()), "--workers", str(workers)],
                         cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1, out.stderr
    assert out.stderr == (f"aggregator serve: PROMETHEUS_MULTIPROC_DIR={folder}: cannot make or "
                          "empty that folder (Not a directory); make it writable for the "
                          "service's user, or unset the variable\n")


def test_every_worker_takes_the_public_url_of_the_command_line(tmp_path):
    # `serve --workers 2 --public-url https://…` applied the URL to the parent process only;
    # the workers build their settings from the environment, so every kiosk got QR codes of
    # http://127.0.0.1:8700/r/, which no citizen's phone reaches.
    url = f"sqlite:///{tmp_path / 'agg.db'}"
    code = setup_org(url, 1)[0]
    base, proc = serve(tmp_path, url, 2, "--public-url", "https://pj.example.gov.cn")
    try:
        wait_http(base + "/healthz", proc, proc.log)
        d = Device(base)
        assert d.enroll(code).status_code == 200
        seen = set()
        for _ in range(12):   # several requests: any worker may answer
            r = d.get("/api/v1/config")
            assert r.status_code == 200, r.text
            seen.add(r.json()["qr_base_url"])
    finally:
        _stop(proc)
    assert seen == {"https://pj.example.gov.cn/r/"}
