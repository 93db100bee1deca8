"""A batch answer that leaves events unlisted is a retryable failure, and the events stay in
their frozen batch.

Why it matters: an answer echoing the batch but listing none of its events (``"results": []``)
or listing them under a status this client does not know (a newer server's ``deferred``) was
taken as a success with 0 acked: the events went back to the outbox, were frozen into a new
batch at once, and the worker resent them about 670 times a second, for ever, with no backoff
and no error shown (a new batch row each time). Now it is a ``BadAnswer`` naming how many are
unlisted and the worker backs off; the events stay in the outbox and are sent again (in a
new frozen batch: ``RatingStore.mark_acked`` returns unlisted events to the outbox).
"""

from __future__ import annotations

import json
import time

import pytest
import requests

from sync.backoff import Backoff
from sync.client import SyncClient
from sync.errors import BadAnswer
from sync.worker import SyncWorker


class RewritingSession(requests.Session):
    """Passes requests to the real server; ``rewrite(results)`` changes a batch answer's
    results list (None: unchanged). Keeps the batch bodies it sent."""

    def __init__(self, rewrite=None) -> None:
        super().__init__()
        self.rewrite = rewrite
        self.bodies: list[bytes] = []

    def request(self, method, url, *args, **kwargs):
        resp = super().request(method, url, *args, **kwargs)
        if url.endswith("/api/v1/batches"):
            self.bodies.append(kwargs.get("data"))
            if self.rewrite is not None and resp.status_code == 200:
                doc = json.loads(resp.content)
                doc["results"] = self.rewrite(doc["results"])
                resp._content = json.dumps(doc).encode()
        return resp


def _batch_rows(store) -> int:
    return store.conn.execute("SELECT count(*) FROM batches").fetchone()[0]


@pytest.mark.parametrize("rewrite", [lambda r: [],
                                     lambda r: [dict(x, status="deferred") for x in r]],
                         ids=["empty", "unknown_status"])
def test_an_answer_listing_none_of_the_batch_is_a_failure_and_the_events_are_resent(
        aggregator_server, make_kiosk, rewrite):
    kiosk = make_kiosk()
    kiosk.record(2)
    session = RewritingSession(rewrite)
    kiosk.client.session = session
    with pytest.raises(BadAnswer, match=r"left 2 of its 2 events unlisted \(e\.g\. [0-9a-f-]{36}\)"):
        kiosk.client.upload_once()
    assert kiosk.store.pending_count() == 2
    assert "unlisted" in kiosk.client.last_error
    # Sent again (the same events) and acknowledged then.
    session.rewrite = None
    result = kiosk.client.upload_once()
    assert result.status == "acked" and result.acked == 2
    assert _batch_rows(kiosk.store) == 2
    assert kiosk.store.pending_count() == 0


def test_a_partial_answer_acks_what_it_lists_and_resends_the_rest(
        aggregator_server, make_kiosk):
    kiosk = make_kiosk()
    recorded = kiosk.record(3)
    session = RewritingSession(lambda r: r[:1])
    kiosk.client.session = session
    with pytest.raises(BadAnswer, match="left 2 of its 3 events unlisted"):
        kiosk.client.upload_once()
    assert kiosk.store.pending_count() == 2
    session.rewrite = None
    assert kiosk.client.upload_once().acked == 2
    assert kiosk.store.pending_count() == 0
    assert {e["id"] for e in recorded} <= {e["id"] for e in aggregator_server.events(
        kiosk.store.device_id)}


def test_the_worker_backs_off_and_reports_an_answer_that_lists_nothing(aggregator_server,
                                                                        make_kiosk):
    kiosk = make_kiosk()
    kiosk.record(2)
    sessions = []

    def client_factory(store, creds):
        sessions.append(RewritingSession(lambda r: []))
        return SyncClient(aggregator_server.url, store, creds, session=sessions[-1])

    worker = SyncWorker(kiosk.store.path, kiosk.client.credentials, interval=3600,
                        backoff=Backoff(base=0.1, cap=0.2, uniform=lambda lo, hi: hi),
                        client_factory=client_factory).start()
    try:
        time.sleep(1.5)
        posts = len(sessions[0].bodies)
        deadline = time.monotonic() + 10
        while worker.status()["state"] != "backoff" and time.monotonic() < deadline:
            time.sleep(0.01)
        status = worker.status()
    finally:
        assert worker.stop(timeout=10)
    assert 1 <= posts <= 20, f"{posts} batch posts in 1.5 s: a hot loop"
    assert status["state"] == "backoff" and "unlisted" in status["last_error"]
    assert kiosk.store.pending_count() == 2 and _batch_rows(kiosk.store) <= 20
