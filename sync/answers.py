"""What the server answered, detached from ``requests``: the HTTP answer and upload results.

>>> Answer(200, {"content-type": "text/html"}, b"<html>").json() is None
True
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class NotFinite(ValueError):
    """A number in an answer that is not finite: JSON has none, Python's json takes them."""


def _not_a_number(text: str) -> float:
    raise NotFinite(f"{text} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):   # 1e999
        raise NotFinite(f"{text} is not a finite number")
    return value


def finite_json(content: bytes) -> Any:
    """An answer's JSON as Python; ValueError for NaN, Infinity, -Infinity or a number past
    a float, which Python's json takes and JSON has none of: a pushed
    ``"lockout_seconds": Infinity`` flagged every open-mode press after the first."""
    return json.loads(content.decode("utf-8"), parse_constant=_not_a_number,
                      parse_float=_finite_float)


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
        """The body as a JSON object, or None when it is anything else (also when it holds
        ``NaN``, ``Infinity`` or a number past a double: the client's strict parse)."""
        try:
            doc = finite_json(self.content)
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
