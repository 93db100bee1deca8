"""A pulled device config of the wrong shape is refused whole, and the last good one stays.

Why it matters: the sync client stored any JSON object whose ``roster`` was a list. One
wrong-typed field (``{"window": {"name": 123}}``, ``service_items: [1]``, a lockout of
``Infinity``) then stopped ``kiosk run`` at every start, and the corrected config that would
have repaired it was never pulled. The real aggregator checks what it sends, so the bad
answer is made at the edge: a small proxy on loopback passes every request to the real
aggregator and spoils one field of its config answer (a broken or hostile server, a proxy).
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sync.errors import BadAnswer

from .conftest import UNIT


class SpoilingProxy:
    """Passes requests to ``upstream``; ``spoil(config) -> bytes`` rewrites a 200 config."""

    def __init__(self, upstream: str) -> None:
        self.spoil = None
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):   # quiet
                pass

            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "connection", "accept-encoding",
                                                "content-length")}
                request = urllib.request.Request(upstream + self.path, data=body,
                                                 headers=headers, method=self.command)
                try:
                    with urllib.request.urlopen(request, timeout=10) as answer:
                        status, content = answer.status, answer.read()
                        kind = answer.headers.get("Content-Type", "application/json")
                except urllib.error.HTTPError as exc:
                    status, content = exc.code, exc.read()
                    kind = exc.headers.get("Content-Type", "application/json")
                if self.path == "/api/v1/config" and status == 200 and proxy.spoil:
                    content = proxy.spoil(json.loads(content))
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = _relay

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def spoiling(aggregator_server):
    proxy = SpoilingProxy(aggregator_server.url)
    yield proxy
    proxy.close()


def _set(path: str, value):
    """A spoiler that sets the field at dotted ``path`` (``roster.0.name``) to ``value``."""
    def spoil(config: dict) -> bytes:
        *parents, leaf = path.split(".")
        node = config
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[int(leaf) if isinstance(node, list) else leaf] = value
        return json.dumps(config, ensure_ascii=False).encode("utf-8")
    return spoil


def _text(old: str, new: str):
    """A spoiler that replaces text in the answer as sent (for what json.dumps cannot say)."""
    def spoil(config: dict) -> bytes:
        text = json.dumps(config, ensure_ascii=False)
        assert old in text
        return text.replace(old, new, 1).encode("utf-8")
    return spoil


CASES = [
    ("window.name", _set("window.name", 123), "window.name must be text or null, got 123"),
    ("window", _set("window", "W-9"), "window must be a mapping, got 'W-9'"),
    ("trigger", _set("trigger", ["invited"]), "trigger must be a mapping"),
    ("service_items", _set("service_items", [1]), "service_items[0] must be a mapping, got 1"),
    ("roster", _set("roster", ["x"]), "roster[0] must be a mapping, got 'x'"),
    ("roster.0.name", _set("roster.0.name", ["王芳"]), "roster[0].name must be non-empty text"),
    ("reasons", _set("reasons.dissatisfied", [1, 2]), "reasons.dissatisfied[0] must be non-empty"),
    ("scale", _set("scale", 7), "scale must be a whole number from 4 to 5, got 7"),
    ("stars", _set("roster.0.stars", 9), "roster[0].stars must be a whole number from 0 to 5"),
    ("lockout", _set("trigger.lockout_seconds", "10"), "trigger.lockout_seconds must be a number"),
    ("Infinity", _text('"lockout_seconds": 10', '"lockout_seconds": Infinity'),
     "Infinity is not a JSON number"),
    ("NaN", _text('"invite_timeout_seconds": 20', '"invite_timeout_seconds": NaN'),
     "NaN is not a JSON number"),
    ("1e999", _text('"burst_seconds": 60', '"burst_seconds": 1e999'),
     "1e999 is not a finite number"),
]


@pytest.mark.parametrize("name, spoil, says", CASES, ids=[c[0] for c in CASES])
def test_a_config_of_the_wrong_shape_is_refused_and_the_last_good_one_stays(
        aggregator_server, make_kiosk, spoiling, name, spoil, says):
    kiosk = make_kiosk(url=spoiling.url)
    assert kiosk.client.pull_config()["status"] == "applied"     # the real server's, good
    good, good_etag = kiosk.store.device_config()
    assert good["window"]["name"] == "窗口 W-S1"
    # the server changes the config (a new ETag); on the way it is spoiled
    aggregator_server.admin.save("staff", [{"id": "S-SYNC-2", "name": "李明", "unit_id": UNIT,
                                            "badge": "10000002"}])
    spoiling.spoil = spoil
    with pytest.raises(BadAnswer) as refused:
        kiosk.client.pull_config()
    assert says in str(refused.value) and "the last good config stays" in str(refused.value)
    assert kiosk.client.last_error == str(refused.value)       # the heartbeat reports it
    assert kiosk.store.device_config() == (good, good_etag)    # nothing stored
    assert [e["type"] for e in kiosk.store.iter_events()].count("config_applied") == 1
    # the server's next answer, unspoiled, is taken
    spoiling.spoil = None
    assert kiosk.client.pull_config()["status"] == "applied"
    assert [s["name"] for s in kiosk.store.device_config()[0]["roster"]] == ["王芳", "李明"]


def test_what_the_real_aggregator_sends_passes_the_shape_check(aggregator_server, make_kiosk):
    # The check must not refuse a real config: a kiosk would never take a roster again.
    from sync.device_config_check import device_config_problem

    aggregator_server.admin.save("staff", [{"id": "S-SYNC-2", "name": "李明", "unit_id": UNIT,
                                            "pin": "5678", "party_member": True, "stars": 4}])
    kiosk = make_kiosk()
    assert kiosk.client.pull_config()["status"] == "applied"
    body, _ = kiosk.store.device_config()
    assert device_config_problem(body) is None and len(body["roster"]) == 2


@pytest.mark.parametrize("text", ['{"a": Infinity}', '{"a": -Infinity}', '{"a": NaN}',
                                  '{"a": [1e400]}'])
def test_the_client_parses_no_number_json_does_not_have(text):
    # Python's json takes these; a pushed "lockout_seconds": Infinity flagged every press.
    from sync.answers import finite_json

    with pytest.raises(ValueError, match="is not a"):
        finite_json(text.encode())
    assert finite_json(b'{"a": 1.5, "b": 10}') == {"a": 1.5, "b": 10}
