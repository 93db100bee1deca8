"""The short version of every reliability scenario (tools/reliability.py runs the long ones):
each must lose nothing, duplicate nothing and draw no 5xx. Plus the bugs these runs found."""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys

import pytest

from tests.reliability import (
    attacks,
    bad_input,
    clocks,
    corrupt_db,
    disk_full,
    kiosk_crash,
    manipulation,
    network,
    server_crash,
    soak,
)
from tests.reliability.harness import REPO, LiveServer


@pytest.mark.timeout(600)
def test_kiosk_sigkilled_in_record_freeze_send_and_ack_loses_and_doubles_nothing(
        tmp_path, assert_row):
    assert_row(kiosk_crash.run(30, workdir=tmp_path))


@pytest.mark.timeout(900)
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_server_sigkilled_during_ingest_shows_no_partial_batch_and_loses_nothing(
        tmp_path, assert_row, pg_url, backend):
    if backend == "postgresql" and not pg_url:
        pytest.skip("AGGREGATOR_TEST_PG_URL is not set (run tests/aggregator/start_pg.sh)")
    [row] = server_crash.run(10, pg_url=pg_url, workdir=tmp_path, backends=(backend,))
    assert_row(row)


@pytest.mark.timeout(600)
def test_five_hundred_network_faults_leave_exactly_the_kiosks_events(tmp_path, assert_row):
    assert_row(network.run(500, workdir=tmp_path))


def test_wrong_and_jumping_clocks_lose_nothing_and_date_nothing_in_the_future(
        tmp_path, assert_row):
    assert_row(clocks.run(200, workdir=tmp_path))


def test_full_disk_refuses_the_rating_keeps_the_past_and_resumes(tmp_path, assert_row):
    assert_row(disk_full.run_kiosk(3, workdir=tmp_path))


def test_full_server_disk_answers_503_storage_full_and_loses_nothing(tmp_path, assert_row):
    # It answered 500 "internal server error" with a traceback in the log: the kiosks kept
    # their batches, but nobody could tell a full disk from a bug, and nothing said to wait.
    assert_row(disk_full.run_server(2, workdir=tmp_path))


def test_corrupt_database_is_moved_aside_exported_imported_and_alerted(tmp_path, assert_row):
    assert_row(corrupt_db.run(300, workdir=tmp_path))


@pytest.mark.timeout(900)
def test_fuzzed_and_malformed_input_never_gets_a_5xx_and_errors_name_the_problem(
        tmp_path, assert_row):
    assert_row(bad_input.run(20, workdir=tmp_path))


def test_attacks_are_refused_and_keep_what_was_stored(tmp_path, assert_row):
    assert_row(attacks.run(50, workdir=tmp_path))


def test_stuffing_is_flagged_alerted_excluded_and_never_deleted(tmp_path, assert_row):
    assert_row(manipulation.run(60, workdir=tmp_path))


@pytest.mark.timeout(600)
def test_kiosk_app_under_continuous_taps_and_syncs_keeps_memory_and_fds_flat(
        tmp_path, assert_row):
    assert_row(soak.run(60, workdir=tmp_path))


# ------------------------------------------------------------------ bugs found by these runs

def test_export_of_a_moved_aside_database_leaves_the_live_identity_and_the_file_alone(tmp_path):
    # It used to matter: `kiosk export --db kiosk.db.corrupt-…` opened the moved file as a
    # store, which rewrote device.json beside it with the OLD stream id (and could write into
    # the evidence file). The live kiosk's identity file then named a dead stream, so a second
    # recovery would report the wrong old stream.
    from kiosk.store import RatingStore
    from tests.reliability.corrupt_db import _wreck_index

    db = tmp_path / "kiosk.db"
    s = RatingStore(db)
    for _ in range(20):
        s.record("rating", {"level": "satisfied"})
    s.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    s.close()
    _wreck_index(db)
    fresh = RatingStore(db)
    moved = fresh.recovered_from["moved_to"]
    live_stream = fresh.stream_id
    fresh.close()
    before = hashlib.sha256(open(moved, "rb").read()).hexdigest()
    (tmp_path / "config.yaml").write_text("")
    (tmp_path / "usb").mkdir()
    r = subprocess.run([sys.executable, "-m", "kiosk.cli", "export", "--config",
                        str(tmp_path / "config.yaml"), "--db", moved, "--to",
                        str(tmp_path / "usb")], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert "exported 20 events" in r.stdout
    assert json.loads((tmp_path / "device.json").read_text())["stream_id"] == live_stream
    assert hashlib.sha256(open(moved, "rb").read()).hexdigest() == before
    assert not list(tmp_path.glob("kiosk.db.corrupt-*-wal"))  # not even opened in place


def test_client_hanging_up_mid_body_is_not_a_server_error(tmp_path):
    # It matters: every kiosk killed or cut off mid-upload (power cut, network drop) would
    # otherwise show up as a server error, drowning real 5xx alarms in noise.
    import time

    with LiveServer(tmp_path / "a.db") as srv:
        for _ in range(3):
            with socket.create_connection(("127.0.0.1", srv.port)) as s:
                s.sendall(b"POST /api/v1/batches HTTP/1.1\r\nHost: x\r\n"
                          b"Content-Type: application/json\r\nContent-Length: 100000\r\n"
                          b"X-Device-Id: d\r\n\r\n" + b"{" * 1000)
                time.sleep(0.2)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not srv.counter.orphan_5xx:
            time.sleep(0.05)
        assert srv.counter.orphan_5xx == [] and srv.counter.count_5xx == 0
