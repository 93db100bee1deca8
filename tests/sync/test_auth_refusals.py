"""Only a final refusal (revoked, unknown device, a key that does not verify) stops sync; any
other 401/403 is retried after a while, and the heartbeat still goes out.

Why it matters: every JSON 401/403 with an ``error`` string stopped the kiosk's sync until
someone pressed "sync now": a proxy that strips a signing header (``missing_header``), a WAF's
JSON 403, a code of a newer server. The ratings piled up on a kiosk that was never revoked.
"""

from __future__ import annotations

import time

import pytest

from kiosk.store import RatingStore
from sync.backoff import Backoff
from sync.client import SyncClient
from sync.credentials import Credentials
from sync.errors import NotAuthorised, SyncError
from sync.worker import SyncWorker

from .conftest import UNIT
from .fakeserver import FakeServer, json_answer, now_text


@pytest.fixture
def store(tmp_path):
    s = RatingStore(tmp_path / "kiosk.db")
    yield s
    s.close()


def _client(store, url):
    creds = Credentials.generate(store.device_id)
    creds.window_id, creds.server_url = "W-1", url
    return SyncClient(url, store, creds)


@pytest.mark.parametrize("status, code", [
    (401, "missing_header"), (401, "bad_timestamp"), (401, "bad_nonce"),
    (403, "window_forbidden"), (403, "blocked_by_waf"), (401, "some_future_code"),
])
def test_a_refusal_that_may_pass_is_retryable(store, status, code):
    server = FakeServer(lambda m, p, b: json_answer({"error": code, "detail": "x"}, status)).start()
    try:
        with pytest.raises(SyncError) as err:
            _client(store, server.url).heartbeat()
    finally:
        server.close()
    assert not isinstance(err.value, NotAuthorised)
    assert err.value.retryable and err.value.code == code
    assert err.value.retry_after and err.value.retry_after >= 60   # a long wait, not a hammering


@pytest.mark.parametrize("code", ["device_revoked", "unknown_device", "bad_signature"])
def test_a_final_refusal_stops(store, code):
    server = FakeServer(lambda m, p, b: json_answer({"error": code, "detail": "x"}, 401)).start()
    try:
        with pytest.raises(NotAuthorised) as err:
            _client(store, server.url).heartbeat()
    finally:
        server.close()
    assert not err.value.retryable and err.value.code == code


def test_the_worker_keeps_going_through_a_wafs_403_and_sends_heartbeats(store):
    store.record("rating", {"level": "satisfied", "stars": 4, "scale": 5, "channel": 4,
                            "window_id": "W-1", "unit_id": UNIT, "flags": []})

    def answer(method, path, body):
        if path == "/api/v1/batches":
            return json_answer({"error": "request_blocked", "detail": "WAF rule 942100"}, 403)
        return json_answer({"server_time": now_text()})

    server = FakeServer(answer).start()
    creds = Credentials.generate(store.device_id)
    creds.window_id, creds.server_url = "W-1", server.url
    worker = SyncWorker(store.path, creds, interval=3600,
                        backoff=Backoff(base=0.01, cap=0.05, max_retry_after=0.05)).start()
    try:
        deadline = time.monotonic() + 10
        while server.count("/api/v1/batches") < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert worker.is_alive(), worker.status()
        assert server.count("/api/v1/batches") >= 3   # retried, not stopped
        assert server.count("/api/v1/heartbeat") >= 1
        assert "request_blocked" in worker.status()["last_error"]
    finally:
        assert worker.stop(timeout=10)
        server.close()
    assert store.pending_count() == 1
