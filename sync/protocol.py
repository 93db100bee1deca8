"""Wire format shared by the kiosk and the aggregator (docs/protocol.md).

Both sides hash and sign with these functions, so a change here is a protocol
change: bump ``PROTOCOL_VERSION`` and document it.

>>> h = event_hash({"id": "e1", "seq": 1, "type": "app_start", "payload": {}}, GENESIS_HASH)
>>> len(h)
64
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import os
import re
import time
import uuid
from typing import Any, Mapping
from urllib.parse import urlsplit

PROTOCOL_VERSION = 1
GENESIS_HASH = "0" * 64

# Fields of an event that the hash covers, in the order the docs list them.
HASHED_FIELDS = (
    "id",
    "device_id",
    "stream_id",
    "seq",
    "type",
    "device_time",
    "boot_id",
    "mono_ns",
    "payload",
)



def server_url_problem(url: str) -> str | None:
    """What is wrong with an aggregation server's URL (None when nothing is).

    >>> server_url_problem("https://pj.example.gov.cn:8443/agg")
    >>> server_url_problem("htp://pj.example.gov.cn")
    "must be http:// or https:// and a host, got 'htp://pj.example.gov.cn'"
    """
    try:   # "http://[::1" raised ValueError from urlsplit: a traceback at `kiosk enroll`
        parts = urlsplit(url or "")
        parts.port  # noqa: B018 - raises ValueError on a port past 65535
    except ValueError as exc:
        return f"is not a URL: {exc}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"must be http:// or https:// and a host, got {url!r}"
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url.strip()):
        # urlsplit drops a tab or a line break, so the host looked whole without it
        return f"must not contain spaces or control characters, got {url!r}"
    if not _host_name_ok(parts.hostname):
        # "http://exa mple.com" passed: the kiosk then tried, and failed, every sync for ever.
        return (f"has {parts.hostname!r} as its host, which is not a host name (letters, digits, "
                f"'-' and '.'; a Chinese domain name is fine) or an IP address, got {url!r}")
    return None


# One label of a host name as sent (after IDNA): letters, digits, '-' inside; '_' is taken
# too (container and internal DNS names have it, and requests connects to them).
_LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?", re.IGNORECASE)


def _host_name_ok(host: str) -> bool:
    """True for an IP address (IPv6 without its brackets, as ``urlsplit`` gives it) or a host
    name whose IDNA form is made of valid labels."""
    if ":" in host:
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            return False
        return True
    if re.fullmatch(r"[0-9.]+", host):   # all digits and dots is an IPv4 address or nothing
        # as the resolver reads one (inet_aton): "192.168.1" and "010.1.1.1" connected before
        # this check existed, and a kiosk running on one must not be refused at its upgrade
        import socket

        try:
            socket.inet_aton(host)
        except OSError:
            return False
        return True
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:   # e.g. an ideographic space, an empty label
        return False
    labels = ascii_host[:-1].split(".") if ascii_host.endswith(".") else ascii_host.split(".")
    return len(ascii_host) <= 253 and all(_LABEL.fullmatch(label) for label in labels)


def event_id() -> str:
    """A new event id: a UUID version 7 (RFC 9562, section 5.7): 48 bits of Unix time in
    milliseconds, then 74 random bits. Any UUID is a valid id on the wire; time-ordered ones
    put a batch's ids next to each other in the server's id indexes instead of all over them,
    which made inserting 100,000 events 2.7x cheaper there (docs/benchmarks.md). A wrong
    kiosk clock costs only that locality: the random bits keep ids unique.

    >>> a, b = event_id(), event_id()
    >>> uuid.UUID(a).version, a != b, len(a)
    (7, True, 36)
    """
    ms = time.time_ns() // 1_000_000 & (1 << 48) - 1
    rand = int.from_bytes(os.urandom(10), "big")
    return str(uuid.UUID(int=ms << 80 | 0x7 << 76 | (rand >> 62 & 0xFFF) << 64 | 0b10 << 62
                         | rand & (1 << 62) - 1))


# Request headers of an authenticated call.
HEADER_DEVICE = "X-Device-Id"
HEADER_TIMESTAMP = "X-Timestamp"
HEADER_NONCE = "X-Nonce"
HEADER_SIGNATURE = "X-Signature"
# Seconds the device added to its own clock to make X-Timestamp (its known offset), so the
# server can tell the device clock's real skew and date ratings by server time. Up to 200
# years either way: a board without a battery clock boots at 1970-01-01 (57 years back in
# 2026), a 32-bit time_t that wrapped reads 1901; at ±20 years such a kiosk never synced.
HEADER_CLOCK_OFFSET = "X-Clock-Offset"
MAX_CLOCK_OFFSET_SECONDS = 200 * 365 * 86400
# The Linux boot id the device is in while it sends (the one it stamps on the events it
# records now), so the server knows which boot's clock the skew it measures belongs to. A
# header, not a field of the batch: a batch is frozen and resent byte for byte, perhaps from a
# later boot. 1 to 128 visible ASCII characters, like an event's boot_id.
HEADER_BOOT = "X-Boot-Id"
MAX_BOOT_ID = 128
# The device's monotonic clock (CLOCK_MONOTONIC ns since boot, the clock events' mono_ns
# come from) when it sends, beside X-Boot-Id: with the server's time at the request it dates
# every event of that boot, whatever its wall clock did (a step by NTP). A decimal integer
# 0 … 2**63 - 1.
HEADER_MONO = "X-Mono-Ns"
MAX_MONO_NS = 2**63 - 1

# Limits both sides agree on.
MAX_BATCH_EVENTS = 500
MAX_BATCH_BYTES = 256 * 1024
MAX_BODY_BYTES = 1024 * 1024
MAX_DECOMPRESSED_BYTES = 4 * 1024 * 1024
CLOCK_WINDOW_SECONDS = 300


def canonical_json(value: Any) -> bytes:
    """The one byte form of a JSON value: sorted keys, no spaces, UTF-8."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


def event_hash(event: Mapping[str, Any], prev_hash: str) -> str:
    """SHA-256 chaining ``event`` to the hash of the event before it."""
    body = {name: event.get(name) for name in HASHED_FIELDS}
    body["prev_hash"] = prev_hash
    return hashlib.sha256(canonical_json(body)).hexdigest()


def signing_string(
    method: str, path: str, device_id: str, timestamp: str, nonce: str, body: bytes
) -> bytes:
    """What the device signs with its Ed25519 key for one request.

    ``body`` is the request body as sent on the wire (gzip bytes for a batch).
    """
    digest = hashlib.sha256(body).hexdigest()
    return "\n".join(
        [
            f"csk-v{PROTOCOL_VERSION}",
            method.upper(),
            path,
            device_id,
            timestamp,
            nonce,
            digest,
        ]
    ).encode("utf-8")


def follow_up_token(key: str, rating_id: str, expires_unix: int) -> str:
    """``<rating id>.<expiry>.<mac>``: the token a kiosk puts in its follow-up QR code.

    ``key`` is the window's ``follow_up_qr_key`` from the pulled device config; the server
    derives the same key from its secret and checks the MAC and the expiry.
    """
    message = f"{rating_id}.{int(expires_unix)}"
    digest = hmac.new(key.encode(), message.encode(), hashlib.sha256).digest()[:16]
    return f"{message}.{base64.urlsafe_b64encode(digest).decode().rstrip('=')}"
