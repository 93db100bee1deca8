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
