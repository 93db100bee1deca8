"""trigger.invite_key: checked against the table the app uses (kiosk/keys.py), at config time.

Why it matters: ``invite_key: F12_KEY`` (or ``pause``, a name in Kivy's table whose code its
SDL2 window never sends) passed ``kiosk check-config`` and ``kiosk run``; in invited mode the
staff button then invited nobody, and nothing said so. A config is refused with the key, its
line and the names that work. (tests/gui/test_invite_key_gui.py presses the real keys.)
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kiosk.config import load_config_text
from kiosk.errors import ConfigError
from tests.kiosk.cli_run import ROOT, kiosk


def config_with_key(tmp_path, value: str) -> tuple[Path, int]:
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    lines = text.splitlines()
    n = next(i for i, line in enumerate(lines) if line.lstrip().startswith("invite_key:"))
    lines[n] = f"  invite_key: {value}"
    path = tmp_path / "config.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, n + 1


@pytest.mark.parametrize("value", ["F12_KEY", "pause_break", "'12'", "a", "enter", "escape",
                                   "numpad5", "screenlock", "print"])
def test_check_config_refuses_a_key_the_staff_button_cannot_send(tmp_path, value):
    path, line = config_with_key(tmp_path, value)
    out = kiosk("check-config", str(path))
    assert out.returncode == 2 and "OK" not in out.stdout
    assert f"{path} line {line}: trigger.invite_key must be a key the staff button can send" \
        in out.stderr, out.stderr
    assert "f1 … f24, printscreen, scrolllock, pause" in out.stderr    # the names that work
    assert repr(value.strip("'")) in out.stderr


def test_kiosk_run_refuses_it_before_opening_a_window(tmp_path):
    path, line = config_with_key(tmp_path, "F12_KEY")
    out = kiosk("run", "--config", str(path), "--windowed")
    assert out.returncode == 2
    assert f"line {line}: trigger.invite_key must be a key the staff button can send" in out.stderr
    assert not (tmp_path / "var").exists()                      # no database was made


@pytest.mark.parametrize("value, code", [("f12", 293), ("F12", 293), ("Scroll Lock", 295),
                                         ("scroll_lock", 295), ("PAUSE", 296), ("F13", (1 << 30) + 104)])
def test_names_the_staff_button_sends_are_taken(value, code):
    from kiosk.keys import invite_keycode

    cfg = load_config_text(f"trigger:\n  invite_key: {value}\n")
    assert invite_keycode(cfg.trigger.invite_key) == code


def test_the_error_names_key_and_line_in_load_config_text():
    with pytest.raises(ConfigError) as err:
        load_config_text("window:\n  id: W-9\ntrigger:\n  mode: invited\n  invite_key: F12_KEY\n")
    assert "config.yaml line 5: trigger.invite_key must be a key the staff button can send" \
        in str(err.value) and "got 'F12_KEY'" in str(err.value)


def test_no_badge_key_can_be_the_invite_key():
    # A badge reader types digits, letters and Enter on the same screens: such an invite key
    # would have invited a rating in the middle of a badge number.
    from kiosk.keys import INVITE_KEYS

    assert not [n for n in INVITE_KEYS if len(n) == 1 or n in ("enter", "numpadenter", "shift")]


def test_checking_the_key_does_not_import_kivy(tmp_path):
    path, _ = config_with_key(tmp_path, "F12_KEY")
    probe = ("import sys; from kiosk.config import load_config\n"
             "try:\n    load_config(sys.argv[1])\nexcept Exception:\n    pass\n"
             "print('kivy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True, text=True,
                         cwd=ROOT, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


def test_the_shipped_config_documents_the_names(tmp_path):
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    assert "invite_key: f12" in text and "scrolllock" in text
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    assert kiosk("check-config", str(tmp_path / "config.yaml")).returncode == 0
