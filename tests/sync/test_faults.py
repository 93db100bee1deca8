"""The client through hundreds of injected network faults, and per-event verdicts."""

from __future__ import annotations

import json
import random
import secrets
from datetime import datetime, timezone

import pytest
import requests

from sync.errors import SyncError
from sync.protocol import GENESIS_HASH, event_hash, signing_string
from tests.sync.conftest import WINDOWS

MIX = ("pass", "pass", "pass", "drop", "reset", "delay", "500", "502", "503", "429", "lose",
       "lose_reset", "truncate", "captive", "413", "413html", "twice")


def test_hundreds_of_faulted_rounds_leave_exactly_the_clients_events(
        aggregator_server, make_kiosk, proxy, fast_backoff):
    kiosk = make_kiosk(url=proxy.url, timeout=0.3)
    kiosk.client.batch_size = 8  # many batches, so faults hit batch boundaries and splits
    rng = random.Random(20261123)

    def choose(info):
        if info.path != "/api/v1/batches":
            return "pass"
        fault = rng.choice(MIX)
        if fault == "413" and (info.n_events or 0) < 2:
            fault = "503"  # a one-event batch refused as too large would be quarantined
        return fault

    proxy.chooser = choose
    failures = acks = 0
    for _ in range(300):
        kiosk.record(rng.randint(0, 3))
        try:
            kiosk.client.upload_once()
            fast_backoff.success()
            acks += 1
        except SyncError as exc:
            assert exc.retryable, exc  # no injected fault may stop the client
            failures += 1
            fast_backoff.failure(exc.retry_after)
    proxy.chooser = None
    assert proxy.wait_idle(30)  # late copies of delayed requests have reached the server
    kiosk.client.drain()

    seen = proxy.faults_seen()
    assert set(MIX) <= set(seen), seen  # every kind of fault really happened
    assert failures > 50 and acks > 50
    mine = [(e["id"], e["seq"], e["hash"]) for e in kiosk.store.iter_events()]
    server = [(e["id"], e["seq"], e["hash"]) for e in aggregator_server.events(kiosk.store.device_id)]
    assert server == mine                       # exactly the client's events, in seq order
    assert len({i for i, _, _ in server}) == len(server)  # no duplicates
    assert kiosk.store.pending_count() == 0
    assert kiosk.store.quarantined() == []
    assert len(mine) > 250


def _post_signed(url, creds, path, doc):
    body = json.dumps(doc).encode()
    ts = datetime.now(timezone.utc).isoformat()
    nonce = secrets.token_hex(16)
    sig = creds.sign(signing_string("POST", path, creds.device_id, ts, nonce, body))
    return requests.post(url + path, data=body, timeout=10, headers={
        "Content-Type": "application/json", "X-Device-Id": creds.device_id,
        "X-Timestamp": ts, "X-Nonce": nonce, "X-Signature": sig})


def test_conflicting_event_is_quarantined_and_the_rest_proceed(aggregator_server, make_kiosk):
    a = make_kiosk(WINDOWS[0], name="a")
    b = make_kiosk(WINDOWS[0], name="b")
    events = a.record(4)
    # Device b claims the id of a's third event first: same id, different content.
    forged = {k: events[2][k] for k in ("id", "type", "device_time", "boot_id", "mono_ns", "payload")}
    forged |= {"device_id": b.store.device_id, "stream_id": b.store.stream_id, "seq": 1,
               "prev_hash": GENESIS_HASH}
    forged["hash"] = event_hash(forged, GENESIS_HASH)
    r = _post_signed(aggregator_server.url, b.client.credentials, "/api/v1/batches", {
        "protocol": 1, "device_id": b.store.device_id,
        "batch_id": "6a0c3f0e-0000-4000-8000-000000000001", "events": [forged]})
    assert r.json()["results"][0]["status"] == "accepted", r.text

    result = a.client.upload_once()
    assert result.acked == 3
    assert list(result.quarantined) == [events[2]["id"]]
    assert result.quarantined[events[2]["id"]].startswith("conflict")
    [kept] = a.store.quarantined()
    assert kept["id"] == events[2]["id"] and kept["quarantine"].startswith("conflict")
    assert a.store.pending_count() == 0
    more = a.record(2)
    assert a.client.upload_once().acked == 2  # the outbox moves on
    stored = {e["id"] for e in aggregator_server.events(a.store.device_id)}
    assert stored == {e["id"] for e in events + more} - {events[2]["id"]}


def test_rejected_event_is_quarantined_with_the_reason(aggregator_server, make_kiosk):
    kiosk = make_kiosk(WINDOWS[0])
    good = kiosk.record(1)
    bad = kiosk.record(1, window_id=WINDOWS[1])  # not this device's window
    result = kiosk.client.upload_once()
    assert result.acked == 1
    assert "window" in result.quarantined[bad[0]["id"]]
    assert [e["id"] for e in kiosk.store.quarantined()] == [bad[0]["id"]]
    assert {e["id"] for e in aggregator_server.events(kiosk.store.device_id)} == {good[0]["id"]}


@pytest.mark.parametrize("fault", ["drop", "reset", "500", "502", "503", "captive", "lose"])
def test_every_single_fault_keeps_the_events_until_acked(aggregator_server, make_kiosk, proxy, fault):
    kiosk = make_kiosk(url=proxy.url)
    recorded = kiosk.record(3)
    proxy.queue(fault)
    with pytest.raises(SyncError) as err:
        kiosk.client.upload_once()
    assert err.value.retryable
    assert kiosk.store.pending_count() == 3
    assert kiosk.client.upload_once().acked == 3
    assert [e["id"] for e in aggregator_server.events(kiosk.store.device_id)] == \
        [e["id"] for e in recorded]
