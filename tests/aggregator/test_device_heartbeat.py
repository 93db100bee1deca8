"""What the server keeps of a kiosk's heartbeat, and the device lists that read it back.

A heartbeat was stored as its JSON cut at 8,000 characters. One heartbeat with a long unknown
key (the protocol allows unknown keys, in a body of up to 64 KiB), or a 2,000-character
``last_error`` of control characters (each escaped to six in JSON), left invalid JSON in
``devices.last_heartbeat``, and the Devices page, ``GET /api/v1/devices`` and
``aggregator devices`` answered 500 to everyone whose scope held that kiosk.
"""

from __future__ import annotations

import requests
from sqlalchemy import select, update

from aggregator import fleet
from aggregator.db import read, utcnow, write
from aggregator.schema import devices


def _listed(server, device_id: str) -> dict:
    r = requests.get(f"{server.url}/api/v1/devices", headers=server.admin, timeout=10)
    assert r.status_code == 200, r.text
    return next(d for d in r.json() if d["id"] == device_id)


def _fleet_row(server, device_id: str) -> dict:
    with read(server.engine) as conn:   # what the Devices page and `aggregator devices` list
        rows = fleet.devices(conn, utcnow(), server.settings)
    return next(d for d in rows if d["id"] == device_id)


def test_a_long_unknown_key_is_not_kept_and_the_lists_still_work(device, org_setup):
    r = device.post_json("/api/v1/heartbeat", {"pending": 3, "notes": "x" * 9000})
    assert r.status_code == 200, r.text
    assert _listed(org_setup, device.id)["last_heartbeat"] == {"pending": 3}
    assert _fleet_row(org_setup, device.id)["backlog"] == 3


def test_a_last_error_of_control_characters_is_kept_whole(device, org_setup):
    error = "\x1b\r" * 1000   # 2,000 characters, the limit; 12,000 once escaped in JSON
    r = device.post_json("/api/v1/heartbeat", {"pending": 5, "last_error": error})
    assert r.status_code == 200, r.text
    assert _listed(org_setup, device.id)["last_heartbeat"]["last_error"] == error
    row = _fleet_row(org_setup, device.id)
    assert (row["backlog"], row["last_error"]) == (5, error)


def test_a_heartbeat_already_stored_cut_breaks_no_list(device, org_setup):
    # Rows cut by older servers are in real databases: reading one must not fail the list
    # for every other kiosk; the kiosk shows no heartbeat figures until its next heartbeat.
    with write(org_setup.engine) as conn:
        conn.execute(update(devices).where(devices.c.id == device.id).values(
            last_heartbeat='{"pending": 7, "last_error": "\\u001b\\r\\u001b'))
    assert _listed(org_setup, device.id)["last_heartbeat"] is None
    row = _fleet_row(org_setup, device.id)
    assert row["backlog"] is None and row["last_error"] is None
    assert device.post_json("/api/v1/heartbeat", {"pending": 2}).status_code == 200
    assert _fleet_row(org_setup, device.id)["backlog"] == 2


def test_stored_fields_of_the_wrong_type_are_left_out(device, org_setup):
    # A row from before the fields were checked (or NaN, refused since) is read without
    # them: the page compares and formats these numbers, the JSON API cannot send NaN.
    with write(org_setup.engine) as conn:
        conn.execute(update(devices).where(devices.c.id == device.id).values(
            last_heartbeat='{"pending": "12", "clock_offset_s": NaN, "db_bytes": 4096}'))
        stored = conn.execute(select(devices.c.last_heartbeat)
                              .where(devices.c.id == device.id)).scalar()
    assert "NaN" in stored
    assert _listed(org_setup, device.id)["last_heartbeat"] == {"db_bytes": 4096}
    row = _fleet_row(org_setup, device.id)
    assert row["backlog"] is None and row["clock_offset_s"] is None


def test_fleet_doctests_pass():
    import doctest

    assert doctest.testmod(fleet).failed == 0
