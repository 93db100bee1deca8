"""The aggregator command's error exits, found by probing it: each was a traceback, or work
done somewhere it would be lost (an empty --database wrote ./var/aggregator.db, an in-memory
one lost a new user the moment the command ended)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def aggregator(*argv, stdin=subprocess.DEVNULL, cwd=None, env=None):
    return subprocess.run([sys.executable, "-m", "aggregator", *argv], capture_output=True,
                          text=True, stdin=stdin, cwd=cwd or ROOT, env=env, timeout=120)


@pytest.mark.parametrize("url, says", [
    ("", "--database is empty"),
    ("sqlite://", "in-memory database"),
    ("sqlite:///:memory:", "in-memory database"),
    ("postgresql+asyncpg://h/x", "needs the Python module 'asyncpg'"),
    ("sqlite:////proc/no-such/x.db", "aggregator migrate: "),
])
def test_a_database_the_command_cannot_use_is_named(tmp_path, url, says):
    out = aggregator("migrate", "--database", url, cwd=tmp_path)
    assert out.returncode in (1, 2) and says in out.stderr and "Traceback" not in out.stderr, \
        out.stderr
    assert not (tmp_path / "var").exists()


def test_set_password_without_a_terminal_says_how(tmp_path):
    url = f"sqlite:///{tmp_path / 'a.db'}"
    out = aggregator("set-password", "--database", url, "--username", "nobody")
    assert out.returncode == 2 and "--password-stdin" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


def test_a_password_that_is_not_text_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'a.db'}"
    assert aggregator("migrate", "--database", url).returncode == 0
    out = subprocess.run([sys.executable, "-m", "aggregator", "create-user", "--database", url,
                          "--username", "x", "--role", "admin", "--password-stdin"],
                         input=b"\xff\xfe a long password\n", capture_output=True, cwd=ROOT,
                         timeout=120)
    assert out.returncode == 2 and b"valid UTF-8" in out.stderr and b"Traceback" not in out.stderr


def test_demo_months_are_bounded():
    out = aggregator("demo", "--months", "100000")
    assert out.returncode == 2 and "at most 120" in out.stderr


def test_piping_enroll_code_into_head_is_not_a_traceback(tmp_path):
    url = f"sqlite:///{tmp_path / 'a.db'}"
    assert aggregator("demo", "--database", url, "--months", "1").returncode == 0
    out = subprocess.run(f"{sys.executable} -m aggregator enroll-code --database {url} "
                         "--window W-002 | head -c 1", shell=True, capture_output=True,
                         text=True, cwd=ROOT, timeout=120)
    assert "Traceback" not in out.stderr and "BrokenPipe" not in out.stderr, out.stderr


def test_commands_do_not_make_a_database_of_their_own_and_demo_keeps_off_a_real_one(tmp_path):
    # Without --database, `scan-alerts` (from cron), `create-user` and `revoke-device` made a
    # new empty ./var/aggregator.db and reported success on it; `demo` on a working database
    # renamed its windows, added made-up ratings and walked its cases on.
    for args in (["scan-alerts"], ["revoke-device", "--device", "k1"],
                 ["enroll-code", "--window", "W-001"]):
        out = subprocess.run([sys.executable, "-m", "aggregator", *args], capture_output=True,
                             text=True, cwd=tmp_path, timeout=120)
        assert out.returncode == 2 and "no aggregator database at" in out.stderr, (args, out.stderr)
    assert not (tmp_path / "var" / "aggregator.db").exists()
    url = f"sqlite:///{tmp_path / 'a.db'}"
    assert aggregator("demo", "--database", url, "--months", "1").returncode == 0
    again = aggregator("demo", "--database", url, "--months", "1")
    assert again.returncode == 2 and "already holds" in again.stderr


def test_an_empty_database_variable_is_named_as_the_variable(tmp_path):
    # AGGREGATOR_DATABASE_URL= (set but empty) was reported as "--database is empty", an
    # option the operator never typed.
    import os

    env = dict(os.environ, AGGREGATOR_DATABASE_URL="")
    out = aggregator("migrate", cwd=tmp_path, env=env)
    assert out.returncode == 2 and "AGGREGATOR_DATABASE_URL is empty" in out.stderr, out.stderr
    assert "--database" not in out.stderr.split(";")[0]
    assert not (tmp_path / "var").exists()


def test_a_bad_public_url_option_is_named_as_the_option(tmp_path):
    # `serve --public-url ftp://x` said "AGGREGATOR_PUBLIC_URL must be …"; the variable was
    # not even set.
    import os

    env = {k: v for k, v in os.environ.items() if k != "AGGREGATOR_PUBLIC_URL"}
    out = aggregator("serve", "--database", f"sqlite:///{tmp_path / 'a.db'}", "--public-url",
                     "ftp://x", env=env)
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith("aggregator serve: --public-url must be an http:// or https://")
    assert "AGGREGATOR_PUBLIC_URL" not in out.stderr


def test_create_user_without_a_terminal_says_only_its_own_line(tmp_path):
    # Without a terminal (cron, ssh without -t) getpass printed Python's GetPassWarning, its
    # source line and "Password input may be echoed" before the command's own message.
    url = f"sqlite:///{tmp_path / 'a.db'}"
    assert aggregator("migrate", "--database", url).returncode == 0
    out = subprocess.run([sys.executable, "-m", "aggregator", "create-user", "--database", url,
                          "--username", "x", "--role", "admin"], stdin=subprocess.DEVNULL,
                         capture_output=True, text=True, cwd=ROOT, timeout=120,
                         start_new_session=True)   # no controlling terminal
    assert out.returncode == 2 and "--password-stdin" in out.stderr, out.stderr
    assert out.stderr.count("\n") == 1 and "Warning" not in out.stderr, out.stderr


@pytest.mark.parametrize("command", ["devices", "scan-alerts"])
def test_an_empty_file_is_no_database_for_commands_that_read_one(tmp_path, command):
    # A 0-byte file (`touch`ed, or truncated) was migrated into a new database and reported as
    # an empty fleet or "no alerts": treated like a missing file, as these commands treat one.
    empty = tmp_path / "a.db"
    empty.touch()
    out = aggregator(command, "--database", f"sqlite:///{empty}")
    assert out.returncode == 2 and f"no aggregator database at {empty} (an empty file)" \
        in out.stderr, out.stderr
    assert empty.stat().st_size == 0
    # `migrate` (and `serve`) still make a new database there, as in a missing file
    assert aggregator("migrate", "--database", f"sqlite:///{empty}").returncode == 0
    assert aggregator(command, "--database", f"sqlite:///{empty}").returncode == 0


@pytest.mark.parametrize("command", ["migrate", "devices", "scan-alerts", "serve"])
def test_a_kiosk_database_is_named_as_not_an_aggregator_database(tmp_path, command):
    # A kiosk's database given by mistake said only "no such column: device_id".
    from kiosk.store import RatingStore

    RatingStore(tmp_path / "kiosk.db").close()
    before = (tmp_path / "kiosk.db").read_bytes()
    out = aggregator(command, "--database", f"sqlite:///{tmp_path / 'kiosk.db'}")
    assert out.returncode == 2 and "is not an aggregator database" in out.stderr, out.stderr
    assert "a kiosk database?" in out.stderr and "Traceback" not in out.stderr
    assert (tmp_path / "kiosk.db").read_bytes() == before


@pytest.mark.parametrize("given, says", [
    (".", "--output . is a folder"),
    ("", "--output is empty"),
    ("out", "--output out is a folder"),
    ("missing/x.csv", "--output missing/x.csv: folder missing does not exist"),
])
def test_export_ratings_checks_its_output_before_the_export(tmp_path, given, says):
    # "." and "" were a traceback (output.with_name); a folder was found only after the whole
    # export was computed, and the message named the hidden temporary file.
    url = f"sqlite:///{tmp_path / 'a.db'}"
    assert aggregator("migrate", "--database", url).returncode == 0
    (tmp_path / "out").mkdir()
    out = aggregator("export-ratings", "--database", url, "--from", "2026-11-01", "--to",
                     "2026-11-30", "--target", "national", "--output", given, cwd=tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.startswith(f"aggregator export-ratings: {says}"), out.stderr
    assert out.stderr.count("\n") == 1 and ".part" not in out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.db", "a.db.lock", "out"] \
        and list((tmp_path / "out").iterdir()) == []


def test_import_of_the_command_line_leaves_fastapi_out():
    # `aggregator --version` and every command took ~1.2 s importing FastAPI (through
    # aggregator/__init__.py), and Ctrl-C in that time was a KeyboardInterrupt traceback.
    out = subprocess.run([sys.executable, "-c", "import sys, aggregator.cli; "
                          "print('fastapi' in sys.modules)"], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert out.stdout.strip() == "False", out.stderr
    from aggregator import create_app  # still there for those who import it

    assert callable(create_app)


def test_ctrl_c_while_the_command_starts_is_not_a_traceback(tmp_path):
    # A SIGINT half a second after start, as the console script runs: the old start-up was
    # still importing FastAPI then and printed a KeyboardInterrupt traceback. A command done
    # sooner stops the timer: the alarm, landing in the interpreter's shutdown (its handlers
    # back to the default), killed the child (-14) on a busy machine.
    url = f"sqlite:///{tmp_path / 'a.db'}"
    assert aggregator("migrate", "--database", url).returncode == 0
    code = ("import signal, sys\n"
            "def interrupt(*_):\n    raise KeyboardInterrupt\n"
            "signal.signal(signal.SIGALRM, interrupt)\n"
            "signal.setitimer(signal.ITIMER_REAL, 0.5)\n"
            "from aggregator.cli import main\n"
            "code = None\n"
            "try:\n"
            f"    code = main(['devices', '--database', {url!r}])\n"
            "    signal.setitimer(signal.ITIMER_REAL, 0)\n"
            "except KeyboardInterrupt:\n"
            "    if code is None:\n"
            "        raise   # main() let it through: what this test is about\n"
            "sys.exit(code)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         timeout=120)
    assert "Traceback" not in out.stderr, out.stderr
    assert out.returncode in (0, 130), out.stderr


def test_main_catches_ctrl_c_before_the_command_runs(monkeypatch, capsys):
    # the interrupt can land while the arguments are parsed or the modules load
    from aggregator import cli

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "parser", interrupted)
    try:
        code = cli.main(["--version"])
    except KeyboardInterrupt:
        pytest.fail("the interrupt went past main(): a traceback")
    assert code == 130
    assert capsys.readouterr().err == "aggregator: interrupted\n"
