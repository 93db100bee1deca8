"""The kiosk command: status, export, set-pin, and its error exits."""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys

import pytest

from kiosk.config import load_config
from kiosk.pin import check_pin
from kiosk.store import RatingStore
from tests.kiosk.cli_run import kiosk


@pytest.fixture
def recorded(config_file):
    """A kiosk database beside the config with three events, one of them acked."""
    store = RatingStore(config_file.parent / "var" / "kiosk" / "kiosk.db")
    for level in ("satisfied", "very_dissatisfied", "very_satisfied"):
        store.record("rating", {"level": level, "flags": [], "staff_id": "S-0007"})
    batch = store.freeze_batch(max_events=1)
    store.mark_acked(batch["id"], [e["id"] for e in store.batch_events(batch["id"])])
    yield store
    store.close()


def test_help_lists_the_commands():
    out = kiosk("--help")
    assert out.returncode == 0
    for command in ("run", "check-config", "status", "export", "set-pin", "simulate"):
        assert command in out.stdout


def test_unknown_command_exits_2():
    out = kiosk("fly")
    assert out.returncode == 2 and "invalid choice" in out.stderr


def test_status_shows_pending_and_last_ack(config_file, recorded):
    out = kiosk("status", "--config", str(config_file), "--json")
    assert out.returncode == 0, out.stderr
    status = json.loads(out.stdout)
    assert status["device_id"] == recorded.device_id
    assert (status["events"], status["pending"]) == (3, 2) and status["last_ack"]


def test_status_without_database_says_so(config_file):
    out = kiosk("status", "--config", str(config_file))
    assert out.returncode == 1 and "no kiosk database yet" in out.stderr


def test_export_writes_jsonl_csv_and_a_verifiable_manifest(config_file, recorded, tmp_path):
    usb = tmp_path / "usb"
    usb.mkdir()
    out = kiosk("export", "--config", str(config_file), "--to", str(usb))
    assert out.returncode == 0, out.stderr
    (folder,) = usb.iterdir()
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert (manifest["count"], manifest["first_seq"], manifest["last_seq"]) == (3, 1, 3)
    assert manifest["chain_ok"] and manifest["chain_head"] == recorded.chain_head()[1]
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest
    lines = (folder / "events.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["payload"]["level"] for line in lines] == [
        "satisfied", "very_dissatisfied", "very_satisfied"]
    with open(folder / "events.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["stars"] for r in rows] == ["", "", ""] and rows[1]["level"] == "very_dissatisfied"
    assert rows[0]["acked_at"] and not rows[2]["acked_at"]


def test_export_to_missing_folder_fails_clearly(config_file, recorded, tmp_path):
    out = kiosk("export", "--config", str(config_file), "--to", str(tmp_path / "no-usb"))
    assert out.returncode == 1 and "is not a folder" in out.stderr


def test_set_pin_updates_the_technician_hash_and_keeps_comments(config_file):
    out = kiosk("set-pin", "--config", str(config_file), "--pin-stdin", stdin="135790\n")
    assert out.returncode == 0, out.stderr
    cfg = load_config(config_file)
    assert check_pin("135790", cfg.technician.pin_hash)
    assert "# technician PIN hash" in config_file.read_text(encoding="utf-8")


def test_set_pin_for_a_staff_member(config_file):
    out = kiosk("set-pin", "--config", str(config_file), "--staff", "0012", "--pin-stdin", stdin="8642\n")
    assert out.returncode == 0, out.stderr
    cfg = load_config(config_file)
    assert check_pin("8642", cfg.roster[1]["pin_hash"]) and check_pin("1234", cfg.roster[0]["pin_hash"])


@pytest.mark.parametrize("pin", ["12", "abcd", "1234567890123"])
def test_set_pin_refuses_bad_pins_and_changes_nothing(config_file, pin):
    before = config_file.read_text(encoding="utf-8")
    out = kiosk("set-pin", "--config", str(config_file), "--pin-stdin", stdin=pin + "\n")
    assert out.returncode == 2 and "4 to 12 digits" in out.stderr
    assert config_file.read_text(encoding="utf-8") == before


def test_bad_config_exits_2_naming_the_key(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text("storage:\n  data_dir: 5\n  size: 1\n", encoding="utf-8")
    out = kiosk("status", "--config", str(bad))
    assert out.returncode == 2 and "line 3: storage.size is not a known setting" in out.stderr


def test_set_pin_replaces_the_config_whole_and_keeps_its_mode(config_file):
    # The config was rewritten in place: a power cut in the middle left a config.yaml the
    # kiosk could not start from. Now a new file takes the old one's place in one rename.
    config_file.chmod(0o640)
    before = config_file.stat()
    out = kiosk("set-pin", "--config", str(config_file), "--pin-stdin", stdin="246810\n")
    assert out.returncode == 0, out.stderr
    after = config_file.stat()
    assert after.st_ino != before.st_ino and after.st_mode & 0o777 == 0o640
    assert [p.name for p in config_file.parent.iterdir() if p.name.endswith(".tmp")] == []
    assert check_pin("246810", load_config(config_file).technician.pin_hash)


# Found by probing the CLI: each of these was a traceback, a wrong exit code, a PIN nobody
# can type, a made-up kiosk exported, or a half-written file left behind.

def test_set_pin_refuses_digits_the_keypad_cannot_type(config_file):
    before = config_file.read_text(encoding="utf-8")
    out = kiosk("set-pin", "--config", str(config_file), "--pin-stdin", stdin="１２３４\n")
    assert out.returncode == 2 and "0-9" in out.stderr
    assert config_file.read_text(encoding="utf-8") == before


def test_set_pin_without_a_terminal_says_how(config_file):
    out = subprocess.run([sys.executable, "-m", "kiosk.cli", "set-pin", "--config", str(config_file)],
                         capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert out.returncode == 2 and "--pin-stdin" in out.stderr and "Traceback" not in out.stderr


def test_two_exports_in_one_second_make_two_folders(config_file, recorded, tmp_path):
    usb = tmp_path / "usb"
    usb.mkdir()
    for _ in range(3):
        out = kiosk("export", "--config", str(config_file), "--to", str(usb))
        assert out.returncode == 0, out.stderr
    assert len(list(usb.iterdir())) == 3


@pytest.mark.parametrize("kind, says", [("empty", "is empty, not a kiosk database"),
                                        ("folder", "is not a file, not a kiosk database"),
                                        ("garbage", "garbage.db:")])
def test_export_db_that_is_not_a_kiosk_database_is_named(config_file, tmp_path, kind, says):
    path = tmp_path / f"{kind}.db"
    if kind == "folder":
        path.mkdir()
    else:
        path.write_bytes(b"" if kind == "empty" else b"random bytes, not SQLite" * 100)
    (tmp_path / "usb").mkdir()
    out = kiosk("export", "--config", str(config_file), "--to", str(tmp_path / "usb"),
                "--db", str(path))
    assert out.returncode == 1 and says in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert "kiosk-export-" not in out.stderr   # the file given, not the scratch copy read
    assert list((tmp_path / "usb").iterdir()) == []


def test_enroll_with_a_broken_url_is_an_error_not_a_traceback(config_file):
    out = kiosk("enroll", "--config", str(config_file), "--server", "http://[::1", "--code", "X")
    assert out.returncode != 0 and "Traceback" not in out.stderr and "not a URL" in out.stderr


def test_simulate_with_a_bad_count_exits_2(tmp_path):
    out = kiosk("simulate", "--server", "http://127.0.0.1:9", "--devices", "-1")
    assert out.returncode == 2 and "--devices must be at least 1" in out.stderr


def test_an_atomic_write_that_fails_leaves_no_temp_file(tmp_path):
    from sync.files import write_atomic

    target = tmp_path / "device.json"
    target.mkdir()   # a folder where the file belongs: the rename fails
    with pytest.raises(OSError):
        write_atomic(target, b"{}")
    assert [p.name for p in tmp_path.iterdir()] == ["device.json"]


def test_an_export_to_a_full_stick_leaves_nothing_half_written(config_file, recorded, tmp_path):
    from tests.reliability.disk_full import _fill, _mount_tmpfs

    stick = tmp_path / "stick"
    why_not = _mount_tmpfs(stick, "1m")
    if why_not:
        pytest.skip(why_not)
    try:
        _fill(stick)
        out = kiosk("export", "--config", str(config_file), "--to", str(stick))
        assert out.returncode == 1 and "nothing was left there" in out.stderr, out.stderr
        assert sorted(p.name for p in stick.iterdir()) == ["filler.bin"]
    finally:
        subprocess.run(["umount", str(stick)], check=False)


def test_status_of_an_empty_database_file_says_so_and_writes_nothing(config_file):
    db = config_file.parent / "var" / "kiosk" / "kiosk.db"
    db.parent.mkdir(parents=True)
    db.touch()
    out = kiosk("status", "--config", str(config_file))
    assert out.returncode == 1 and "is empty, not a kiosk database" in out.stderr
    assert db.stat().st_size == 0 and not (db.parent / "device.json").exists()


@pytest.mark.parametrize("text", ["", "\n", "# nothing here yet\n"])
def test_check_config_refuses_a_file_that_sets_nothing(tmp_path, text):
    # An empty config.yaml passed check-config: the kiosk then ran in the hall as the demo
    # window W-001 of unit U-001, without a server, and its ratings reached no one.
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    out = kiosk("check-config", str(path))
    assert out.returncode == 2 and "OK" not in out.stdout
    assert "sets nothing" in out.stderr and "window.id, window.unit_id" in out.stderr


def test_check_config_warns_of_window_and_unit_left_at_the_demo_defaults(tmp_path):
    # A file that sets only the look of the window gave "OK" for a kiosk counting its
    # ratings for the demo window and unit.
    path = tmp_path / "config.yaml"
    path.write_text("window:\n  name: 社保窗口\n", encoding="utf-8")
    out = kiosk("check-config", str(path))
    assert out.returncode == 0 and "3 warning(s)" in out.stdout   # and the factory PIN's
    assert "window.id 未设置，正在使用演示默认值 'W-001'" in out.stderr
    assert "window.id is not set: the demo default 'W-001' is used" in out.stderr
    assert "window.unit_id is not set: the demo default 'U-001' is used" in out.stderr


def test_check_config_takes_config_like_the_other_commands(config_file):
    # `kiosk status --config F` but `kiosk check-config --config F` was "unrecognized
    # arguments": the same file had to be given two ways. The positional form still works.
    for args in (["--config", str(config_file)], [str(config_file)],
                 [str(config_file), "--config", str(config_file)]):
        out = kiosk("check-config", *args)
        assert out.returncode == 0 and f"{config_file}: OK" in out.stdout, out.stderr
    two = kiosk("check-config", str(config_file), "--config", "/etc/kiosk/other.yaml")
    assert two.returncode == 2 and "two files given" in two.stderr


def test_set_pin_for_staff_refuses_on_an_enrolled_kiosk_whose_roster_comes_from_the_server(
        config_file):
    # The server's roster replaces the config file's at every pull: a staff PIN set here
    # worked until the next sync, then that person could not sign in and nobody knew why.
    folder = config_file.parent / "var" / "kiosk"
    folder.mkdir(parents=True)
    (folder / "enrolment.json").write_text(json.dumps({
        "device_id": "kiosk-1", "server_url": "http://10.0.0.5:8700", "window_id": "W-001",
        "unit_id": "U-001", "enrolled_at": "2026-12-01T00:00:00+00:00"}), encoding="utf-8")
    before = config_file.read_text(encoding="utf-8")
    out = kiosk("set-pin", "--config", str(config_file), "--staff", "0012", "--pin-stdin",
                stdin="8642\n")
    assert out.returncode == 2 and "http://10.0.0.5:8700" in out.stderr and "密码" in out.stderr
    assert config_file.read_text(encoding="utf-8") == before
    # the technician's PIN is the kiosk's own, enrolled or not
    out = kiosk("set-pin", "--config", str(config_file), "--pin-stdin", stdin="135790\n")
    assert out.returncode == 0, out.stderr


def test_export_of_a_given_database_needs_no_config_file(tmp_path):
    # A technician reads a dead kiosk's database on a laptop that has no kiosk config:
    # `kiosk export --db … --to …` stopped with "config.yaml" not found, though the file
    # given is all the command reads.
    from kiosk.store import RatingStore

    (tmp_path / "dead").mkdir()
    store = RatingStore(tmp_path / "dead" / "kiosk.db")
    ids = [store.record("rating", {"level": "satisfied", "stars": 4})["id"] for _ in range(3)]
    store.close()
    usb, elsewhere = tmp_path / "usb", tmp_path / "laptop"
    usb.mkdir()
    elsewhere.mkdir()
    out = subprocess.run([sys.executable, "-m", "kiosk.cli", "export", "--db",
                          str(tmp_path / "dead" / "kiosk.db"), "--to", str(usb)],
                         capture_output=True, text=True, cwd=elsewhere)
    assert out.returncode == 0, out.stderr
    (folder,) = usb.iterdir()
    exported = [json.loads(line)["id"] for line in
                (folder / "events.jsonl").read_text(encoding="utf-8").splitlines()]
    assert exported == ids
