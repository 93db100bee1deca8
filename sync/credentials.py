"""The device credential: its Ed25519 key and where it is enrolled.

Two files in the kiosk's data directory, both written atomically and created with mode 0600:
``device_key.pem`` (the private key, PKCS#8 PEM as RFC 8410 section 7 gives it, which OpenSSL
reads and writes) and ``enrolment.json`` (device id, server URL, window, unit). The private key
never appears in ``repr``, ``str`` or a log line. Signing is PyNaCl's (libsodium).

>>> creds = Credentials.generate("dev-1")          # doctest: +SKIP
>>> creds.server_url = "http://127.0.0.1:8700"      # doctest: +SKIP
>>> creds.save(data_dir); Credentials.load(data_dir).device_id   # doctest: +SKIP
'dev-1'
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import CredentialsError, NotEnrolled
from .files import write_atomic

if TYPE_CHECKING:
    from nacl.signing import SigningKey

# PyNaCl (~0.8 MB resident in the kiosk; ``cryptography`` took ~8 MB) is imported where a key
# is made, loaded or used: a kiosk that runs standalone, never enrolled, has no key.

KEY_FILE = "device_key.pem"
ENROLMENT_FILE = "enrolment.json"

# An Ed25519 private key in PKCS#8 DER (RFC 8410 section 7): SEQUENCE { version 0,
# AlgorithmIdentifier { id-Ed25519 1.3.101.112 }, OCTET STRING { OCTET STRING seed(32) } }.
# These 16 bytes, then the 32-byte seed; the form OpenSSL and ``cryptography`` write.
PKCS8_ED25519_PREFIX = bytes.fromhex("302e020100300506032b657004220420")
PEM_BEGIN, PEM_END = "-----BEGIN PRIVATE KEY-----", "-----END PRIVATE KEY-----"

# What a kiosk signs for its USB export (``kiosk export``), told apart from a request's
# signing string (``sync.protocol.signing_string`` starts "csk-v1").
EXPORT_SIGNING_PREFIX = b"csk-export-1 manifest\n"


def key_to_pem(seed: bytes) -> bytes:
    """PKCS#8 PEM of the Ed25519 private key whose 32-byte seed is ``seed``."""
    body = base64.b64encode(PKCS8_ED25519_PREFIX + seed).decode("ascii")
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return "\n".join([PEM_BEGIN, *lines, PEM_END, ""]).encode("ascii")


def seed_from_pem(pem: bytes) -> bytes:
    """The 32-byte seed of a PKCS#8 PEM Ed25519 private key; ValueError naming what is wrong."""
    text = pem.decode("ascii", errors="replace").strip()
    if not (text.startswith(PEM_BEGIN) and text.endswith(PEM_END)):
        raise ValueError("not a PEM private key (no BEGIN/END PRIVATE KEY lines)")
    try:
        der = base64.b64decode("".join(text[len(PEM_BEGIN):-len(PEM_END)].split()),
                               validate=True)
    except ValueError:
        raise ValueError("the PEM body is not base64") from None
    if len(der) != len(PKCS8_ED25519_PREFIX) + 32 or not der.startswith(PKCS8_ED25519_PREFIX):
        raise ValueError("not an Ed25519 key")
    return der[len(PKCS8_ED25519_PREFIX):]


class Credentials:
    """One device's signing key plus its enrolment (server URL, window, unit)."""

    def __init__(self, device_id: str, key: SigningKey, *, server_url: str = "",
                 window_id: str | None = None, unit_id: str | None = None,
                 enrolled_at: str | None = None) -> None:
        self.device_id = device_id
        self._key = key
        self.server_url = server_url
        self.window_id = window_id
        self.unit_id = unit_id
        self.enrolled_at = enrolled_at

    def __repr__(self) -> str:  # the key never shows
        return (f"Credentials(device_id={self.device_id!r}, server_url={self.server_url!r}, "
                f"window_id={self.window_id!r})")

    __str__ = __repr__

    def __getstate__(self) -> dict:
        raise TypeError("Credentials hold a private key and are not picklable")

    @classmethod
    def generate(cls, device_id: str) -> "Credentials":
        """A fresh key for ``device_id``, not yet enrolled nor saved."""
        from nacl.signing import SigningKey

        return cls(device_id, SigningKey.generate())

    @property
    def public_key_b64(self) -> str:
        """Base64 of the raw 32-byte public key, as ``POST /api/v1/enroll`` wants it."""
        return base64.b64encode(bytes(self._key.verify_key)).decode("ascii")

    def sign(self, message: bytes) -> str:
        """Base64 Ed25519 signature of ``message``."""
        return base64.b64encode(self._key.sign(message).signature).decode("ascii")

    def enrolment(self) -> dict[str, Any]:
        return {"device_id": self.device_id, "server_url": self.server_url,
                "window_id": self.window_id, "unit_id": self.unit_id,
                "enrolled_at": self.enrolled_at}

    # ------------------------------------------------------------------ files
    def save(self, directory: str | os.PathLike) -> None:
        """Write the key, then the enrolment, each atomically with mode 0600."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        write_atomic(directory / KEY_FILE, key_to_pem(bytes(self._key)), mode=0o600)
        write_atomic(directory / ENROLMENT_FILE,
                     json.dumps(self.enrolment(), ensure_ascii=False, indent=2).encode("utf-8"),
                     mode=0o600)

    @classmethod
    def exists(cls, directory: str | os.PathLike) -> bool:
        d = Path(directory)
        return (d / KEY_FILE).exists() and (d / ENROLMENT_FILE).exists()

    @classmethod
    def load(cls, directory: str | os.PathLike) -> "Credentials":
        """The saved credential; ``NotEnrolled`` when there is none, ``CredentialsError`` when damaged."""
        directory = Path(directory)
        key_path, info_path = directory / KEY_FILE, directory / ENROLMENT_FILE
        if not key_path.exists() or not info_path.exists():
            raise NotEnrolled(f"no device credential in {directory}: enrol this kiosk with "
                              "`kiosk enroll --server URL --code CODE`")
        from nacl.signing import SigningKey

        try:
            key = SigningKey(seed_from_pem(key_path.read_bytes()))
        except OSError as exc:
            raise CredentialsError(f"{key_path}: cannot read the device key ({exc.strerror}); "
                                   "enrol the kiosk again") from None
        except ValueError as exc:
            raise CredentialsError(f"{key_path}: {exc}; enrol the kiosk again") from None
        try:
            info = json.loads(info_path.read_text(encoding="utf-8"))
            device_id = info["device_id"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CredentialsError(f"{info_path}: unreadable enrolment ({exc}); "
                                   "enrol the kiosk again") from None
        return cls(device_id, key, server_url=info.get("server_url") or "",
                   window_id=info.get("window_id"), unit_id=info.get("unit_id"),
                   enrolled_at=info.get("enrolled_at"))


def export_signing_string(manifest: dict[str, Any]) -> bytes:
    """What the kiosk signs for its USB export and the server verifies (``aggregator
    import-kiosk-export``): the manifest, every field but ``signature``, as canonical JSON
    (sorted keys, no spaces, ASCII). The manifest holds the SHA-256 of events.jsonl, so the
    signature covers every event; the ids, count, seq range and chain head are in it too.

    ValueError or RecursionError for a manifest JSON cannot write back (NaN, nested too deep).
    """
    body = {k: v for k, v in manifest.items() if k != "signature"}
    return EXPORT_SIGNING_PREFIX + json.dumps(
        body, ensure_ascii=True, sort_keys=True, separators=(",", ":"), allow_nan=False
    ).encode("ascii")


def enrolment_of(directory: str | os.PathLike) -> dict[str, Any] | None:
    """The saved enrolment (device id, server URL, window, unit) without loading the key;
    None when the kiosk was never enrolled or the file is unreadable."""
    try:
        info = json.loads((Path(directory) / ENROLMENT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None
