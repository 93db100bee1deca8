"""Content-addressed cache of staff photos pulled with the device config.

A photo is stored under its SHA-256 (the name the config gives it) and never changes, so a
file that is present is never fetched again. Bytes whose hash does not match are refused.

>>> cache = PhotoCache(tmp_path / "photos")     # doctest: +SKIP
>>> cache.put(hashlib.sha256(b"x").hexdigest(), b"x").name == hashlib.sha256(b"x").hexdigest()  # doctest: +SKIP
True
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from .files import write_atomic

SHA256 = re.compile(r"[0-9a-f]{64}")


class PhotoCache:
    """Photos by SHA-256 in one directory; ``path(sha)`` is what the badge screen shows."""

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory)

    @staticmethod
    def valid(sha: object) -> bool:
        # fullmatch: ``$`` also matches before a final newline, and "<sha>\n" passed
        return isinstance(sha, str) and bool(SHA256.fullmatch(sha))

    def path(self, sha: str) -> Path:
        if not self.valid(sha):
            raise ValueError(f"a photo is named by its lower-case hex SHA-256, got {sha!r:.80}")
        return self.directory / sha

    def has(self, sha: str) -> bool:
        return self.path(sha).is_file()

    def put(self, sha: str, data: bytes) -> Path:
        """Store ``data`` under ``sha`` atomically; ValueError when the bytes do not match."""
        target = self.path(sha)
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha:
            raise ValueError(f"photo {sha} arrived with SHA-256 {actual}; not stored")
        self.directory.mkdir(parents=True, exist_ok=True)
        write_atomic(target, data)
        return target
