"""PIN hashing for staff and technicians (PBKDF2-SHA256; the hash is safe to keep in config)."""

from __future__ import annotations

import hashlib
import hmac
import os

ITERATIONS = 200_000
DEFAULT_TECH_PIN = "000000"


def hash_pin(pin: str, *, iterations: int = ITERATIONS, salt: bytes | None = None) -> str:
    """``pbkdf2_sha256$<iterations>$<salt hex>$<hash hex>`` for a PIN of 4-12 digits."""
    # ASCII digits only: full-width "１２３４" (what a Chinese input method types) passed
    # isdigit(), and the keypad can never type it, which locked the technician out.
    if not (pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 12):
        raise ValueError("a PIN is 4 to 12 digits 0-9")
    salt = salt or os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, iterations)
    return f"pbkdf2_sha256${iterations}${salt.hex()}${digest.hex()}"


def check_pin(pin: str, stored: str) -> bool:
    """True when ``pin`` matches ``stored``; False for any malformed hash."""
    try:
        algo, iterations, salt_hex, digest_hex = stored.split("$")
        if algo != "pbkdf2_sha256":
            return False
        digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), bytes.fromhex(salt_hex), int(iterations))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest.hex(), digest_hex)
