"""The fleet simulator against the real loopback aggregator."""

from __future__ import annotations

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
