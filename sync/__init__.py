"""The kiosk ↔ aggregator protocol and the kiosk's sync client.

The protocol helpers load eagerly (the aggregator imports them); the client classes load on
first use, so importing ``sync.protocol`` does not pull in ``requests``.
"""

from .protocol import PROTOCOL_VERSION, canonical_json, event_hash, signing_string

_LAZY = {
    "SyncClient": "client", "AdminClient": "client", "UploadResult": "client",
    "SyncWorker": "worker", "Backoff": "backoff", "Credentials": "credentials",
    "PhotoCache": "photos", "simulate": "simulator",
    "SyncError": "errors", "NotEnrolled": "errors", "CredentialsError": "errors",
    "EnrolmentFailed": "errors", "NotAuthorised": "errors", "ServerUnavailable": "errors",
    "BadAnswer": "errors", "ClockSkew": "errors", "BatchRefused": "errors",
    "AuthRejected": "errors",
}

__all__ = ["PROTOCOL_VERSION", "canonical_json", "event_hash", "signing_string", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'sync' has no attribute {name!r}")
