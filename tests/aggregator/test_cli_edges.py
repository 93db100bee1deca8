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
