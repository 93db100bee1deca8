"""The heartbeat of a kiosk whose database cannot be written (a full disk)."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from kiosk.errors import StoreFullError
from sync.errors import NotEnrolled
from sync.heartbeat import heartbeat_read_only


def _files(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.iterdir()) if p.is_file()}


def test_a_kiosk_that_cannot_write_still_tells_the_server_why(aggregator_server, make_kiosk):
    # With a full disk no sync worker runs: the server only saw the kiosk fall silent, and the
    # dashboard could not say that its disk was full. The heartbeat goes from a read-only view
    # and writes nothing on the kiosk, not even the clock offset it learns.
    kiosk = make_kiosk()
    kiosk.record(3)
    kiosk.clock.offset = timedelta(hours=2)
    kiosk.store.close()
    before = _files(kiosk.home)
    problem = StoreFullError(f"{kiosk.home / 'kiosk.db'}: database or disk is full")

    reply = heartbeat_read_only(kiosk.home / "kiosk.db", problem, clock=kiosk.clock)

    assert "server_time" in reply
    beat = aggregator_server.device(kiosk.store.device_id)["last_heartbeat"]
    assert beat["pending"] == 3
    assert "cannot be written" in beat["last_error"] and "disk is full" in beat["last_error"]
    assert isinstance(beat["disk_free_bytes"], int)
    assert _files(kiosk.home) == before


def test_a_kiosk_never_enrolled_sends_nothing(tmp_path):
    from kiosk.store import RatingStore

    RatingStore(tmp_path / "kiosk.db").close()
    with pytest.raises(NotEnrolled):
        heartbeat_read_only(tmp_path / "kiosk.db", StoreFullError("disk is full"))
