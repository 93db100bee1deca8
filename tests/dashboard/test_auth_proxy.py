"""Forwarded headers count only from the proxies named in ``trusted_proxies``."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from starlette.requests import Request

from aggregator.errors import ConfigError
from aggregator.proxy import client_ip, is_https
from aggregator.settings import Settings


def _request(settings: Settings, peer: str) -> Request:
    app = SimpleNamespace(state=SimpleNamespace(settings=settings))
    return Request({"type": "http", "app": app, "client": (peer, 40000), "scheme": "http",
                    "path": "/", "query_string": b"", "server": ("10.0.0.11", 8700),
                    "headers": [(b"x-forwarded-for", b"198.51.100.7"),
                                (b"x-forwarded-proto", b"https")]})


def test_an_intranet_pc_cannot_make_up_its_address_with_x_forwarded_for():
    # Why: every private or loopback peer was trusted, so any PC of the intranet that reached
    # an instance directly sent a new X-Forwarded-For with each request: a new client to the
    # per-address sign-in lockout and QR limit every time, and a made-up address in the audit log.
    default = Settings(trust_proxy=True)
    for pc in ("10.9.8.7", "192.168.1.20", "172.16.0.3", "192.0.2.2", "fd00::5"):
        r = _request(default, pc)
        assert client_ip(r) == pc and not is_https(r), pc
    for proxy in ("127.0.0.1", "::1"):   # nginx on the same host: the default
        r = _request(default, proxy)
        assert client_ip(r) == "198.51.100.7" and is_https(r), proxy

    named = Settings(trust_proxy=True, trusted_proxies="10.0.0.5, 10.0.1.0/24")
    assert client_ip(_request(named, "10.0.0.5")) == "198.51.100.7"
    assert client_ip(_request(named, "10.0.1.77")) == "198.51.100.7"
    assert client_ip(_request(named, "10.0.0.6")) == "10.0.0.6"
    assert client_ip(_request(named, "::ffff:10.0.0.5")) == "198.51.100.7"   # dual-stack socket
    off = Settings(trust_proxy=False, trusted_proxies="10.0.0.5")
    assert client_ip(_request(off, "10.0.0.5")) == "10.0.0.5"


def test_a_trusted_proxy_that_is_no_address_is_refused_naming_it():
    # Why: a typo in the list would silently trust nobody (or everybody); say which entry.
    with pytest.raises(ConfigError) as err:
        Settings.from_env({"AGGREGATOR_TRUSTED_PROXIES": "10.0.0.5, nginx.local"})
    assert str(err.value).startswith("AGGREGATOR_TRUSTED_PROXIES: 'nginx.local' is not an IP")


def test_forwarded_headers_from_a_peer_not_named_are_said_once_an_hour(caplog):
    # Why: any private address was trusted before AGGREGATOR_TRUSTED_PROXIES; an upgrade behind
    # an nginx on another host that did not name it made every citizen nginx's address without
    # a word (QR ratings flagged, then refused past the budget; one sign-in lockout for all).
    import logging

    from aggregator import proxy

    proxy._WARNED.clear()
    default = Settings(trust_proxy=True)
    with caplog.at_level(logging.WARNING, logger="aggregator"):
        for _ in range(3):
            assert client_ip(_request(default, "10.0.0.5")) == "10.0.0.5"
        assert client_ip(_request(default, "127.0.0.1")) == "198.51.100.7"   # a named proxy
    said = [r.getMessage() for r in caplog.records if "AGGREGATOR_TRUSTED_PROXIES" in r.getMessage()]
    assert len(said) == 1 and "10.0.0.5" in said[0], said
    proxy._WARNED.clear()
