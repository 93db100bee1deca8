"""The fleet simulator against the real loopback aggregator."""

from __future__ import annotations

import threading
import time

import pytest
import uvicorn
from sqlalchemy import func, select

from sync.simulator import main, simulate
from tests.sync.conftest import ADMIN_TOKEN


def test_three_devices_fifty_ratings_all_acked(aggregator_server, tmp_path):
    lines = []
    result = simulate(aggregator_server.url, 3, 50, workdir=tmp_path / "sim",
                      admin_token=ADMIN_TOKEN, seed=7, out=lines.append)
    totals = result["totals"]
    assert result["failures"] == []
    assert totals["ratings"] == 150 and totals["pending"] == 0 and totals["quarantined"] == 0
    assert totals["acked"] == totals["events"]
    assert any("acked" in line for line in lines)

    from aggregator.schema import events, ratings

    with aggregator_server.engine.connect() as conn:
        for device in result["devices"]:
            n = conn.execute(select(func.count()).select_from(events)
                             .where(events.c.device_id == device["device_id"])).scalar_one()
            assert n == device["events"]
            r = conn.execute(select(func.count()).select_from(ratings)
                             .where(ratings.c.device_id == device["device_id"])).scalar_one()
            assert r == 50
            flagged = conn.execute(select(func.count()).select_from(ratings).where(
                ratings.c.device_id == device["device_id"], ratings.c.flagged.is_(True))
            ).scalar_one()
            assert flagged == 0  # simulated citizens are clean, counted ratings


def test_cli_main_exit_code(aggregator_server, tmp_path, capsys):
    code = main(["--server", aggregator_server.url, "--devices", "2", "--ratings", "5",
                 "--workdir", str(tmp_path / "sim"), "--admin-token", ADMIN_TOKEN])
    assert code == 0
    assert "pending 0" in capsys.readouterr().out


def test_cli_without_codes_or_token_says_what_it_needs(aggregator_server, tmp_path, capsys,
                                                       monkeypatch):
    monkeypatch.delenv("AGGREGATOR_ADMIN_TOKEN", raising=False)
    code = main(["--server", aggregator_server.url, "--devices", "2", "--ratings", "1",
                 "--workdir", str(tmp_path / "sim")])
    assert code == 1
    assert "--admin-token" in capsys.readouterr().err


def _this_machines_address() -> str | None:
    """An address of this machine that is not loopback (the one its default route uses)."""
    import ipaddress
    import socket

    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))   # no packet is sent: it picks the route's address
            address = s.getsockname()[0]
    except OSError:
        return None
    return None if ipaddress.ip_address(address).is_loopback else address


def test_simulate_refuses_a_server_not_on_this_machine_unless_allowed(tmp_path, capsys):
    # `kiosk simulate --server https://live` put its unit SIM-U, windows and made-up ratings
    # into a live server's rankings and bulletins beside the real halls.
    from aggregator import Settings, create_app
    from aggregator.schema import units
    from kiosk.cli import main as kiosk_main
    from tests.serving import free_port

    address = _this_machines_address()
    if address is None:
        pytest.skip("this machine has no address besides loopback")
    app = create_app(f"sqlite:///{tmp_path / 'aggregator.db'}", settings=Settings(
        admin_token=ADMIN_TOKEN, secret="sim-test-secret"))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host=address, port=port, log_level="warning",
                                           lifespan="off", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
            time.sleep(0.02)
        url = f"http://{address}:{port}"
        argv = ["simulate", "--server", url, "--devices", "1", "--ratings", "3",
                "--workdir", str(tmp_path / "sim"), "--admin-token", ADMIN_TOKEN]
        assert kiosk_main(argv) == 2
        err = capsys.readouterr().err
        assert f"{url} is not on this machine" in err and "--allow-remote-server" in err
        with app.state.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(units)).scalar_one() == 0
        assert kiosk_main(argv + ["--allow-remote-server"]) == 0
        with app.state.engine.connect() as conn:
            assert conn.execute(select(units.c.id)).scalars().all() == ["SIM-U"]
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        app.state.engine.dispose()
