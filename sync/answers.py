"""What the server answered, detached from ``requests``: the HTTP answer and upload results.

>>> Answer(200, {"content-type": "text/html"}, b"<html>").json() is None
True
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 time with an offset, or None."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        return None
    return t if t.tzinfo is not None else None


@dataclass
class Answer:
    """An HTTP answer, detached from ``requests``."""

    status: int
    headers: dict[str, str]
    content: bytes

    def json(self) -> dict[str, Any] | None:
        """The body as a JSON object, or None when it is anything else."""
        try:
            doc = json.loads(self.content.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            return None
        return doc if isinstance(doc, dict) else None

    def describe(self) -> str:
        doc = self.json()
        if doc and isinstance(doc.get("error"), str):
            return f"HTTP {self.status} {doc['error']}: {str(doc.get('detail', ''))[:200]}"
        kind = self.headers.get("content-type", "?").split(";")[0]
        return f"HTTP {self.status} ({kind}, {len(self.content)} bytes)"


@dataclass
class UploadResult:
    """What one ``upload_once`` did. ``status``: ``empty``, ``acked`` or ``split``."""

    status: str
    batch_id: str | None = None
    sent: int = 0
    acked: int = 0
    quarantined: dict[str, str] = field(default_factory=dict)
    high_water: dict[str, int] = field(default_factory=dict)


def strip_etag(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"') or None
