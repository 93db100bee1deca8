"""``aggregator serve`` as an operator runs it: what a start leaves behind after a stop."""

from __future__ import annotations

import signal

from tests.ops.helpers import Processes


def test_multi_worker_serve_removes_its_metrics_dir_when_stopped(tmp_path, monkeypatch):
    # Each `serve --workers N` made a fresh PROMETHEUS_MULTIPROC_DIR in /tmp and never removed
    # it: a test machine had 434 of them, and a server restarted by its supervisor would
    # fill /tmp a few hundred KB at a time.
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    processes = Processes(tmp_path)
    try:
        for stop in (signal.SIGTERM, signal.SIGINT):
            _, proc = processes.aggregator(f"sqlite:///{tmp_path / 'aggregator.db'}",
                                           workers=2)
            made = list(tmp.glob("aggregator-metrics-*"))
            assert len(made) == 1 and any(made[0].glob("*.db")), made
            proc.send_signal(stop)
            assert proc.wait(30) == 0, proc.log.read_text(errors="replace")[-2000:]
            assert list(tmp.glob("aggregator-metrics-*")) == [], stop
    finally:
        processes.stop_all()


def test_an_address_serve_cannot_listen_on_is_one_line(tmp_path):
    # A port in use (another server, an old one still running) or an address of another
    # machine: serve migrated the database, then uvicorn exited 3 with six JSON log lines
    # in which "address already in use" was easy to miss.
    import socket
    import subprocess
    import sys

    from tests.ops.helpers import ROOT

    database = tmp_path / "aggregator.db"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for host, why in (("127.0.0.1", "address already in use"),
                          ("192.0.2.1", "cannot assign requested address")):   # TEST-NET-1
            out = subprocess.run([sys.executable, "-m", "aggregator", "serve", "--database",
                                  f"sqlite:///{database}", "--host", host, "--port", str(port)],
                                 cwd=ROOT, capture_output=True, text=True, timeout=60)
            assert out.returncode == 2 and out.stdout == "", (out.stdout, out.stderr)
            assert out.stderr == f"aggregator serve: cannot listen on {host}:{port}: {why}\n"
    assert not database.exists()   # nothing done before the refusal
