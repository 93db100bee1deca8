"""Config: defaults, every documented setting, and errors that name key and line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kiosk.config import SETTINGS, _line_map, load_config, load_config_text
from kiosk.errors import ConfigError
from kiosk.pin import hash_pin

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_config_yaml_loads():
    cfg = load_config(ROOT / "config.yaml")
    assert cfg.trigger.mode == "open"
    assert cfg.roster and cfg.service_items


def test_every_setting_is_documented_in_config_yaml():
    # A setting nobody can find in config.yaml is a setting nobody can use.
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    lines = _line_map(text)
    raw = text.splitlines()
    missing = []
    for setting in SETTINGS:
        paths = [setting.name]
        if setting.type == "list":
            paths = [f"{setting.name}[0].{field}" for field in setting.item]
        for path in paths:
            if path not in lines:
                missing.append(f"{path} (absent)")
                continue
            line = lines[path]
            commented = "#" in raw[line - 1] or raw[line - 2].lstrip().startswith("#")
            if not commented:
                missing.append(f"{path} (line {line} has no comment)")
    assert not missing, "undocumented settings: " + ", ".join(missing)


def test_defaults_without_a_file():
    cfg = load_config(None)
    for setting in SETTINGS:
        assert cfg.get(setting.name) == setting.default


@pytest.mark.parametrize(
    "text, expected",
    [
        ("sync:\n  batch_size: '10'\n", "line 2: sync.batch_size must be an integer, got '10'"),
        ("sync:\n  batch_size: 501\n", "line 2: sync.batch_size must be at most 500, got 501"),
        ("sync:\n  interval_seconds: 0\n", "line 2: sync.interval_seconds must be at least 5, got 0"),
        ("trigger:\n  mode: always\n", "line 2: trigger.mode must be one of open, invited, got 'always'"),
        ("trigger:\n  lockout_seconds: true\n", "line 2: trigger.lockout_seconds must be an integer, got True"),
        ("language: fr\n", "line 1: language must be one of zh_CN, en, got 'fr'"),
        ("scale:\n  levels: 3\n", "line 2: scale.levels must be one of 4, 5, got 3"),
        ("display:\n  fullscreen: 'yes'\n", "line 2: display.fullscreen must be true or false, got 'yes'"),
        ("sync:\n  server: ftp://x\n", "line 2: sync.server must be http:// or https:// and a host, got 'ftp://x'"),
        ("colour: red\n", "line 1: colour is not a known setting"),
        ("\n\nsync:\n  serverr: x\n", "line 4: sync.serverr is not a known setting; sync has server,"),
        ("sync: 5\n", "line 1: sync must be a mapping, got 5"),
        ("roster:\n  - name: A\n", "line 2: roster[0] needs 'staff_id'"),
        ("roster:\n  - staff_id: a\n    name: A\n    stars: 6\n", "line 4: roster[0].stars must be at most 5, got 6"),
        ("roster:\n  - staff_id: a\n    name: A\n    mood: 1\n", "line 4: roster[0].mood is not a known field"),
        ("roster: {a: 1}\n", "line 1: roster must be a list"),
        ("service_items:\n  - code: X\n", "line 2: service_items[0] needs 'name'"),
        ("window:\n  id: 'bad id!'\n", "line 2: window.id has an invalid value 'bad id!'"),
        ("sync:\n  server: [unclosed\n", "line 3: not valid YAML"),
        ("- just\n- a list\n", "the top level must be a mapping"),
        # a key the line map cannot place (YAML null): the error used to loop for ever,
        # hanging `kiosk check-config` and `kiosk run` (found by the reliability config fuzz)
        ("null: 1\n", "c.yaml: None is not a known setting"),
        # found by probing the CLI: a second section silently dropped the first; aliases hung
        # or crashed the loader; deep nesting crashed it; 010 became the octal 8
        ("sync:\n  batch_size: 10\nsync:\n  interval_seconds: 10\n",
         "c.yaml line 3: sync is given twice (first on line 1)"),
        ("language: en\nlanguage: zh_CN\n", "line 2: language is given twice"),
        ("a: &a [*a]\n", "anchors and aliases (& and *) are not supported"),
        ("window: &w {id: W-1}\nwindow2: *w\n", "anchors and aliases"),
        ("window: " + "[" * 900 + "]" * 900 + "\n", "c.yaml: nested too deeply"),
        ("trigger:\n  lockout_seconds: 010\n",
         "line 2: trigger.lockout_seconds must be an integer, got '010'"),
    ],
)
def test_config_errors_name_key_and_line(text, expected):
    with pytest.raises(ConfigError) as info:
        load_config_text(text, source="c.yaml")
    assert expected in str(info.value), str(info.value)


def test_all_problems_are_reported_at_once():
    with pytest.raises(ConfigError) as info:
        load_config_text("sync:\n  batch_size: x\ntrigger:\n  mode: y\n")
    assert len(info.value.problems) == 2


def test_numeric_window_id_is_read_as_string():
    assert load_config_text("window:\n  id: 101\n").window.id == "101"


def test_numbers_with_leading_zeros_stay_as_written():
    # YAML 1.1 read staff_no 0012 as the octal 10 and badge 0100 as 64: that staff member
    # could never sign in, and window id 0101 named window 65.
    cfg = load_config_text("window: {id: 0101}\nroster: [{staff_id: S1, name: x, "
                           "staff_no: 0012, badge: 0100}]\n")
    assert cfg.window.id == "0101"
    assert (cfg.roster[0]["staff_no"], cfg.roster[0]["badge"]) == ("0012", "0100")


def test_an_alias_bomb_is_refused_at_once():
    text = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    previous = "a"
    for name in "bcdefghi":
        text += f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]\n"
        previous = name
    with pytest.raises(ConfigError, match="anchors and aliases"):
        load_config_text(text + "roster: *i\n")


def test_check_config_cli_exit_codes(tmp_path):
    good = subprocess.run([sys.executable, "-m", "kiosk.cli", "check-config", str(ROOT / "config.yaml")],
                          capture_output=True, text=True)
    assert good.returncode == 0, good.stderr
    bad_file = tmp_path / "bad.yaml"
    bad_file.write_text("idle:\n  thanks_seconds: 0\n", encoding="utf-8")
    bad = subprocess.run([sys.executable, "-m", "kiosk.cli", "check-config", str(bad_file)],
                         capture_output=True, text=True)
    assert bad.returncode == 2
    assert "line 2: idle.thanks_seconds must be at least 1, got 0" in bad.stderr
    missing = subprocess.run([sys.executable, "-m", "kiosk.cli", "check-config", str(tmp_path / "nope.yaml")],
                             capture_output=True, text=True)
    assert missing.returncode == 2 and "no such config file" in missing.stderr
    assert ".photo" not in good.stderr   # the shipped config's photos are all there (its
    # factory and demo PINs are warned of: tests/kiosk/test_check_config_warnings.py)


def test_a_config_path_that_is_no_file_is_refused_naming_what_it_is(tmp_path):
    # Found by probing in an earlier session: a FIFO given as the config made `kiosk check-config` (and
    # `kiosk run`) hang for ever, and /dev/zero would read until memory ran out. Each is
    # refused at once, saying what the path is.
    fifo = tmp_path / "config.yaml"
    os.mkfifo(fifo)
    run = subprocess.run([sys.executable, "-m", "kiosk.cli", "check-config", str(fifo)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert f"{fifo}: is a FIFO (named pipe), not a config file" in run.stderr
    with pytest.raises(ConfigError, match="is a character device"):
        load_config("/dev/zero")
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)
    big = tmp_path / "big.yaml"
    big.write_bytes(b"# " + b"x" * (2 << 20) + b"\n")
    with pytest.raises(ConfigError, match="2,097,155 bytes is not a kiosk config"):
        load_config(big)


def test_check_config_warns_of_photos_the_badge_screen_cannot_show(tmp_path):
    # A misspelt photo name passed, and the badge screen showed the grey avatar for good.
    (tmp_path / "wang.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 64)
    (tmp_path / "li.png").write_text("not a picture", encoding="utf-8")
    cfg = tmp_path / "config.yaml"
    cfg.write_text("window: {id: W-1, unit_id: U-1}\n"   # not the demo's (its own warnings)
                   f"technician: {{pin_hash: '{hash_pin('246810')}'}}\n"   # nor the factory PIN
                   "roster:\n"
                   "  - {staff_id: S-1, name: 王芳, photo: wang.jpg}\n"
                   "  - {staff_id: S-2, name: 李明, photo: li.png}\n"
                   "  - {staff_id: S-3, name: 张伟, photo: photos/zhang.jpg}\n", encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "kiosk.cli", "check-config", str(cfg)],
                         capture_output=True, text=True)
    assert run.returncode == 0 and "2 warning(s)" in run.stdout
    assert "roster[0]" not in run.stderr
    # Chinese first, English after, as the other warnings (these were English only)
    assert "roster[1].photo 'li.png'：不是 JPEG 或 PNG 图片" in run.stderr
    assert "not a JPEG or PNG" in run.stderr
    assert "roster[2].photo 'photos/zhang.jpg'：读不到" in run.stderr
    assert "cannot be read (No such file or directory" in run.stderr


def test_two_staff_with_one_badge_or_number_are_refused_with_the_line():
    # Sign-in takes the first roster member with the badge or number typed: the second
    # person's ratings were counted as the first's.
    text = ("roster:\n"
            "  - {staff_id: S-1, name: 王芳, staff_no: '0007', badge: '10000007'}\n"
            "  - {staff_id: S-2, name: 李明, staff_no: '0012', badge: '10000007'}\n"
            "  - {staff_id: S-1, name: 张伟, staff_no: '0007'}\n"
            "service_items:\n"
            "  - {code: SI-1, name: 社保卡申领}\n"
            "  - {code: SI-1, name: 养老保险}\n")
    with pytest.raises(ConfigError) as err:
        load_config_text(text)
    message = str(err.value)
    for expected in ("line 3: roster[1].badge '10000007' is already the badge of roster[0]",
                     "line 4: roster[2].staff_id 'S-1' is already the staff_id of roster[0]",
                     "line 4: roster[2].staff_no '0007' is already the staff_no of roster[0]",
                     "line 7: service_items[1].code 'SI-1' is already the code of service_items[0]"):
        assert expected in message, message


@pytest.mark.parametrize("url, problem", [
    ("htp://agg.example.gov.cn", "must be http:// or https:// and a host"),
    ("https://", "must be http:// or https:// and a host"),
    ("http://[::1", "is not a URL"),
    ("http://agg.example.gov.cn:99999", "is not a URL"),
])
def test_a_server_url_no_request_can_use_is_refused_at_check_config(url, problem):
    # It passed `kiosk check-config`; the kiosk then started with no sync at all, its
    # ratings piling up while the technician believed it was set up.
    with pytest.raises(ConfigError) as err:
        load_config_text(f"sync:\n  server: '{url}'\n")
    assert f"line 2: sync.server {problem}" in str(err.value)
    assert load_config_text("sync:\n  server: ' https://agg.example.gov.cn/ '\n").sync.server \
        == "https://agg.example.gov.cn/"


def test_a_pin_typed_in_as_it_is_instead_of_its_hash_is_refused():
    # "pin_hash: 123456" passed, and the technician panel could then never be opened.
    with pytest.raises(ConfigError) as err:
        load_config_text("technician:\n  pin_hash: '123456'\n")
    assert "line 2: technician.pin_hash has an invalid value '123456'" in str(err.value)
    assert "kiosk set-pin" in str(err.value)


def test_a_config_saved_as_gbk_says_so_with_its_line(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_bytes("window:\n  id: W-001\n  name: 民政窗口\n".encode("gbk"))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "line 3: the file is not UTF-8" in str(err.value) and "save it as UTF-8" in str(err.value)


@pytest.mark.parametrize("mouse, expected", [(True, "mouse,multitouch_on_demand"), (False, None)])
def test_mouse_input_can_be_turned_off_for_a_panel_that_is_also_a_mouse(tmp_path, mouse, expected):
    # Each touch came twice from such a panel (two ratings), and removing the mouse line from
    # Kivy's config.ini, as the deployment guide said, was undone on every start.
    child = ("import sys\nfrom kiosk.config import load_config_text\nfrom kiosk.launch import configure_kivy\n"
             f"cfg = load_config_text('display:\\n  mouse_input: {str(mouse).lower()}\\n')\n"
             "configure_kivy(cfg)\nfrom kivy.config import Config\n"
             "print(Config.get('input', 'mouse') if Config.has_option('input', 'mouse') else None)\n")
    out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "KIVY_NO_ARGS": "1", "KIVY_HOME": str(tmp_path)},
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == str(expected)
