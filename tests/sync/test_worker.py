"""SyncWorker: its own store in its own thread, woken by notify, backing off, stopping."""

from __future__ import annotations

from sync.worker import SyncWorker

from .conftest import wait_for


def test_worker_drains_on_notify_and_stops_cleanly(aggregator_server, make_kiosk, fast_backoff):
    kiosk = make_kiosk()
    results = []
    worker = SyncWorker(kiosk.store.path, kiosk.client.credentials, interval=3600,
                        on_result=results.append, backoff=fast_backoff).start()
    assert wait_for(lambda: worker.status()["state"] == "idle")
    recorded = kiosk.record(1234)  # the UI thread records on its own connection
    worker.notify()
    assert wait_for(lambda: kiosk.store.pending_count() == 0)
    assert wait_for(lambda: worker.status()["pending"] == 0)
    assert worker.stop(timeout=10)
    assert not worker.is_alive()
    status = worker.status()
    assert status["state"] == "stopped" and status["authorised"] is True
    assert status["last_result"] == "ok" and status["next_try_in"] is None
    assert status["acked"] >= 1234
    server_ids = {e["id"] for e in aggregator_server.events(kiosk.store.device_id)}
    assert {e["id"] for e in recorded} <= server_ids
    assert results and all(isinstance(r, dict) for r in results)
    # The worker pulled the config into the shared database and sent a heartbeat.
    assert kiosk.store.device_config()[0]["window"]["id"] == kiosk.client.credentials.window_id
    assert aggregator_server.device(kiosk.store.device_id)["last_heartbeat"] is not None


def test_worker_backs_off_through_faults_then_recovers(aggregator_server, make_kiosk, proxy,
                                                        fast_backoff):
    kiosk = make_kiosk(url=proxy.url)
    kiosk.record(10)
    proxy.queue("503", "429", "captive", "drop")
    states = []
    worker = SyncWorker(kiosk.store.path, kiosk.client.credentials, server_url=proxy.url,
                        interval=3600, backoff=fast_backoff,
                        on_result=lambda s: states.append(s["state"])).start()
    try:
        assert wait_for(lambda: kiosk.store.pending_count() == 0 and
                        worker.status()["state"] == "idle")
    finally:
        assert worker.stop(timeout=10)
    assert states.count("backoff") == 4
    assert states[-1] == "idle"
    assert fast_backoff.failures == 0  # reset by the success
    assert len(aggregator_server.events(kiosk.store.device_id)) == 10 + 1  # + config_applied


def test_revoked_device_stops_the_worker_and_keeps_every_event(aggregator_server, make_kiosk,
                                                               fast_backoff):
    kiosk = make_kiosk()
    kiosk.record(3)
    kiosk.client.upload_once()
    aggregator_server.admin.revoke(kiosk.store.device_id)
    kiosk.record(5)
    worker = SyncWorker(kiosk.store.path, kiosk.client.credentials, interval=3600,
                        backoff=fast_backoff).start()
    assert wait_for(lambda: not worker.is_alive())
    status = worker.status()
    assert status["state"] == "not_authorised" and status["authorised"] is False
    assert "device_revoked" in status["last_error"]
    assert kiosk.store.pending_count() == 5
    assert len(aggregator_server.events(kiosk.store.device_id)) == 3
    assert worker.stop(timeout=1)


def test_worker_without_credential_reports_not_enrolled(tmp_path, fast_backoff):
    from kiosk.store import RatingStore

    RatingStore(tmp_path / "kiosk.db").close()
    worker = SyncWorker(tmp_path / "kiosk.db", None, backoff=fast_backoff).start()
    assert wait_for(lambda: not worker.is_alive())
    assert worker.status()["state"] == "not_enrolled"
    assert "kiosk enroll" in worker.status()["last_error"]


def test_sync_now_asked_on_the_dashboard_reaches_the_worker_once(aggregator_server, make_kiosk,
                                                                  fast_backoff):
    import datetime as dt

    from aggregator.dashboard.devices import request_sync_now
    from aggregator.db import write

    kiosk = make_kiosk()
    assert "sync_now" not in kiosk.client.heartbeat()
    with write(aggregator_server.engine) as conn:
        request_sync_now(conn, kiosk.store.device_id, dt.datetime.now(dt.timezone.utc), "jfb")
    assert kiosk.client.heartbeat().get("sync_now") is True
    assert "sync_now" not in kiosk.client.heartbeat()  # delivered once

    # The worker acts on it: the heartbeat that carries the flag makes it pull the config at
    # once, which it would otherwise do only every config_every seconds (an hour here).
    worker = SyncWorker(kiosk.store.path, kiosk.client.credentials, interval=3600,
                        config_every=3600, heartbeat_every=0, backoff=fast_backoff).start()
    assert wait_for(lambda: worker.status()["state"] == "idle")
    version = kiosk.store.device_config()[0]["version"]
    window_id = kiosk.client.credentials.window_id
    aggregator_server.admin.save("windows", [{"id": window_id, "name": "改名后的窗口",
                                              "unit_id": "U-SYNC"}])
    with write(aggregator_server.engine) as conn:
        request_sync_now(conn, kiosk.store.device_id, dt.datetime.now(dt.timezone.utc), "jfb")
    worker.notify()  # one ordinary cycle: no config pull is due, but its heartbeat gets the flag
    assert wait_for(lambda: kiosk.store.device_config()[0]["version"] != version)
    assert kiosk.store.device_config()[0]["window"]["name"] == "改名后的窗口"
    assert worker.stop(timeout=10)
    device = aggregator_server.device(kiosk.store.device_id)
    assert device["last_heartbeat"]["config_version"] is not None


def test_worker_deletes_what_the_server_holds_after_keep_days_and_nothing_else(
        aggregator_server, make_kiosk, fast_backoff):
    # Retention on a running kiosk: the worker deletes acknowledged events once they are
    # older than keep_days, and only those. The server still holds every one, exactly once.
    from datetime import timedelta

    from kiosk.store import RatingStore

    kiosk = make_kiosk()
    recorded = kiosk.record(1234)
    worker = SyncWorker(kiosk.store.path, kiosk.client.credentials, interval=3600,
                        config_every=3600, heartbeat_every=3600, keep_days=30, prune_every=0,
                        backoff=fast_backoff,
                        store_factory=lambda p: RatingStore(p, check=False, clock=kiosk.clock))
    worker.start()
    try:
        assert wait_for(lambda: kiosk.store.pending_count() == 0)
        assert wait_for(lambda: worker.status()["state"] == "idle")
        assert kiosk.store.chain_start()[0] == 0  # acknowledged today: kept

        kiosk.clock.offset = timedelta(days=30, hours=1)
        recorded += kiosk.record(3)
        worker.notify()
        assert wait_for(lambda: kiosk.store.pending_count() == 0
                        and kiosk.store.chain_start()[0] > 0)
        assert wait_for(lambda: worker.status()["state"] == "idle")
    finally:
        assert worker.stop(timeout=10)
    kept = [e["seq"] for e in kiosk.store.iter_events()]
    # Everything acknowledged a month ago is gone; the three new ratings (acknowledged just
    # now) are kept, and the chain verifies from where it was cut.
    assert kiosk.store.chain_start()[0] == kept[0] - 1 <= len(recorded) + 1 - 3
    assert kiosk.store.verify_chain() == (True, len(kept), None)
    assert {e["id"] for e in recorded[-3:]} <= {e["id"] for e in kiosk.store.iter_events()}
    on_server = [e["id"] for e in aggregator_server.events(kiosk.store.device_id)]
    assert len(on_server) == len(set(on_server))
    assert {e["id"] for e in recorded} <= set(on_server)


def test_the_worker_syncs_with_the_server_it_was_enrolled_to(aggregator_server, make_kiosk):
    # config.yaml's sync.server still named the old server after `kiosk enroll --server` to a
    # new one: every batch went where this kiosk's key is unknown, and the ratings piled up.
    kiosk = make_kiosk()
    kiosk.record(5)
    worker = SyncWorker(kiosk.store.path, kiosk.client.credentials,
                        server_url="http://127.0.0.1:9", interval=3600).start()
    try:
        assert wait_for(lambda: kiosk.store.pending_count() == 0)
    finally:
        assert worker.stop(timeout=10)


def test_worker_stuck_behind_a_proxys_413_still_sends_its_heartbeat(aggregator_server, make_kiosk,
                                                                    proxy, fast_backoff):
    # A proxy's body limit keeps a one-event batch in the outbox (it is not the server's own
    # refusal, so it is not quarantined). A failed upload skipped the heartbeat, so the
    # dashboard saw a silent device with 0 pending, not the backlog and the error.
    kiosk = make_kiosk(url=proxy.url)
    kiosk.record(4)
    proxy.chooser = lambda info: "413html" if info.path == "/api/v1/batches" else "pass"
    worker = SyncWorker(kiosk.store.path, kiosk.client.credentials, server_url=proxy.url,
                        interval=3600, heartbeat_every=0.2, backoff=fast_backoff).start()
    try:
        def beat():
            return aggregator_server.device(kiosk.store.device_id)["last_heartbeat"] or {}
        assert wait_for(lambda: (beat().get("pending") or 0) >= 4 and "413" in (beat().get("last_error") or ""))
        assert kiosk.store.quarantined() == []
        proxy.chooser = None  # the proxy's limit raised: everything goes
        assert wait_for(lambda: kiosk.store.pending_count() == 0)
    finally:
        proxy.chooser = None
        assert worker.stop(timeout=10)


def test_a_new_enrolment_while_the_refused_worker_ends_is_not_lost(aggregator_server, make_kiosk,
                                                                   fast_backoff):
    # The app asks a worker it sees alive to reload its credential. A worker refused (here:
    # revoked) that was ending at that instant dropped the ask: the kiosk, just enrolled
    # again, did not sync until a restart. Now the worker goes round once more, or says it
    # will not (False), and the app starts a new one, as KioskApp._enrolled does.
    from kiosk.store import RatingStore
    from sync.client import SyncClient

    kiosk = make_kiosk()
    kiosk.record(2)
    kiosk.client.upload_once()
    aggregator_server.admin.revoke(kiosk.store.device_id)
    taps = kiosk.record(3)
    workers, asked = [], []

    def on_result(status):
        if status["state"] == "not_authorised" and not asked:
            store = RatingStore(kiosk.store.path)
            try:
                SyncClient(aggregator_server.url, store, timeout=10).enroll(
                    aggregator_server.admin.call("POST", "/api/v1/enroll-codes", {
                        "window_id": kiosk.client.credentials.window_id,
                        "device_id": kiosk.store.device_id})["code"])
            finally:
                store.close()
            worker = workers[0]   # what the app does, inside the window before the end
            asked.append(worker.is_alive() and worker.reload_credentials())
            if asked[0] is False:
                workers.append(SyncWorker(kiosk.store.path, None, interval=3600,
                                          backoff=fast_backoff).start())

    workers.append(SyncWorker(kiosk.store.path, None, interval=3600, backoff=fast_backoff,
                              on_result=on_result))
    workers[0].start()
    try:
        assert wait_for(lambda: {t["id"] for t in taps} <= {
            e["id"] for e in aggregator_server.events(kiosk.store.device_id)})
        assert asked == [True]   # inside on_result the thread has not ended: it goes round
        assert workers[0].is_alive() and len(workers) == 1
    finally:
        for w in workers:
            assert w.stop(timeout=10)


def test_a_retired_worker_sends_what_its_database_holds_and_ends(aggregator_server, make_kiosk,
                                                                 fast_backoff):
    # The worker of a database moved aside as corrupt while the kiosk ran (its connection
    # still reads the moved file) was stopped at once: the file's thanked but unsent ratings
    # reached the server only by a technician's USB export. Retired, it sends them and ends;
    # the new database's worker pulls the config and sends the heartbeats, not this one.
    kiosk = make_kiosk()
    recorded = kiosk.record(50)
    results = []
    worker = SyncWorker(kiosk.store.path, kiosk.client.credentials, interval=3600,
                        on_result=results.append, backoff=fast_backoff)
    assert worker.retire()
    worker.start()
    assert wait_for(lambda: not worker.is_alive())
    assert kiosk.store.pending_count() == 0
    server_ids = {e["id"] for e in aggregator_server.events(kiosk.store.device_id)}
    assert {e["id"] for e in recorded} <= server_ids
    assert aggregator_server.device(kiosk.store.device_id)["last_heartbeat"] is None
    assert kiosk.store.device_config() == (None, None)
    assert results == [] and worker.status()["state"] == "stopped"
