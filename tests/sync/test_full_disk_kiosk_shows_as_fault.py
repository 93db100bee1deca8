"""A real kiosk whose database is full, as the server sees it: a fault on the device list and
an alert from the hourly scan, both over once it records again (fleet.recording_fault)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from aggregator import alerts
from aggregator.db import utcnow, write
from aggregator.schema import alerts as alerts_table
from kiosk.errors import StoreFullError
from kiosk.store import RatingStore
from sync.client import SyncClient
from sync.credentials import Credentials
from sync.heartbeat import heartbeat_read_only


def _status(engine, device_id):
    """The device's status as the dashboard's device list (and ``aggregator devices``) has it."""
    from aggregator.dashboard.devices import list_devices

    with engine.connect() as conn:
        return next(d for d in list_devices(conn, {"U-SYNC"}, utcnow(), 24)
                    if d["id"] == device_id)["status"]


def _fault_alerts(engine):
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(alerts_table).where(
            alerts_table.c.kind == "device_fault")).mappings()]


def test_a_kiosk_whose_store_is_full_is_a_fault_with_an_alert_until_it_records(
        aggregator_server, make_kiosk):
    # The kiosk's own words, not a test's: its store refuses a rating with a StoreFullError
    # (SQLite's SQLITE_FULL, here from a page limit standing for a full disk) and its
    # read-only heartbeat names it. The device list called such a kiosk "online" and the
    # scan raised nothing, while every press there got "please try again".
    kiosk = make_kiosk()
    kiosk.record(2)
    pages = kiosk.store.conn.execute("PRAGMA page_count").fetchone()[0]
    kiosk.store.conn.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(StoreFullError) as refused:
        kiosk.record(200)
    kiosk.store.close()
    heartbeat_read_only(kiosk.home / "kiosk.db", refused.value, clock=kiosk.clock)

    assert _status(aggregator_server.engine, kiosk.store.device_id) == "fault"
    with write(aggregator_server.engine) as conn:
        assert [a["kind"] for a in alerts.scan(conn, utcnow())] == ["device_fault"]
    alert, = _fault_alerts(aggregator_server.engine)
    assert '"problem": "disk_full"' in alert["detail_args"]

    # room again: the kiosk reopens its database and its worker's heartbeat has no error
    store = RatingStore(kiosk.home / "kiosk.db", clock=kiosk.clock)
    try:
        store.record("rating", {"level": "satisfied", "stars": 4, "scale": 5, "channel": 4,
                                "window_id": "W-S1", "unit_id": "U-SYNC", "flags": []})
        SyncClient(aggregator_server.url, store, Credentials.load(kiosk.home), timeout=5,
                   clock=kiosk.clock).heartbeat()
    finally:
        store.close()
    assert _status(aggregator_server.engine, kiosk.store.device_id) == "online"
    with write(aggregator_server.engine) as conn:
        alerts.scan(conn, utcnow())
    assert _fault_alerts(aggregator_server.engine)[0]["resolved_at"] is not None
