"""SyncClient against the real aggregator on loopback: upload, answers that are not acks,
enrolment, config pull with photos, heartbeat."""

from __future__ import annotations

import gzip
import hashlib
import io
import json

import pytest
import requests

from sync.client import SyncClient
from sync.errors import BadAnswer, BatchRefused, EnrolmentFailed, NotAuthorised, NotEnrolled, ServerUnavailable
from tests.sync.conftest import ADMIN_TOKEN, WINDOWS


def test_upload_marks_acked_exactly_what_the_server_stored(aggregator_server, make_kiosk):
    kiosk = make_kiosk()
    recorded = kiosk.record(7)
    result = kiosk.client.upload_once()
    assert result.status == "acked" and result.acked == 7
    assert kiosk.client.upload_once().status == "empty"
    assert kiosk.store.pending_count() == 0
    server = aggregator_server.events(kiosk.store.device_id)
    assert [(e["id"], e["hash"]) for e in server] == [(e["id"], e["hash"]) for e in recorded]
    assert result.high_water == {kiosk.store.stream_id: 7}


def test_batch_is_resent_byte_for_byte(aggregator_server, make_kiosk, proxy):
    # Why: the server dedups by id, but the protocol promises the same bytes under a batch id.
    kiosk = make_kiosk(url=proxy.url)
    kiosk.record(3)
    seen = []
    proxy.chooser = lambda info: seen.append(info) or "pass"
    proxy.queue("503")
    with pytest.raises(ServerUnavailable):
        kiosk.client.upload_once()
    first = kiosk.store.open_batch()
    level = kiosk.client.gzip_level  # frozen gzipped with mtime 0, sent as frozen
    assert first["body"] == gzip.compress(gzip.decompress(first["body"]), level, mtime=0)
    sent = []
    post = kiosk.client._post_batch
    kiosk.client._post_batch = lambda body, *a: sent.append(body) or post(body, *a)
    assert kiosk.client.upload_once().acked == 3
    assert sent == [first["body"]]
    assert kiosk.store.open_batch() is None


def test_batch_frozen_as_plain_json_by_an_older_version_is_still_sent(aggregator_server,
                                                                       make_kiosk):
    # Why: until 2026-11 the store froze the plain JSON and the client gzipped it at each
    # send; a kiosk upgraded with such a batch open must still send it (gzipped, mtime 0).
    kiosk = make_kiosk()
    kiosk.record(2)
    batch = kiosk.store.freeze_batch()
    plain = gzip.decompress(batch["body"])
    kiosk.store.conn.execute("UPDATE batches SET body = ? WHERE id = ?", (plain, batch["id"]))
    assert kiosk.client.compress(plain) == gzip.compress(plain, kiosk.client.gzip_level, mtime=0)
    assert kiosk.client.upload_once().acked == 2 and kiosk.store.pending_count() == 0


def test_captive_portal_page_is_not_an_ack(aggregator_server, make_kiosk, proxy):
    kiosk = make_kiosk(url=proxy.url)
    kiosk.record(4)
    proxy.queue("captive")
    with pytest.raises(BadAnswer, match="not an acknowledgement"):
        kiosk.client.upload_once()
    assert kiosk.store.pending_count() == 4
    assert aggregator_server.events(kiosk.store.device_id) == []
    assert kiosk.client.upload_once().acked == 4


def test_lost_answer_then_retry_creates_no_duplicate(aggregator_server, make_kiosk, proxy):
    kiosk = make_kiosk(url=proxy.url)
    kiosk.record(5)
    proxy.queue("lose")
    with pytest.raises(ServerUnavailable):
        kiosk.client.upload_once()
    assert len(aggregator_server.events(kiosk.store.device_id)) == 5  # server committed
    assert kiosk.store.pending_count() == 5                           # client did not see it
    result = kiosk.client.upload_once()
    assert result.acked == 5
    assert len(aggregator_server.events(kiosk.store.device_id)) == 5


def test_truncated_answer_is_a_failure(aggregator_server, make_kiosk, proxy):
    kiosk = make_kiosk(url=proxy.url)
    kiosk.record(2)
    proxy.queue("truncate")
    with pytest.raises((BadAnswer, ServerUnavailable)):
        kiosk.client.upload_once()
    assert kiosk.store.pending_count() == 2
    assert kiosk.client.upload_once().acked == 2


def test_answer_without_the_echo_is_not_an_ack(aggregator_server, make_kiosk):
    kiosk = make_kiosk()
    kiosk.record(2)

    class WrongEcho(requests.Session):
        def request(self, *args, **kwargs):
            resp = super().request(*args, **kwargs)
            doc = resp.json()
            doc["batch_id"] = "00000000-0000-0000-0000-000000000000"
            resp._content = json.dumps(doc).encode()
            return resp

    kiosk.client.session = WrongEcho()
    with pytest.raises(BadAnswer):
        kiosk.client.upload_once()
    assert kiosk.store.pending_count() == 2


def test_429_honours_retry_after(aggregator_server, make_kiosk, proxy):
    kiosk = make_kiosk(url=proxy.url)
    kiosk.record(1)
    proxy.queue("429")
    with pytest.raises(ServerUnavailable) as err:
        kiosk.client.upload_once()
    assert err.value.retry_after == proxy.retry_after
    assert err.value.retryable


def test_timeout_is_retryable(aggregator_server, make_kiosk, proxy):
    kiosk = make_kiosk(url=proxy.url, timeout=0.2)
    kiosk.record(1)
    proxy.queue("delay")
    with pytest.raises(ServerUnavailable, match="no answer within"):
        kiosk.client.upload_once()
    proxy.wait_idle()
    assert kiosk.client.upload_once().acked == 1  # the late copy made it a duplicate


def test_413_splits_the_batch_and_both_halves_arrive(aggregator_server, make_kiosk, proxy):
    kiosk = make_kiosk(url=proxy.url)
    recorded = kiosk.record(10)
    proxy.queue("413")
    result = kiosk.client.upload_once()
    assert result.status == "split"
    first = kiosk.store.open_batch()
    assert (first["first_seq"], first["n"]) == (1, 5)
    results = kiosk.client.drain()
    assert [r.acked for r in results] == [5, 5]
    assert {e["id"] for e in aggregator_server.events(kiosk.store.device_id)} == \
        {e["id"] for e in recorded}


def test_413_page_of_a_proxy_never_quarantines_a_rating(aggregator_server, make_kiosk, proxy):
    # Any 413 split a batch down to one event and then kept that event out for good as
    # "too_large": a proxy's small body limit (an nginx page) or one passing 413 lost ratings
    # that the server would have taken.
    kiosk = make_kiosk(url=proxy.url)
    one = kiosk.record(1)
    proxy.queue("413html")
    with pytest.raises(BadAnswer, match="not the server's own") as err:
        kiosk.client.upload_once()
    assert err.value.retryable
    assert kiosk.store.pending_count() == 1 and kiosk.store.quarantined() == []
    assert kiosk.client.upload_once().acked == 1  # a passing 413: sent again, taken

    more = kiosk.record(5)
    proxy.chooser = lambda info: "413html" if info.path == "/api/v1/batches" else "pass"
    splits = 0
    for _ in range(10):  # 5 events split down to single ones, then each refused and kept
        try:
            splits += kiosk.client.upload_once().status == "split"
        except BadAnswer:
            pass
    assert splits >= 2 and kiosk.store.quarantined() == []
    proxy.chooser = None  # the proxy's limit raised
    kiosk.client.drain()
    assert [e["id"] for e in aggregator_server.events(kiosk.store.device_id)] == \
        [e["id"] for e in one + more]
    assert kiosk.store.pending_count() == 0


def test_one_event_the_server_finds_too_large_is_reported_quarantined(aggregator_server,
                                                                      make_kiosk, proxy):
    # The server's own 413 on a single event: it is kept out, and the result says so (it
    # said quarantined={} though the event was quarantined).
    kiosk = make_kiosk(url=proxy.url)
    event = kiosk.record(1)[0]
    proxy.queue("413")  # worded as the aggregator words it
    result = kiosk.client.upload_once()
    assert result.status == "split" and result.quarantined == {event["id"]: "too_large"}
    assert [e["id"] for e in kiosk.store.quarantined()] == [event["id"]]


def test_request_repeated_by_a_proxy_is_sent_again_not_taken_as_a_refusal(aggregator_server,
                                                                           make_kiosk, proxy):
    # A proxy that repeats a request upstream makes the server see its nonce twice: the second
    # copy's answer is 401 "replayed". Taken as "device not authorised", it ended the kiosk's
    # sync worker until a restart. (A heartbeat: a batch's copy is answered, see below.)
    kiosk = make_kiosk(url=proxy.url)
    proxy.queue_paths = ("/api/v1/heartbeat",)
    proxy.queue("twice")
    assert "server_time" in kiosk.client.heartbeat()
    assert [f for _, p, f in proxy.log if p == "/api/v1/heartbeat"] == ["twice", "pass"]


def test_proxy_that_sends_every_batch_twice_gets_every_rating_acknowledged(aggregator_server,
                                                                           make_kiosk, proxy):
    # Every answer was the second copy's 401 "replayed": the server held the ratings once, but
    # the kiosk never saw an acknowledgement and kept them pending, resending for ever. The
    # server now answers a copy of a batch it took with what it holds of it.
    kiosk = make_kiosk(url=proxy.url)
    recorded = kiosk.record(7)
    kiosk.client.batch_size = 3
    proxy.chooser = lambda info: "twice" if info.path == "/api/v1/batches" else "pass"
    results = kiosk.client.drain()
    assert sum(r.acked for r in results) == 7 and kiosk.store.pending_count() == 0
    assert {f for _, p, f in proxy.log if p == "/api/v1/batches"} == {"twice"}
    assert [e["id"] for e in aggregator_server.events(kiosk.store.device_id)] == \
        [e["id"] for e in recorded]


def test_retry_after_date_counts_from_the_answers_date(aggregator_server, make_kiosk, proxy):
    # A Retry-After date read against this machine's clock: with the server's clock a year
    # ahead of the kiosk's, a 7 s wait became the 24 h cap.
    kiosk = make_kiosk(url=proxy.url)
    kiosk.record(1)
    proxy.date_offset = 365 * 86400.0
    proxy.queue("429date")
    with pytest.raises(ServerUnavailable) as err:
        kiosk.client.upload_once()
    assert 5 <= err.value.retry_after <= 8, err.value.retry_after


def test_retry_after_date_without_a_date_counts_from_the_corrected_clock(tmp_path):
    # No Date header: the kiosk's clock corrected by its known offset, not its raw clock.
    from datetime import datetime, timedelta, timezone
    from email.utils import format_datetime

    from kiosk.store import RatingStore
    from sync.answers import Answer

    real = datetime.now(timezone.utc)
    store = RatingStore(tmp_path / "kiosk.db")
    try:
        client = SyncClient("http://127.0.0.1:9", store, clock=lambda: real - timedelta(days=400))
        client.clock_offset = 400 * 86400.0
        answer = Answer(503, {"retry-after": format_datetime(real + timedelta(seconds=60),
                                                             usegmt=True)}, b"")
        assert 55 <= client._fail(answer, "batch").retry_after <= 61
        # A Date no calendar holds (a middlebox's) is ignored, not an OverflowError that no
        # sync error handler caught.
        answer.headers["date"] = "Mon, 01 Jan 99999999999999999999 00:00:00 GMT"
        assert isinstance(client._fail(answer, "batch"), ServerUnavailable)
    finally:
        store.close()


def test_revoked_device_is_not_authorised_and_keeps_its_events(aggregator_server, make_kiosk):
    kiosk = make_kiosk()
    kiosk.record(3)
    kiosk.client.upload_once()
    aggregator_server.admin.revoke(kiosk.store.device_id)
    kiosk.record(4)
    with pytest.raises(NotAuthorised) as err:
        kiosk.client.upload_once()
    assert err.value.code == "device_revoked"
    assert kiosk.store.pending_count() == 4
    assert len(aggregator_server.events(kiosk.store.device_id)) == 3


def test_unknown_enrolment_code_fails_clearly(aggregator_server, tmp_path):
    from kiosk.store import RatingStore

    store = RatingStore(tmp_path / "k" / "kiosk.db")
    try:
        client = SyncClient(aggregator_server.url, store)
        with pytest.raises(NotEnrolled):
            client.upload_once()
        with pytest.raises(EnrolmentFailed, match="unknown_code"):
            client.enroll("AAA-BBB-CCC")
        code = aggregator_server.code(WINDOWS[1])
        info = client.enroll(code)
        assert info["window_id"] == WINDOWS[1]
        with pytest.raises(EnrolmentFailed, match="code_used"):
            SyncClient(aggregator_server.url, store).enroll(code)
    finally:
        store.close()


def test_server_down_is_retryable(tmp_path):
    from kiosk.store import RatingStore
    from tests.serving import free_port

    store = RatingStore(tmp_path / "kiosk.db")
    try:
        client = SyncClient(f"http://127.0.0.1:{free_port()}", store, timeout=1)
        with pytest.raises(ServerUnavailable, match="connection failed"):
            client.enroll("AAA-BBB-CCC")
    finally:
        store.close()


def test_pull_config_fetches_photos_once_and_applies(aggregator_server, make_kiosk, proxy):
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (120, 160), (200, 30, 40)).save(out, "PNG")
    png = out.getvalue()
    sha = requests.post(aggregator_server.url + "/api/v1/photos", data=png,
                        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()["sha256"]
    assert sha == hashlib.sha256(png).hexdigest()
    aggregator_server.admin.save("staff", [{"id": "S-SYNC-1", "name": "王芳", "unit_id": "U-SYNC",
                                            "badge": "10000001", "photo_sha256": sha}])
    kiosk = make_kiosk(url=proxy.url)
    pulled = kiosk.client.pull_config()
    assert pulled["status"] == "applied" and pulled["photos_fetched"] == 1
    assert kiosk.client.photos.path(sha).read_bytes() == png
    config, etag = kiosk.store.device_config()
    assert config["roster"][0]["photo"] == sha and etag == pulled["etag"]
    assert [e["type"] for e in kiosk.store.pending()] == ["config_applied"]
    again = kiosk.client.pull_config()
    assert again["status"] == "unchanged"
    photo_gets = [p for m, p, f in proxy.log if p.startswith("/api/v1/photos/")]
    assert len(photo_gets) == 1


def test_heartbeat_reports_health(aggregator_server, make_kiosk):
    kiosk = make_kiosk()
    kiosk.record(2)
    kiosk.client.heartbeat()
    beat = aggregator_server.device(kiosk.store.device_id)["last_heartbeat"]
    assert beat["pending"] == 2
    assert beat["db_bytes"] > 0 and beat["disk_free_bytes"] > 0
    assert beat["oldest_pending_age_s"] >= 0
    assert abs(beat["clock_offset_s"]) < 5


def test_malformed_batch_refused_is_retryable_not_fatal(aggregator_server, make_kiosk):
    kiosk = make_kiosk()
    kiosk.record(1)
    kiosk.client.compress = lambda body: b"not gzip at all"
    with pytest.raises(BatchRefused) as err:
        kiosk.client.upload_once()
    assert err.value.status == 400 and err.value.retryable
    assert kiosk.store.pending_count() == 1


def test_pipelined_drain_stores_every_event_once_in_order(aggregator_server, make_kiosk):
    # Why: drain() keeps several frozen batches in flight; each must be acked on its own and
    # the server must end with the whole chain, without gaps or duplicates.
    kiosk = make_kiosk()
    kiosk.client.batch_size = 4
    kiosk.client.pipeline = 3
    recorded = kiosk.record(22)
    results = kiosk.client.drain()
    kiosk.client.close()
    assert [r.status for r in results] == ["acked"] * 6
    assert sum(r.acked for r in results) == 22 and kiosk.store.pending_count() == 0
    assert kiosk.store.open_batch() is None
    server = aggregator_server.events(kiosk.store.device_id)
    assert sorted((e["id"], e["hash"]) for e in server) == sorted(
        (e["id"], e["hash"]) for e in recorded)
    assert results[-1].high_water == {kiosk.store.stream_id: 22}


def test_pipelined_drain_failure_keeps_unanswered_batches_frozen(aggregator_server, make_kiosk,
                                                                 proxy):
    # Why: with batches in flight, a failed one must stay frozen (resent byte for byte) and
    # nothing it holds may be marked acked; the answered ones are still applied.
    kiosk = make_kiosk(url=proxy.url)
    kiosk.client.batch_size = 3
    kiosk.client.pipeline = 2
    kiosk.record(9)
    proxy.queue("pass")
    proxy.queue("503")
    with pytest.raises(ServerUnavailable):
        kiosk.client.drain()
    frozen = kiosk.store.open_batch()
    assert frozen is not None and kiosk.store.pending_count() > 0
    results = kiosk.client.drain()
    kiosk.client.close()
    assert kiosk.store.pending_count() == 0 and kiosk.store.open_batch() is None
    assert results[0].batch_id == frozen["id"]
    assert len(aggregator_server.events(kiosk.store.device_id)) == 9
