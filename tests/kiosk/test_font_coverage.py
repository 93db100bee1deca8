"""A warning before a citizen sees an empty box: names the kiosk's font cannot draw.

Staff and place names outside the font's characters showed as empty boxes on the idle screen
(亮身份) with no word to anyone: 陈喆赟 as "陈□□" with the old GB2312 subset. `kiosk
check-config` now names the field and the characters, for config.yaml and for the last
device config the server sent, and `kiosk run` logs them once.
"""

from __future__ import annotations

import logging

from kiosk import cli
from kiosk.config import load_config_text
from kiosk.fonts import font_gap_warnings, log_font_gaps, undrawable
from kiosk.store import RatingStore
from tests.kiosk.cli_run import kiosk

# 𪚥 (zhé, four dragons, U+2A6A5, Extension B): a real character of rare given names that no
# Chinese standard list the font is made from holds; the shipped font draws none of it.
RARE = "\U0002A6A5"
UNIT = "武汉市硚口区政务服务中心"


def _config(tmp_path, name: str = f"陈{RARE}", post: str = "社保经办") -> object:
    path = tmp_path / "config.yaml"
    path.write_text("window: {id: W-9, unit_id: U-9, unit_name: " + UNIT + "}\n"
                    "storage: {data_dir: data}\n"
                    "technician: {pin_hash: 'pbkdf2_sha256$200000$00112233445566778899aabbccddeeff$"
                    + "ab" * 32 + "'}\n"
                    "roster:\n"
                    f"  - {{staff_id: S-1, name: {name}, staff_no: '0001', post: {post}}}\n",
                    encoding="utf-8")
    return path


def test_the_shipped_font_draws_the_reported_names_and_not_the_rare_one():
    # the names of the report, and a character beyond what the font was made from
    assert undrawable("陈喆赟（珺昇堃）武汉市硚口区燊犇龑镕玥祎璟垚彧晞旻埇浉") == ""
    assert undrawable(f"陈{RARE}{RARE} 0001") == RARE


def test_check_config_names_the_field_and_the_characters_the_font_cannot_draw(tmp_path):
    out = kiosk("check-config", str(_config(tmp_path)))
    assert out.returncode == 0, out.stderr   # a warning: the kiosk runs, the name has a box
    assert "1 warning(s) above" in out.stdout
    warning = next(line for line in out.stderr.splitlines() if "roster[0].name" in line)
    assert f"line 5: roster[0].name '陈{RARE}' 中的 {RARE} 字体里没有" in warning
    assert f"U+{ord(RARE):04X}" in warning and "empty boxes" in warning
    assert warning.index("字体里没有") < warning.index("empty boxes")   # Chinese first


def test_check_config_is_silent_about_names_the_font_draws(tmp_path):
    out = kiosk("check-config", str(_config(tmp_path, name="陈喆赟", post="（珺昇堃）")))
    assert out.returncode == 0 and "warning" not in out.stderr + out.stdout, out.stderr


def test_check_config_warns_of_the_server_config_the_kiosk_keeps(tmp_path):
    # the roster usually comes from the server (aggregator roster import): its names reach
    # the screens without passing through config.yaml
    path = _config(tmp_path, name="王芳")
    store = RatingStore(tmp_path / "data" / "kiosk.db")
    store.apply_config({"window": {"name": f"{RARE}窗口"},
                        "roster": [{"staff_id": "S-2", "name": "李明", "post": f"岗{RARE}"}],
                        "service_items": [{"code": "X1", "name": "户籍迁移", "time_limit": "即办"}]},
                       etag="e1", version=3)
    store.close()
    out = kiosk("check-config", str(path))
    assert out.returncode == 0 and "2 warning(s) above" in out.stdout, out.stderr
    assert f"服务器下发的配置 (the server's device config): window.name '{RARE}窗口'" in out.stderr
    assert "roster[0].post" in out.stderr and "roster[0].name" not in out.stderr


def test_every_text_the_screens_show_is_checked():
    cfg = load_config_text(
        f"window: {{name: 窗{RARE}, unit_name: 单{RARE}, hotline: '12345'}}\n"
        f"roster:\n  - {{staff_id: S-1, name: 甲, staff_no: 'N{RARE}', post: 岗{RARE}, "
        f"pledge: 诺{RARE}}}\n"
        f"service_items:\n  - {{code: C1, name: 项{RARE}, time_limit: 限{RARE}}}\n")
    fields = [w.split(" ", 1)[0] for w in font_gap_warnings(cfg)]
    assert fields == ["window.name", "window.unit_name", "roster[0].staff_no", "roster[0].post",
                      "roster[0].pledge", "service_items[0].name", "service_items[0].time_limit"]


def test_the_app_logs_a_gap_once_however_often_the_config_is_applied(caplog):
    # the device config is applied again at every sync: one warning, not one a minute
    body = {"roster": [{"staff_id": "S-9", "name": f"赵{RARE}"}]}
    with caplog.at_level(logging.WARNING, logger="kiosk.font"):
        assert log_font_gaps(body, "server config e9") == 1
        assert log_font_gaps(body, "server config e9") == 0
    gaps = [r.getMessage() for r in caplog.records if RARE in r.getMessage()]
    assert len(gaps) == 1 and gaps[0].startswith("server config e9: roster[0].name")


def test_kiosk_run_logs_the_gaps_of_config_yaml_at_start(tmp_path, monkeypatch, caplog):
    import kiosk.launch

    path = _config(tmp_path, name=f"钱{RARE}")
    monkeypatch.setattr(kiosk.launch, "run_app", lambda cfg: 0)   # the window is not the point
    with caplog.at_level(logging.WARNING, logger="kiosk.cli"):
        assert cli.main(["run", "--config", str(path)]) == 0
    assert any(f"roster[0].name '钱{RARE}'" in r.getMessage() and str(path) in r.getMessage()
               for r in caplog.records), [r.getMessage() for r in caplog.records]
