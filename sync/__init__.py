"""The kiosk ↔ aggregator protocol and the kiosk's sync client."""

from .protocol import PROTOCOL_VERSION, canonical_json, event_hash, signing_string

__all__ = ["PROTOCOL_VERSION", "canonical_json", "event_hash", "signing_string"]
