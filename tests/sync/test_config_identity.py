"""A config answer must carry the protocol's identity: an etag, a whole version, and the
window this kiosk was enrolled to.

Why it matters: every field of a config may be null, so a gateway's ``200 {"code": 0,
"msg": "ok"}`` (or a misrouted API's JSON) passed the shape check and replaced the stored
config: the roster, the window and the follow-up QR key were gone from the kiosk, and a
``config_applied`` event was recorded at every pull (no etag: no If-None-Match).
"""

from __future__ import annotations

import pytest

from kiosk.store import RatingStore
from sync.client import SyncClient
from sync.credentials import Credentials
from sync.errors import BadAnswer

from .fakeserver import FakeServer, json_answer

GOOD = {"etag": "e7", "version": 7, "window": {"id": "W-1", "name": "窗口"}, "scale": 5,
        "roster": [{"staff_id": "S-007", "name": "王芳", "photo": None}],
        "follow_up_qr_key": "k" * 43}


def _without(key):
    return {k: v for k, v in GOOD.items() if k != key}


@pytest.mark.parametrize("answer, problem", [
    ({"code": 0, "msg": "ok"}, "etag"),
    (_without("etag"), "etag"),
    (_without("version"), "version"),
    (dict(GOOD, version="7"), "version"),
    (_without("window"), "window.id"),
    (dict(GOOD, window={"name": "窗口"}), "window.id"),
    (dict(GOOD, window={"id": "W-2", "name": "别的窗口"}), "window.id must be this kiosk's window"),
], ids=["gateway", "no_etag", "no_version", "text_version", "no_window", "no_window_id",
        "other_window"])
def test_a_config_without_its_identity_is_refused_and_the_last_good_one_stays(
        tmp_path, answer, problem):
    served = {"doc": GOOD}
    server = FakeServer(lambda m, p, b: json_answer(served["doc"])).start()
    store = RatingStore(tmp_path / "kiosk.db")
    creds = Credentials.generate(store.device_id)
    creds.window_id = "W-1"
    try:
        client = SyncClient(server.url, store, creds)
        assert client.pull_config()["status"] == "applied"
        before = store.device_config()
        n_events = store.pending_count()
        served["doc"] = answer
        with pytest.raises(BadAnswer, match=problem):
            client.pull_config()
        assert store.device_config() == before
        assert store.pending_count() == n_events   # no config_applied recorded
        assert "the last good config stays" in client.last_error
    finally:
        store.close()
        server.close()
