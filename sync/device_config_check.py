"""The shape of a device config (docs/protocol.md ``GET /api/v1/config``), checked before the
kiosk stores or shows it.

``aggregator/device_config.py`` builds the config; this says what a kiosk may take: mappings
where mappings are expected, text where text, lists of mappings for ``roster`` and
``service_items``, finite numbers within what they can mean. ``null`` is "not sent" (the
kiosk keeps its own value) and unknown keys are ignored, as with every answer. The kiosk's own
limits of the trigger values (kiosk/config.py) are applied field by field by the rating flow
(``FlowSettings.with_device_config``): one value out of them keeps the kiosk's own, while a
config of the wrong shape is refused whole. A config with ``"window": {"name": 123}`` stopped
``kiosk run`` at every start, before a corrected config could be pulled.

>>> device_config_problem({"window": {"name": "民政窗口"}, "roster": [], "scale": 5})
>>> device_config_problem({"window": {"name": 123}})
'window.name must be text or null, got 123'
>>> device_config_problem({"service_items": [1]})
'service_items[0] must be a mapping, got 1'
"""

from __future__ import annotations

import math
from typing import Any, Callable

Check = Callable[[Any, str], "str | None"]


def _text(value: Any, where: str) -> str | None:
    if value is None or isinstance(value, str):
        return None
    return f"{where} must be text or null, got {value!r:.80}"


def _required_text(value: Any, where: str) -> str | None:
    if isinstance(value, str) and value:
        return None
    return f"{where} must be non-empty text, got {value!r:.80}"


def _bool(value: Any, where: str) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    return f"{where} must be true, false or null, got {value!r:.80}"


def _number(low: float, high: float, whole: bool = False) -> Check:
    """A finite number in [low, high] (a whole one when ``whole``), or null."""
    def check(value: Any, where: str) -> str | None:
        if value is None:
            return None
        kind = "a whole number" if whole else "a number"
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or (whole and not isinstance(value, int)):
            return f"{where} must be {kind} or null, got {value!r:.80}"
        if not math.isfinite(value) or not low <= value <= high:
            return f"{where} must be {kind} from {low:g} to {high:g}, got {value!r}"
        return None
    return check


def _mapping(fields: dict[str, Check]) -> Check:
    """A mapping (or null) whose known ``fields`` pass their checks; other keys are ignored."""
    def check(value: Any, where: str) -> str | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            return f"{where} must be a mapping, got {value!r:.80}"
        for name, field_check in fields.items():
            problem = field_check(value.get(name), f"{where}.{name}")
            if problem:
                return problem
        return None
    return check


def _list_of(item: Check) -> Check:
    """A list (or null) of items that are not null and pass ``item``."""
    def check(value: Any, where: str) -> str | None:
        if value is None:
            return None
        if not isinstance(value, list):
            return f"{where} must be a list, got {value!r:.80}"
        for i, each in enumerate(value):
            problem = f"{where}[{i}] must not be null" if each is None else item(each, f"{where}[{i}]")
            if problem:
                return problem
        return None
    return check


def _reasons(value: Any, where: str) -> str | None:
    """``{"version": 1, "<level>": ["<reason code>", …], …}``."""
    if value is None:
        return None
    if not isinstance(value, dict):
        return f"{where} must be a mapping, got {value!r:.80}"
    for level, codes in value.items():
        if level == "version":
            problem = _number(0, 2**31, whole=True)(codes, f"{where}.version")
        else:
            problem = _list_of(_required_text)(codes, f"{where}.{level}")
        if problem:
            return problem
    return None


STARS = _number(0, 5, whole=True)
SECONDS = _number(0, 86400)   # what a span of seconds can mean; the kiosk's limits are narrower
STAFF = _mapping({"staff_id": _required_text, "name": _required_text, "staff_no": _text,
                  "post": _text, "party_member": _bool, "stars": STARS, "pledge": _text,
                  "badge": _text, "pin_hash": _text, "photo": _text})
SERVICE_ITEM = _mapping({"code": _required_text, "name": _required_text, "time_limit": _text})

# The fields of a device config and their checks, as aggregator/device_config.py sends them.
FIELDS: dict[str, Check] = {
    "etag": _text,
    "version": _number(0, 2**63 - 1, whole=True),
    "window": _mapping({"id": _text, "name": _text, "unit_id": _text, "unit_name": _text,
                        "hotline": _text, "stars": STARS}),
    "scale": _number(4, 5, whole=True),
    "trigger": _mapping({"mode": _text, "lockout_seconds": SECONDS,
                         "invite_timeout_seconds": SECONDS,
                         "burst_count": _number(0, 1_000_000, whole=True),
                         "burst_seconds": SECONDS}),
    "roster": _list_of(STAFF),
    "service_items": _list_of(SERVICE_ITEM),
    "reasons": _reasons,
    "award": _mapping({"kind": _text, "period": _text, "scope": _text}),
    "qr_base_url": _text,
    "follow_up_qr_key": _text,
}


def device_config_problem(config: Any) -> str | None:
    """What is wrong with the shape of a device config, naming the field and its value; None
    when nothing is."""
    if not isinstance(config, dict):
        return f"the config must be a mapping, got {type(config).__name__}"
    for name, check in FIELDS.items():
        problem = check(config.get(name), name)
        if problem:
            return problem
    return None
