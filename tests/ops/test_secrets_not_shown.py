"""What an operator's journal receives holds no database password and no citizen's data."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest

from tests.aggregator.device import Device
from tests.ops.helpers import ROOT, free_port, setup_org

SECRET = "S3cretPw"


@pytest.mark.parametrize("url", [
    f"mysql://agg:{SECRET}@db.example/agg",                  # a backend not supported
    f"postgresql://agg:{SECRET}@db.example:54x2/agg",        # a URL that does not parse
    f"postgresql://agg@127.0.0.1:1/agg?password={SECRET}",   # password as a parameter
])
@pytest.mark.parametrize("given", ["--database", "AGGREGATOR_DATABASE_URL"])
def test_a_mistyped_database_url_is_shown_without_its_password(url, given):
    # The whole URL went into the error message (repr of an unparsable one, `?password=`
    # left as it was), and from there into the service's journal, which more people read
    # than know the database password.
    env = dict(os.environ, AGGREGATOR_SECRET="s", PYTHONPATH=str(ROOT))
    env.pop("AGGREGATOR_DATABASE_URL", None)
    argv = ["--database", url] if given == "--database" else []
    if given != "--database":
        env["AGGREGATOR_DATABASE_URL"] = url
    for command in (["migrate"], ["serve", "--port", str(free_port())], ["devices"]):
        out = subprocess.run([sys.executable, "-m", "aggregator", *command, *argv], cwd=ROOT,
                             env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode in (1, 2), (command, out.stderr)
        assert "database" in out.stderr and "Traceback" not in out.stderr, out.stderr
        assert SECRET not in out.stderr + out.stdout, (command, out.stderr)
        assert "***" in out.stderr, out.stderr


def test_a_database_error_logs_no_value_of_the_rating(tmp_path, processes):
    # An unexpected database error (SQLITE_READONLY, a constraint bug) was logged with the
    # statement's parameters: the citizen's callback phone number and comment went into the
    # log, kept and shipped far beyond who may see them.
    url = f"sqlite:///{tmp_path / 'agg.db'}"
    code = setup_org(url, 1)[0]
    db = sqlite3.connect(tmp_path / "agg.db")
    db.execute("CREATE TRIGGER boom BEFORE INSERT ON events "
               "BEGIN SELECT RAISE(ABORT, 'simulated fault'); END")
    db.commit()
    db.close()
    base, proc = processes.aggregator(url, workers=1)
    d = Device(base)
    assert d.enroll(code).status_code == 200
    rating = d.rating("very_dissatisfied")
    follow_up = d.event("follow_up", {"rating_id": rating["id"], "reasons": ["attitude"],
                                      "phone": "13987654321", "callback_consent": True,
                                      "comment": "窗口人员态度恶劣"})
    assert d.post_batch([rating, follow_up]).status_code == 500
    processes.stop_all()
    log = proc.log.read_text(errors="replace")
    assert "simulated fault" in log   # the error itself is logged
    assert "13987654321" not in log and "态度恶劣" not in log


def test_hiding_a_password_leaves_a_url_without_one_and_the_words_after_it():
    # The first pattern read "host:port … mail@domain" later on the line as user:password@,
    # and printed "postgresql://db.example:***@example.gov.cn)".
    from aggregator.db import hide_password

    text = "postgresql://db.example:5432/agg (ask ops@example.gov.cn)"
    assert hide_password(text) == text
    assert hide_password("postgresql://agg:p@ss/w@db/agg") == "postgresql://agg:***@db/agg"
