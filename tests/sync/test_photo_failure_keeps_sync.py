"""A staff photo that cannot be fetched, or a config answer that is refused, no longer stops
the heartbeat nor slows the uploads.

Why it matters: one photo a proxy answered 502 for failed the whole config pull, and the
worker's cycle with it: not one heartbeat reached the server (the dashboard lost the device's
health) and every upload waited out a backoff growing to 15 minutes. A failed photo is now
shown as an avatar, the config is applied, and the photo is asked for again at the next pull.
"""

from __future__ import annotations

import io

import requests

from sync.backoff import Backoff
from sync.worker import SyncWorker

from .conftest import ADMIN_TOKEN, UNIT, wait_for


def _staff_photo(aggregator_server) -> str:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (60, 80), (200, 30, 40)).save(out, "PNG")
    sha = requests.post(aggregator_server.url + "/api/v1/photos", data=out.getvalue(),
                        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()["sha256"]
    aggregator_server.admin.save("staff", [{"id": "S-SYNC-1", "name": "王芳", "unit_id": UNIT,
                                            "badge": "10000001", "photo_sha256": sha}])
    return sha


def test_a_photo_that_fails_is_an_avatar_and_is_fetched_at_the_next_pull(
        aggregator_server, make_kiosk, proxy):
    sha = _staff_photo(aggregator_server)
    kiosk = make_kiosk(url=proxy.url)
    proxy.chooser = lambda info: "502" if info.path.startswith("/api/v1/photos/") else "pass"
    pulled = kiosk.client.pull_config()
    # The config is applied without the photo; the failure is named in the heartbeat's error.
    assert pulled["status"] == "applied" and pulled["photos_fetched"] == 0
    assert kiosk.store.device_config()[0]["roster"][0]["photo"] == sha
    assert not kiosk.client.photos.has(sha)
    assert sha in kiosk.client.last_error and "502" in kiosk.client.last_error
    # The next pull (304: the config did not change) asks for the missing photo again.
    proxy.chooser = None
    again = kiosk.client.pull_config()
    assert again["status"] == "unchanged" and again["photos_fetched"] == 1
    assert kiosk.client.photos.has(sha) and kiosk.client.last_error is None


def test_an_unfetchable_photo_lets_heartbeats_and_uploads_through(
        aggregator_server, make_kiosk, proxy):
    _staff_photo(aggregator_server)
    kiosk = make_kiosk(url=proxy.url)
    proxy.chooser = lambda info: "502" if info.path.startswith("/api/v1/photos/") else "pass"
    backoff = Backoff(base=0.05, cap=1.0, max_retry_after=1.0)
    worker = SyncWorker(kiosk.store.path, kiosk.client.credentials, server_url=proxy.url,
                        interval=0.1, heartbeat_every=0.3, config_every=0.3,
                        backoff=backoff).start()
    try:
        kiosk.record(3)
        worker.notify()
        assert wait_for(lambda: sum(p == "/api/v1/heartbeat" for _, p, _ in proxy.log) >= 2)
        assert wait_for(lambda: kiosk.store.pending_count() == 0)
        assert backoff.failures == 0   # the uploads never waited for the photo
        assert worker.status()["state"] != "backoff"
    finally:
        assert worker.stop(timeout=10)
    beat = aggregator_server.device(kiosk.store.device_id)["last_heartbeat"]
    assert "502" in beat["last_error"]
    assert kiosk.store.device_config()[0]["window"]["id"] == kiosk.client.credentials.window_id


def test_a_refused_config_still_lets_the_heartbeat_carry_the_error(
        aggregator_server, make_kiosk, proxy):
    kiosk = make_kiosk(url=proxy.url)
    # A captive portal's 200 page for the config only: refused, the last good config stays.
    proxy.chooser = lambda info: "captive" if info.path == "/api/v1/config" else "pass"
    backoff = Backoff(base=0.05, cap=1.0, max_retry_after=1.0)
    worker = SyncWorker(kiosk.store.path, kiosk.client.credentials, server_url=proxy.url,
                        interval=0.1, heartbeat_every=0.2, config_every=0.2,
                        backoff=backoff).start()
    try:
        kiosk.record(2)
        worker.notify()
        assert wait_for(lambda: (aggregator_server.device(kiosk.store.device_id)
                                 .get("last_heartbeat") or {}).get("last_error"))
        assert wait_for(lambda: kiosk.store.pending_count() == 0)
        assert backoff.failures == 0
    finally:
        assert worker.stop(timeout=10)
    beat = aggregator_server.device(kiosk.store.device_id)["last_heartbeat"]
    assert "config" in beat["last_error"]
    assert kiosk.store.device_config() == (None, None)
