"""Who the client is when the server runs behind a reverse proxy (``trust_proxy``).

The client's address keys the QR page's rate limit and the dashboard's sign-in lockout, and
goes into the audit log, so it must be the address the proxy saw, not one the client wrote.
nginx's ``$proxy_add_x_forwarded_for`` (deploy/nginx-aggregator.conf) *appends* the address
it saw to whatever ``X-Forwarded-For`` the client sent: only the last entry is the proxy's
word; everything to its left came from the client and may be forged. One proxy hop is
assumed, as the deployment in docs/operations.md has. The headers count only from a peer in
``trusted_proxies`` (the proxies' addresses; loopback by default).

>>> client_ip(request)          # doctest: +SKIP
'203.0.113.7'
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import time

from fastapi import Request

from .settings import proxy_networks

log = logging.getLogger("aggregator")


def _last(request: Request, header: str) -> str:
    """The last entry of ``header`` over all its lines, "" when absent or empty."""
    values = ",".join(request.headers.getlist(header))
    return values.rsplit(",", 1)[-1].strip()


@functools.lru_cache(maxsize=8)
def _networks(value: str) -> tuple:
    return proxy_networks(value)


def _from_proxy(request: Request) -> bool:
    """Whether the request came through a trusted proxy: ``trust_proxy`` is on and the peer is
    one of ``trusted_proxies``. Any private address was trusted: every PC of the intranet
    that reached an instance directly (it listens on all addresses for the proxy on another
    host) could write its own X-Forwarded-For, a new address to the QR limit and the sign-in
    lockout with each request, and a made-up one in the audit log."""
    settings = request.app.state.settings
    if not settings.trust_proxy or request.client is None:
        return False
    try:
        peer = ipaddress.ip_address(request.client.host)
    except ValueError:
        return False
    if peer.version == 6 and peer.ipv4_mapped:   # ::ffff:10.0.0.5 on a dual-stack socket
        peer = peer.ipv4_mapped
    if any(peer in net for net in _networks(settings.trusted_proxies)):
        return True
    if request.headers.get("x-forwarded-for"):
        _untrusted_forwarder(str(peer), settings.trusted_proxies)
    return False


_WARNED: dict[str, float] = {}   # peer -> when it was last warned about (monotonic)
WARN_EVERY_S = 3600


def _untrusted_forwarder(peer: str, trusted: str) -> None:
    """Say, once an hour per peer, that a request with X-Forwarded-For came from outside
    ``trusted_proxies``. An upgrade that left ``AGGREGATOR_TRUSTED_PROXIES`` unset behind an
    nginx on another host (any private address was trusted before 2026-12-05) made every
    citizen nginx's address without a word: QR ratings flagged and refused past the budget,
    one sign-in lockout for the whole organisation."""
    now = time.monotonic()
    if now - _WARNED.get(peer, -WARN_EVERY_S) < WARN_EVERY_S or len(_WARNED) > 1000:
        return
    _WARNED[peer] = now
    log.warning("a request with X-Forwarded-For came from %s, which is not in "
                "AGGREGATOR_TRUSTED_PROXIES (%s): its header is ignored and the client is taken "
                "to be %s. If %s is your reverse proxy, add it to AGGREGATOR_TRUSTED_PROXIES",
                peer, trusted, peer, peer)


def client_ip(request: Request) -> str:
    """The client's address: the proxy's last ``X-Forwarded-For`` entry when it came through
    the trusted proxy and that entry is an IP address, else the connection's peer."""
    if _from_proxy(request):
        forwarded = _last(request, "x-forwarded-for")
        try:
            return str(ipaddress.ip_address(forwarded))
        except ValueError:
            pass
    return (request.client.host if request.client else "unknown")[:64]


def is_https(request: Request) -> bool:
    """Whether the client's request came over https (as the trusted proxy says, if any)."""
    if _from_proxy(request):
        proto = _last(request, "x-forwarded-proto")
        if proto:
            return proto == "https"
    return request.url.scheme == "https"
