"""Test helper: a real device identity (Ed25519 key, hash-chained events, signed requests).

Not a mock: it builds events and signatures with ``sync.protocol`` exactly as a kiosk must.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import json
import os
import uuid

import requests
from nacl.signing import SigningKey

from sync.protocol import GENESIS_HASH, event_hash, event_id, signing_string

LEVEL_STARS = {"very_satisfied": 5, "satisfied": 4, "basic_satisfied": 3, "dissatisfied": 2,
               "very_dissatisfied": 1}


def now_iso(offset_s: float = 0) -> str:
    tz = dt.timezone(dt.timedelta(hours=8))
    return (dt.datetime.now(tz) + dt.timedelta(seconds=offset_s)).isoformat()


class Device:
    """One kiosk: ``d.enroll(code)``, ``d.rating(...)``, ``d.post_batch([...])``."""

    def __init__(self, base_url: str, device_id: str | None = None, window_id: str = "W-001"):
        self.base_url = base_url
        self.id = device_id or f"kiosk-{uuid.uuid4().hex[:8]}"
        self.window_id = window_id
        self.key = SigningKey.generate()
        self.stream_id = str(uuid.uuid4())
        self.seq = 0
        self.prev = GENESIS_HASH

    @property
    def public_key_b64(self) -> str:
        return base64.b64encode(bytes(self.key.verify_key)).decode()

    def enroll(self, code: str) -> requests.Response:
        return requests.post(f"{self.base_url}/api/v1/enroll", json={
            "code": code, "device_id": self.id, "public_key": self.public_key_b64,
            "app_version": "0.1.0"}, timeout=10)

    def new_stream(self) -> None:
        self.stream_id, self.seq, self.prev = str(uuid.uuid4()), 0, GENESIS_HASH

    def event(self, type_: str, payload: dict, device_time: str | None = None, **fields) -> dict:
        """The next event of this device's stream, hashed and chained."""
        self.seq += 1
        ev = {"id": event_id(), "device_id": self.id, "stream_id": self.stream_id,
              "seq": self.seq, "type": type_, "device_time": device_time or now_iso(),
              "boot_id": "boot-1", "mono_ns": 1_000_000 * self.seq, "payload": payload,
              "prev_hash": self.prev}
        ev.update(fields)
        ev["hash"] = event_hash(ev, ev["prev_hash"])
        self.prev = ev["hash"]
        return ev

    def rating(self, level: str = "very_satisfied", **payload) -> dict:
        body = {"level": level, "stars": LEVEL_STARS[level], "scale": 5, "channel": 4,
                "window_id": self.window_id, "unit_id": "U-01", "staff_id": "S-007",
                "staff_name": "王芳", "service_item": "SI-01", "case_no": None,
                "invitation_id": None, "flags": []}
        device_time = payload.pop("device_time", None)
        body.update(payload)
        return self.event("rating", body, device_time=device_time)

    def batch_body(self, events: list, batch_id: str | None = None, compress: bool = True,
                   **envelope) -> bytes:
        doc = {"protocol": 1, "device_id": self.id, "batch_id": batch_id or str(uuid.uuid4()),
               "events": events, **envelope}
        raw = json.dumps(doc, ensure_ascii=False).encode()
        return gzip.compress(raw) if compress else raw

    def headers(self, method: str, path: str, body: bytes = b"", timestamp: str | None = None,
                nonce: str | None = None, key: SigningKey | None = None) -> dict:
        timestamp = timestamp or now_iso()
        nonce = nonce or os.urandom(16).hex()
        sig = (key or self.key).sign(signing_string(method, path, self.id, timestamp, nonce,
                                                    body)).signature
        return {"X-Device-Id": self.id, "X-Timestamp": timestamp, "X-Nonce": nonce,
                "X-Signature": base64.b64encode(sig).decode()}

    def post_batch(self, events: list | None = None, body: bytes | None = None,
                   compress: bool = True, headers: dict | None = None,
                   **sign) -> requests.Response:
        path = "/api/v1/batches"
        if body is None:
            body = self.batch_body(events, compress=compress)
        h = {"Content-Type": "application/json", **self.headers("POST", path, body, **sign)}
        if compress:
            h["Content-Encoding"] = "gzip"
        h.update(headers or {})
        return requests.post(self.base_url + path, data=body, headers=h, timeout=30)

    def get(self, path: str, headers: dict | None = None, **sign) -> requests.Response:
        h = {**self.headers("GET", path, b"", **sign), **(headers or {})}
        return requests.get(self.base_url + path, headers=h, timeout=10)

    def post_json(self, path: str, doc) -> requests.Response:
        body = json.dumps(doc).encode()
        h = {"Content-Type": "application/json", **self.headers("POST", path, body)}
        return requests.post(self.base_url + path, data=body, headers=h, timeout=10)


def enroll_code(server, window_id="W-001", ttl_hours=24, device_id=None) -> str:
    """A one-time enrolment code from the admin API of a running ``server`` (for one known
    device only with ``device_id``)."""
    r = requests.post(f"{server.url}/api/v1/enroll-codes", headers=server.admin,
                      json={"window_id": window_id, "ttl_hours": ttl_hours,
                            "device_id": device_id}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["code"]


def enrolled(base_url: str, window_id: str, admin_token: str) -> Device:
    """A new kiosk enrolled to ``window_id`` with a code from the admin API (``admin_token``)."""
    code = requests.post(f"{base_url}/api/v1/enroll-codes", timeout=10,
                         headers={"Authorization": f"Bearer {admin_token}"},
                         json={"window_id": window_id, "ttl_hours": 1}).json()["code"]
    kiosk = Device(base_url, window_id=window_id)
    assert kiosk.enroll(code).status_code == 200
    return kiosk


def usb_export(folder, device: "Device", events: list) -> None:
    """Write ``events`` as ``device``'s USB export (``kiosk export``) into the new ``folder``,
    its manifest signed with the device's key as the kiosk signs it."""
    from sync.credentials import export_signing_string

    folder.mkdir()
    lines = "".join(json.dumps(ev, ensure_ascii=False) + "\n" for ev in events).encode()
    (folder / "events.jsonl").write_bytes(lines)
    manifest = {"format": "csk-export-1", "device_id": device.id,
                "files": {"events.jsonl": hashlib.sha256(lines).hexdigest()}}
    manifest["signature"] = base64.b64encode(
        device.key.sign(export_signing_string(manifest)).signature).decode()
    (folder / "manifest.json").write_text(json.dumps(manifest))
