"""The kiosk command on databases it cannot simply open: a corrupt file, a read-only file
system (a dead kiosk's disk on another machine), another program's database; and the
messages of `kiosk enroll` and `kiosk set-pin` without a terminal."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from kiosk.store import RatingStore
from sync.protocol import event_hash
from tests.kiosk.cli_run import kiosk


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _db(config_file: Path) -> Path:
    return config_file.parent / "var" / "kiosk" / "kiosk.db"


def _recorded(path: Path, n: int) -> None:
    """``n`` ratings in a database closed cleanly (everything in the main file)."""
    store = RatingStore(path)
    for i in range(n):
        store.record("rating", {"level": "satisfied", "stars": 4, "window_id": "W-001", "n": i})
    store.close()


def _damage(path: Path, pages: range, at: int = 0, size: int = 500) -> None:
    """Overwrite ``size`` bytes at offset ``at`` of each page in ``pages`` (1-based)."""
    page_size = sqlite3.connect(path).execute("PRAGMA page_size").fetchone()[0]
    with open(path, "r+b") as f:
        for page in pages:
            f.seek(page_size * (page - 1) + at)
            f.write(b"\xff" * size)


def _page_count(path: Path) -> int:
    return sqlite3.connect(path).execute("PRAGMA page_count").fetchone()[0]


# ----------------------------------------------------------------------- defect 2: corrupt file
def test_export_of_a_corrupt_file_writes_every_readable_row_and_counts_the_others(config_file, tmp_path):
    # Why: docs/kiosk-store.md says a corrupt database moved aside can still be exported
    # with --db, but the first damaged page ("database disk image is malformed", or "Could
    # not decode to UTF-8 column 'type'") ended the export with a traceback and nothing
    # written, although nearly every row was intact: the unsent ratings of that kiosk were lost.
    db = _db(config_file)
    _recorded(db, 600)
    _damage(db, range(30, 31))
    usb = tmp_path / "usb"
    usb.mkdir()
    out = kiosk("export", "--config", str(config_file), "--db", str(db), "--to", str(usb))
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr and "could not be read" in out.stdout
    (folder,) = usb.iterdir()
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    events = [json.loads(line) for line in (folder / "events.jsonl").read_text(encoding="utf-8").splitlines()]
    lost = [seq for a, b in manifest["unreadable_seq_ranges"] for seq in range(a, b + 1)]
    assert 0 < manifest["unreadable_count"] == len(lost) < 50
    assert manifest["count"] == len(events) and manifest["count"] + len(lost) == 600
    assert sorted([e["seq"] for e in events] + lost) == list(range(1, 601))
    assert all(event_hash(e, e["prev_hash"]) == e["hash"] for e in events)
    assert not manifest["chain_ok"]                       # the gap shows
    assert f"{lost[0]}" in out.stdout


def test_export_of_a_file_with_no_readable_row_fails_in_one_line(config_file, tmp_path):
    # Why: when nothing at all can be read, the command must say so in one line and fail
    # (not a traceback, not an empty export that looks like a kiosk without ratings).
    db = _db(config_file)
    _recorded(db, 300)
    _damage(db, range(13, _page_count(db) + 1), size=4096)   # every page past the schema's
    usb = tmp_path / "usb"
    usb.mkdir()
    out = kiosk("export", "--config", str(config_file), "--db", str(db), "--to", str(usb))
    assert out.returncode == 1, out.stdout
    assert "Traceback" not in out.stderr and str(db) in out.stderr, out.stderr
    assert list(usb.iterdir()) == []


def test_status_of_a_corrupt_file_is_one_line_not_a_traceback(config_file):
    # Why: `kiosk status` is the technician's first look at a broken kiosk; a traceback
    # told them nothing, the line names the file and how to save what it holds.
    db = _db(config_file)
    _recorded(db, 600)
    _damage(db, range(30, 31))
    out = kiosk("status", "--config", str(config_file))
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert "kiosk export --db" in out.stderr


# ---------------------------------------------------------------- defect 2b: the log of recovery
def test_a_corrupt_database_moved_aside_is_logged_with_the_file_the_error_and_the_stream(
        tmp_path, caplog):
    # Why: `kiosk run` moved a corrupt database aside and started a new stream without a
    # word in its log: the technician reading the journal never learnt where the old
    # ratings went.
    db = tmp_path / "kiosk.db"
    _recorded(db, 3)
    db.write_bytes(b"not a database any more" * 200)
    with caplog.at_level(logging.ERROR, logger="kiosk.store"):
        store = RatingStore(db)
    moved = store.recovered_from["moved_to"]
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    store.close()
    assert len(lines) == 1, lines
    assert moved in lines[0] and store.stream_id in lines[0] and "not a database" in lines[0]


# ------------------------------------------------------------ defect 8: a read-only file system
def _read_only_prefix(folder: Path) -> tuple[str, ...]:
    """The command prefix that runs a command with ``folder`` mounted read-only (a private
    mount namespace: root and unshare), or () after making it unwritable with chmod (the
    closest a user can get; root ignores it, hence the skip)."""
    if os.geteuid() == 0:
        unshare = shutil.which("unshare")
        probe = unshare and subprocess.run([unshare, "-m", "true"], capture_output=True)
        if not probe or probe.returncode != 0:
            pytest.skip("unshare -m is not available to mount a folder read-only")
        script = f'mount --bind "{folder}" "{folder}" && mount -o remount,ro,bind "{folder}" "{folder}" && exec "$@"'
        return (unshare, "-m", "sh", "-c", script, "sh")
    for path in sorted(folder.rglob("*"), reverse=True) + [folder]:
        path.chmod(path.stat().st_mode & ~0o222)
    return ()


@pytest.fixture
def unwritable(tmp_path):
    yield tmp_path
    for path in [tmp_path, *tmp_path.rglob("*")]:
        if path.exists():
            path.chmod(path.stat().st_mode | 0o200)


def test_status_and_export_read_a_database_on_a_read_only_file_system(config_file, unwritable):
    # Why: docs/operations.md has the technician take a dead kiosk's disk to another machine
    # and run `kiosk export --config …`; mounted read-only (as a rescue disk often is), both
    # `kiosk status` and the export failed with "unable to open database file".
    db = _db(config_file)
    _recorded(db, 20)
    usb = unwritable.parent / f"{unwritable.name}-usb"
    usb.mkdir()
    before = db.read_bytes()
    prefix = _read_only_prefix(config_file.parent)
    out = kiosk("status", "--config", str(config_file), "--json", prefix=prefix)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["events"] == 20
    out = kiosk("export", "--config", str(config_file), "--to", str(usb), prefix=prefix)
    assert out.returncode == 0, out.stderr
    (folder,) = usb.iterdir()
    assert json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["count"] == 20
    assert db.read_bytes() == before


def test_a_read_only_database_that_cannot_be_read_in_place_says_so_and_suggests_db(
        config_file, unwritable):
    # Why: a kiosk that died mid-run leaves its newest events in the -wal file; read-only,
    # without its -shm, SQLite cannot open it in place. The command must say "read-only"
    # and point to --db (which reads a copy), not "unable to open database file".
    db = _db(config_file)
    _recorded(db, 5)
    code = ("import os, sys; from kiosk.store import RatingStore\n"
            "s = RatingStore(sys.argv[1]); s.record('rating', {'level': 'satisfied'}); os._exit(0)")
    subprocess.run([sys.executable, "-c", code, str(db)], check=True)
    db.with_name("kiosk.db-shm").unlink()
    assert db.with_name("kiosk.db-wal").stat().st_size > 0
    prefix = _read_only_prefix(config_file.parent)
    for command in ("status", "export"):
        extra = ("--to", str(unwritable)) if command == "export" else ()
        out = kiosk(command, "--config", str(config_file), *extra, prefix=prefix)
        assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
        assert "read-only" in out.stderr and "--db" in out.stderr, out.stderr


# ------------------------------------------------- defect 9 (kiosk side): another program's file
def test_an_aggregator_database_as_kiosk_db_is_named_and_left_untouched(config_file, tmp_path):
    # Why: an aggregator's database copied in as kiosk.db gave "migrating failed: table
    # events already exists" (after switching the file to WAL mode): say what the file is.
    db = _db(config_file)
    db.parent.mkdir(parents=True)
    conn = sqlite3.connect(db)
    conn.executescript("""
        CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY);
        CREATE TABLE events (id TEXT PRIMARY KEY, device_id TEXT, stream_id TEXT, seq INTEGER,
                             type TEXT, payload TEXT, prev_hash TEXT, hash TEXT);
        CREATE TABLE ratings (id TEXT PRIMARY KEY, level TEXT);
        INSERT INTO schema_migrations VALUES (1);""")
    conn.close()
    before = db.read_bytes()
    (tmp_path / "usb").mkdir()
    for args in (("status",), ("export", "--to", str(tmp_path / "usb"))):
        out = kiosk(*args, "--config", str(config_file))
        assert out.returncode == 1, out.stdout
        assert "not a kiosk database" in out.stderr and "aggregator" in out.stderr, out.stderr
    assert db.read_bytes() == before and not db.with_name("kiosk.db-wal").exists()


# --------------------------------------------------------------- defect 12a/12b: the messages
def test_enroll_to_a_closed_port_says_connection_refused(config_file):
    # Why: the reason came last in requests' message and was cut at 200 characters
    # ("…Failed to establish a new con…)"): the technician never saw "Connection refused".
    out = kiosk("enroll", "--config", str(config_file), "--server", f"http://127.0.0.1:{free_port()}",
                "--code", "ABC-DEF-GHJ")
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "Connection refused" in out.stderr, out.stderr


def test_set_pin_piped_without_a_terminal_sets_it_without_pythons_warning(config_file):
    # Why: without a terminal, getpass printed Python's GetPassWarning and "Password input
    # may be echoed" before the command's own words (start_new_session: no /dev/tty here).
    out = kiosk("set-pin", "--config", str(config_file), stdin="135790\n135790\n")
    assert out.returncode == 0, out.stderr
    assert "Warning" not in out.stderr + out.stdout, out.stderr
    from kiosk.config import load_config
    from kiosk.pin import check_pin

    assert check_pin("135790", load_config(config_file).technician.pin_hash)


def test_set_pin_with_nothing_piped_says_to_use_a_terminal_or_pipe_it(config_file):
    out = kiosk("set-pin", "--config", str(config_file), stdin="")
    assert out.returncode == 2 and "Warning" not in out.stderr, out.stderr
    assert "terminal" in out.stderr and "--pin-stdin" in out.stderr
