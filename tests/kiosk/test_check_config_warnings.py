"""`kiosk check-config` and `kiosk run` warn of PINs anyone may know: the factory technician
PIN 000000 (no hash set) and the sample roster's demo PINs (1234, 5678, printed in
config.yaml). The deployment guide copies config.yaml to /etc/kiosk, and check-config said
"OK" to it: a kiosk went into a hall whose maintenance panel (export of every phone number,
exit to desktop) opened with 000000."""

from __future__ import annotations

import logging

import pytest

from kiosk import cli
from kiosk.pin import hash_pin
from kiosk.technician import factory_pin, panel_warning_rows, weak_pin_hash
from tests.kiosk.cli_run import ROOT, kiosk

STRONG = hash_pin("246810")


def _hall_config(tmp_path, technician: str = STRONG, staff_hash: str = STRONG):
    path = tmp_path / "config.yaml"
    path.write_text("window: {id: W-9, unit_id: U-9}\n"
                    f"technician:\n  pin_hash: '{technician}'\n"
                    "roster:\n"
                    f"  - {{staff_id: S-1, name: 王芳, staff_no: '0001', pin_hash: '{staff_hash}'}}\n",
                    encoding="utf-8")
    return path


def test_the_sample_config_passes_with_warnings_of_the_factory_pin_and_the_demo_pins():
    out = kiosk("check-config", str(ROOT / "config.yaml"))
    assert out.returncode == 0 and "OK" in out.stdout and "3 warning(s) above" in out.stdout
    lines = [line for line in out.stderr.splitlines() if ": warning: " in line]
    factory = next(line for line in lines if "technician.pin_hash" in line)
    # Chinese first, the English after it, like the kiosk's other bilingual messages
    assert factory.index("出厂密码 000000") < factory.index("factory PIN 000000")
    assert "line 47: technician.pin_hash" in factory and "kiosk set-pin" in factory
    assert any("line 70: roster[0].pin_hash 是演示密码" in line and "demo salt" in line
               and "kiosk set-pin --staff 0007" in line for line in lines), lines
    assert any("line 80: roster[1].pin_hash" in line and "--staff 0012" in line for line in lines)


def test_a_hall_config_with_its_own_pins_has_no_pin_warning(tmp_path):
    out = kiosk("check-config", str(_hall_config(tmp_path)))
    assert out.returncode == 0 and "warning" not in out.stderr + out.stdout, out.stderr


def test_a_pin_hash_made_with_few_iterations_is_warned_of(tmp_path):
    weak = hash_pin("1357", iterations=1000)
    out = kiosk("check-config", str(_hall_config(tmp_path, staff_hash=weak)))
    assert out.returncode == 0 and "1 warning(s) above" in out.stdout
    assert "roster[0].pin_hash 只用了 1,000 次迭代" in out.stderr
    assert "fewer than 10,000" in out.stderr and "kiosk set-pin --staff 0001" in out.stderr


def test_weak_pin_hash_tells_demo_salt_and_few_iterations():
    demo = "pbkdf2_sha256$1000$64656d6f2d73616c742d303030377878$" + "0" * 64
    assert weak_pin_hash(demo) == "demo_salt"
    assert weak_pin_hash(hash_pin("1234", iterations=9_999)) == "few_iterations"
    assert weak_pin_hash(hash_pin("1234", iterations=10_000)) is None
    assert weak_pin_hash("") is None and factory_pin("") and not factory_pin(STRONG)


def test_kiosk_run_logs_one_warning_for_the_factory_pin(tmp_path, monkeypatch, caplog):
    # The app itself is not started: what `kiosk run` says before it is.
    import kiosk.launch

    monkeypatch.setattr(kiosk.launch, "run_app", lambda cfg: 0)
    path = _hall_config(tmp_path, technician="")
    with caplog.at_level(logging.INFO):
        assert cli.main(["run", "--config", str(path)]) == 0
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "factory PIN 000000" in warnings[0].getMessage()

    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert cli.main(["run", "--config", str(_hall_config(tmp_path))]) == 0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("lang, label, text", [("zh_CN", "技术员密码", "出厂密码 000000"),
                                               ("en", "Technician PIN", "factory PIN 000000")])
def test_the_technician_panel_has_a_row_while_the_factory_pin_is_in_use(lang, label, text):
    from kiosk.i18n import Translator

    tr = Translator(lang)
    rows = dict(panel_warning_rows(tr, pin_hash="", invite=None))
    assert text in rows[label]
    assert panel_warning_rows(tr, pin_hash=STRONG, invite=None) == []
