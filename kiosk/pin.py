"""PIN hashing for staff and technicians (PBKDF2-SHA256; the hash is safe to keep in config).

The aggregator takes staff PINs and hashes by these rules too (aggregator/org.py), so that a
roster it sends holds only PINs the kiosk keypad can type and hashes the kiosk can check.

>>> pin_problem("１２３４")
'must be 4 to 12 digits 0-9 (what the kiosk keypad types), got 4 characters that are not all digits 0-9'
>>> pin_hash_problem("pbkdf2_sha256$999999999$00$" + "0" * 64)
'must be pbkdf2_sha256$<1000-1000000 iterations>$<salt hex>$<64 hex digits> (as `kiosk set-pin` writes), got 999999999 iterations'
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re

ITERATIONS = 200_000
DEFAULT_TECH_PIN = "000000"
PIN_LENGTH = (4, 12)
# The most iterations a hash in config.yaml may have (kiosk/config.py PIN_HASH: 1 to 7
# digits): ``check_pin`` refuses more rather than run them. It runs on the UI thread, and a
# pushed hash of 999,999,999 iterations froze the kiosk for ~3 minutes per PIN typed.
MAX_ITERATIONS = 9_999_999
# What a hash the aggregation server sends (and takes from an admin) may have: the kiosk's
# own 200,000 with room either way, at most ~0.2 s per PIN on a desktop CPU.
PUSHED_ITERATIONS = (1_000, 1_000_000)
_HASH = re.compile(r"pbkdf2_sha256\$([0-9]{1,9})\$([0-9a-f]{2,64})\$[0-9a-f]{64}")


def pin_problem(pin: object) -> str | None:
    """What keeps ``pin`` from being a PIN the keypad types (4-12 digits 0-9), or None."""
    low, high = PIN_LENGTH
    # ASCII digits only: full-width "１２３４" (what a Chinese input method types) passed
    # isdigit(), and the keypad can never type it, which locked the technician out.
    if isinstance(pin, str) and pin.isascii() and pin.isdigit() and low <= len(pin) <= high:
        return None
    if not isinstance(pin, str):
        what = type(pin).__name__
    else:   # the PIN itself is never in the message
        plural = "" if len(pin) == 1 else "s"
        what = (f"{len(pin)} digit{plural}" if pin.isascii() and pin.isdigit() else
                f"{len(pin)} character{plural} that are not all digits 0-9")
    return f"must be {low} to {high} digits 0-9 (what the kiosk keypad types), got {what}"


def pin_hash_problem(stored: object, iterations: tuple[int, int] = PUSHED_ITERATIONS) -> str | None:
    """What keeps ``stored`` from being a PIN hash as ``hash_pin`` writes it, with
    ``iterations`` in range, or None. The hash itself is never in the message."""
    low, high = iterations
    form = (f"must be pbkdf2_sha256$<{low}-{high} iterations>$<salt hex>$<64 hex digits> "
            "(as `kiosk set-pin` writes)")
    match = _HASH.fullmatch(stored) if isinstance(stored, str) else None
    if match is None:
        return f"{form}, got {type(stored).__name__ if not isinstance(stored, str) else 'other text'}"
    if not low <= int(match.group(1)) <= high:
        return f"{form}, got {int(match.group(1))} iterations"
    return None


def hash_pin(pin: str, *, iterations: int = ITERATIONS, salt: bytes | None = None) -> str:
    """``pbkdf2_sha256$<iterations>$<salt hex>$<hash hex>`` for a PIN of 4-12 digits."""
    problem = pin_problem(pin)
    if problem:
        raise ValueError(f"a PIN {problem}")
    salt = salt or os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, iterations)
    return f"pbkdf2_sha256${iterations}${salt.hex()}${digest.hex()}"


def check_pin(pin: str, stored: str) -> bool:
    """True when ``pin`` matches ``stored``; False for any malformed hash, and without
    running them for more than ``MAX_ITERATIONS`` iterations."""
    try:
        algo, iterations, salt_hex, digest_hex = stored.split("$")
        if algo != "pbkdf2_sha256" or int(iterations) > MAX_ITERATIONS:
            return False
        digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), bytes.fromhex(salt_hex), int(iterations))
    except (ValueError, TypeError, AttributeError):
        return False
    return hmac.compare_digest(digest.hex(), digest_hex)
