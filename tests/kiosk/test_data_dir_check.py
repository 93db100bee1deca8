"""`kiosk check-config` refuses a storage.data_dir that can never be made, naming the key and
its line: it passed, and `kiosk run` then ran read-only for ever, recording no rating. Only
check-config (and a log line at `kiosk run`) look: `kiosk status` and `kiosk export` of
another machine's config still load it."""

from __future__ import annotations

import logging
import os
import sys

import pytest

from kiosk import cli
from tests.kiosk.cli_run import kiosk


def _config(tmp_path, data_dir: str):
    path = tmp_path / "config.yaml"
    path.write_text("window: {id: W-9, unit_id: U-9}\n"
                    "technician: {pin_hash: ''}\n"
                    f"storage:\n  data_dir: '{data_dir}'\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("data_dir, why", [
    ("afile/sub", "afile is a file, so"),
    ("afile", "afile is a file; give a folder"),
    pytest.param("/proc/nope/kiosk", "nothing can be created in /proc",
                 marks=pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc")),
])
def test_check_config_refuses_a_data_dir_that_can_never_be_made(tmp_path, data_dir, why):
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    out = kiosk("check-config", str(_config(tmp_path, data_dir)))
    assert out.returncode == 2 and "OK" not in out.stdout
    assert f"line 4: storage.data_dir {data_dir!r} cannot hold the kiosk's database" in out.stderr
    assert why in out.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_check_config_refuses_a_data_dir_the_user_cannot_write_in(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    out = kiosk("check-config", str(_config(tmp_path, "locked/data")))
    assert out.returncode == 2 and "nothing can be created in" in out.stderr


def test_a_data_dir_not_made_yet_passes_and_is_not_made_by_the_check(tmp_path):
    out = kiosk("check-config", str(_config(tmp_path, "var/kiosk")))
    assert out.returncode == 0 and "OK" in out.stdout, out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml"]   # nothing left behind


def test_status_still_loads_a_config_whose_data_dir_is_elsewhere(tmp_path):
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    out = kiosk("status", "--config", str(_config(tmp_path, "afile/sub")))
    assert out.returncode == 1 and "no kiosk database yet" in out.stderr
    assert "bad configuration" not in out.stderr


def test_kiosk_run_logs_why_the_data_dir_cannot_be_used(tmp_path, monkeypatch, caplog):
    import kiosk.launch

    monkeypatch.setattr(kiosk.launch, "run_app", lambda cfg: 0)
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    with caplog.at_level(logging.INFO):
        assert cli.main(["run", "--config", str(_config(tmp_path, "afile/sub"))]) == 0
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "storage.data_dir 'afile/sub' cannot hold" in errors[0]
    assert "afile is a file" in errors[0]
