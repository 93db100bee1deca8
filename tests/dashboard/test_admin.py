"""Roster editing reaches the kiosks (config ETag), create-user CLI, settings."""

import io

from aggregator import Settings, device_config
from aggregator.cli import main
from aggregator.dashboard import accounts
from aggregator.db import make_engine, read, utcnow, write
from tests.dashboard.helpers import csrf_of


def _etag(dash):
    with read(dash.engine) as conn:
        return device_config.build(conn, {"window_id": "W-001"}, Settings(secret="x"))["etag"]


def test_editing_a_pledge_changes_the_window_config_etag(dash):
    before = _etag(dash)
    s = dash.login("u01")
    csrf = csrf_of(s, dash.url + "/dashboard/roster")
    r = s.post(dash.url + "/dashboard/roster/staff/S-001", data={
        "csrf": csrf, "name": "王芳", "staff_no": "0001", "post": "首席代办员",
        "pledge": "新承诺：一次办好", "stars": "5", "window_id": "W-001", "active": "1"})
    assert r.status_code == 200
    assert _etag(dash) != before
    assert "新承诺：一次办好" in s.get(dash.url + "/dashboard/roster").text


def test_roster_import_outside_scope_imports_nothing(dash):
    s = dash.login("u01")
    csrf = csrf_of(s, dash.url + "/dashboard/roster")
    data = "编号,姓名,单位编号\nS-900,新人,U-02\n".encode()
    r = s.post(dash.url + "/dashboard/roster/import", data={"csrf": csrf},
               files={"file": ("roster.csv", data, "text/csv")})
    assert r.status_code == 200 and "outside your scope" in r.text
    assert "S-900" not in s.get(dash.url + "/dashboard/roster").text
    ok = "编号,姓名,单位编号,窗口编号\nS-901,新同事,U-01,W-002\n".encode()
    before = _etag(dash)
    r = s.post(dash.url + "/dashboard/roster/import", data={"csrf": csrf},
               files={"file": ("roster.csv", ok, "text/csv")})
    assert "新同事" in r.text
    assert _etag(dash) != before  # the config version moved


def test_create_user_cli_reads_the_password_from_stdin(tmp_path, monkeypatch, capsys):
    url = f"sqlite:///{tmp_path / 'a.db'}"
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-password\n"))
    assert main(["create-user", "--database", url, "--username", "admin2", "--role", "admin",
                 "--password-stdin"]) == 0
    assert "admin2 created" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-password\n"))
    assert main(["create-user", "--database", url, "--username", "m", "--role",
                 "unit_manager", "--password-stdin"]) == 2  # a unit manager needs --unit
    assert "--unit" in capsys.readouterr().err
    engine = make_engine(url)
    with write(engine) as conn:
        user, outcome = accounts.authenticate(conn, "admin2", "a-long-password", "1.2.3.4",
                                              utcnow(), accounts.DashboardSettings())
    assert outcome == "ok" and user["role"] == "admin"
    assert user["password_hash"].startswith("$argon2")
