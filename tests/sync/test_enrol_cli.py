"""``kiosk enroll`` (sync.enrol.enroll_kiosk through the kiosk CLI) against the real server."""

from __future__ import annotations

import stat

from kiosk.cli import main
from sync.credentials import ENROLMENT_FILE, KEY_FILE, Credentials


def test_kiosk_enroll_saves_a_private_credential_and_pulls_the_config(aggregator_server, tmp_path,
                                                                      capsys):
    cfg = tmp_path / "config.yaml"
    cfg.write_text("storage:\n  data_dir: data\n", encoding="utf-8")
    code = aggregator_server.code("W-S2")
    assert main(["enroll", "--config", str(cfg), "--server", aggregator_server.url,
                 "--code", code]) == 0
    out = capsys.readouterr().out
    assert "window W-S2" in out and "config applied" in out
    data = tmp_path / "data"
    creds = Credentials.load(data)
    assert creds.window_id == "W-S2" and creds.server_url == aggregator_server.url
    for name in (KEY_FILE, ENROLMENT_FILE):
        assert stat.S_IMODE((data / name).stat().st_mode) == 0o600
    # The same code again is refused with the server's reason, exit 1.
    assert main(["enroll", "--config", str(cfg), "--server", aggregator_server.url,
                 "--code", code]) == 1
    assert "code_used" in capsys.readouterr().err


def test_enroll_at_a_wrong_path_says_the_address_is_not_an_aggregation_server(
        aggregator_server, tmp_path, capsys):
    # Found by an operator: `kiosk enroll --server http://host:8700/wrong` said only
    # "enrolment refused: 404: Not Found", which reads as a bad code; the address was wrong.
    cfg = tmp_path / "config.yaml"
    cfg.write_text("storage:\n  data_dir: data\n", encoding="utf-8")
    code = aggregator_server.code("W-S2")
    wrong = aggregator_server.url + "/wrong"
    assert main(["enroll", "--config", str(cfg), "--server", wrong, "--code", code]) == 1
    err = capsys.readouterr().err
    assert f"{wrong} does not answer as an aggregation server" in err, err
    assert f"{wrong}/api/v1/enroll" in err and "HTTP 404" in err
    assert not (tmp_path / "data" / ENROLMENT_FILE).exists()
    # The code was not used up: the right address enrols with it.
    assert main(["enroll", "--config", str(cfg), "--server", aggregator_server.url,
                 "--code", code]) == 0
