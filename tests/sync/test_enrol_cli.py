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
