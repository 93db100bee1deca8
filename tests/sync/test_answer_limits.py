"""Every answer is read within a size cap and every request within a deadline.

Why it matters: the client read each answer whole into memory, whatever its size: a 400 MB
"photo" from a broken proxy raised the kiosk app's memory from 41 to 846 MB (a 1–2 GB hall
tablet dies of that). And the request timeout applied to each socket read only: an answer
trickled a byte a second never timed out, the worker hung in it with no heartbeat, and
``stop()`` could not end it. Now a too-large answer is refused (up front when its
Content-Length says so), and a request past its deadline fails as retryable.
"""

from __future__ import annotations

import hashlib
import time

import pytest

from kiosk.store import RatingStore
from sync.client import SyncClient
from sync.credentials import Credentials
from sync.errors import BadAnswer, ServerUnavailable
from sync.worker import SyncWorker

from .conftest import UNIT
from .fakeserver import FakeServer, json_answer, now_text

MAX_PHOTO_BYTES = 2 * 1024 * 1024   # sync/client.py: the server's photo upload limit
MAX_ANSWER_BYTES = 256 * 1024       # sync/client.py: a heartbeat's or batch's answer
SHA = hashlib.sha256(b"never sent").hexdigest()
CONFIG = {"etag": "e1", "version": 1, "window": {"id": "W-1", "name": "窗口"},
          "roster": [{"staff_id": "S-1", "name": "王芳", "photo": SHA}]}


def _trickle(seconds: float):
    """One byte every 0.1 s for ``seconds`` at most (then the server gives up)."""
    for _ in range(int(seconds / 0.1)):
        yield b" "


@pytest.fixture
def kiosk(tmp_path):
    store = RatingStore(tmp_path / "kiosk.db")
    creds = Credentials.generate(store.device_id)
    creds.window_id = "W-1"
    yield store, creds
    store.close()


def _serve(answer, delay=0.0):
    return FakeServer(answer, delay=delay).start()


@pytest.mark.parametrize("declared", [True, False], ids=["content_length", "no_length"])
def test_a_photo_over_the_cap_is_refused_and_the_config_still_applied(kiosk, declared):
    store, creds = kiosk
    huge = MAX_PHOTO_BYTES + 1

    def answer(method, path, body):
        if path == "/api/v1/config":
            return json_answer(CONFIG)
        headers = {"Content-Type": "image/png"}
        if declared:
            headers["Content-Length"] = str(huge)
            return 200, headers, (b"\0" * (1 << 20) for _ in range(3))
        return 200, headers, (b"\0" * (1 << 16) for _ in range(huge // (1 << 16) + 2))

    server = _serve(answer)
    try:
        client = SyncClient(server.url, store, creds, timeout=5)
        pulled = client.pull_config()
    finally:
        server.close()
    assert pulled["status"] == "applied" and pulled["photos_fetched"] == 0
    assert f"over the {MAX_PHOTO_BYTES}" in pulled["photos_failed"] or \
        f"more than {MAX_PHOTO_BYTES}" in pulled["photos_failed"]
    assert not client.photos.has(SHA)


def test_a_heartbeat_answer_over_the_cap_is_refused_before_it_is_read(kiosk):
    store, creds = kiosk
    server = _serve(lambda m, p, b: (200, {"Content-Length": str(40 << 20)},
                                     (b"\0" * (1 << 20) for _ in range(40))))
    try:
        client = SyncClient(server.url, store, creds, timeout=5)
        started = time.monotonic()
        with pytest.raises(BadAnswer, match=f"over the {MAX_ANSWER_BYTES}"):
            client.heartbeat()
        assert time.monotonic() - started < 3
    finally:
        server.close()


def test_a_trickled_answer_fails_at_the_deadline(kiosk):
    store, creds = kiosk
    server = _serve(lambda m, p, b: (200, {"Content-Type": "application/json"}, _trickle(15)),
                    delay=0.1)
    try:
        client = SyncClient(server.url, store, creds, timeout=0.5)
        assert client.deadline == pytest.approx(1.5)
        started = time.monotonic()
        with pytest.raises(ServerUnavailable, match=r"came too slowly \(under 32768 bytes in 1.5 s\)"):
            client.heartbeat()
        assert time.monotonic() - started < 1.5 + 0.5 + 0.5
    finally:
        server.close()


def test_a_slow_but_steady_photo_is_read_whole(kiosk):
    # A fixed deadline for the whole answer (3 × timeout) refused a 2 MiB photo on any link
    # slower than ~370 kbit/s, and every retry began again from zero: the photo never came.
    # Here 256 KiB come in 40 KiB steps every 0.4 s, ~2.6 s in all, past 3 × 0.5 s.
    store, creds = kiosk
    body = bytes(range(256)) * 1024
    sha = hashlib.sha256(body).hexdigest()

    def answer(method, path, payload):
        if path == "/api/v1/config":
            return json_answer(dict(CONFIG, roster=[dict(CONFIG["roster"][0], photo=sha)]))
        return 200, {"Content-Type": "image/png"}, (body[i:i + 40960]
                                                    for i in range(0, len(body), 40960))

    server = _serve(answer, delay=0.4)
    try:
        client = SyncClient(server.url, store, creds, timeout=0.5)
        started = time.monotonic()
        pulled = client.pull_config()
        assert time.monotonic() - started > client.deadline
    finally:
        server.close()
    assert pulled["status"] == "applied" and pulled["photos_fetched"] == 1, pulled
    assert client.photos.has(sha)


def test_the_worker_stops_within_the_deadline_while_an_answer_trickles(kiosk):
    store, creds = kiosk
    store.record("rating", {"level": "satisfied", "stars": 4, "scale": 5, "channel": 4,
                            "window_id": "W-1", "unit_id": UNIT, "flags": []})

    def answer(method, path, body):
        if path == "/api/v1/batches":
            return 200, {"Content-Type": "application/json"}, _trickle(15)
        return json_answer({"server_time": now_text()})

    server = _serve(answer, delay=0.1)
    creds.server_url = server.url
    try:
        worker = SyncWorker(store.path, creds, timeout=0.5, interval=3600).start()
        deadline = time.monotonic() + 5
        while server.count("/api/v1/batches") == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.count("/api/v1/batches") == 1
        started = time.monotonic()
        assert worker.stop(timeout=4), "the worker still hangs in the trickled answer"
        assert time.monotonic() - started < 1.5 + 0.5 + 0.5
    finally:
        server.close()
