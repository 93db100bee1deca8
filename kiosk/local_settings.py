"""Settings a technician changes on the kiosk itself, kept in the kiosk database.

They lie over config.yaml at every start (a pulled server config still has the last word on
the trigger settings of an enrolled kiosk: ``set_by_server`` names those it sets, and the
technician panel shows them as the server's and offers no change that the next pull or start
would undo). Each change is validated by the same rules as config.yaml and recorded as a
``settings_changed`` event.

>>> change(store, cfg, "trigger.lockout_seconds", 15)   # doctest: +SKIP
(10, 15)
"""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any

from .config import check_setting
from .errors import ConfigError
from .flow import CONFIG_FIELDS, FlowSettings

log = logging.getLogger(__name__)

META_KEY = "local_settings"
# What the technician panel offers, with the step of its − / + buttons (None: a choice).
TECHNICIAN_SETTINGS = {
    "trigger.mode": None,
    "trigger.lockout_seconds": 5,
    "trigger.invite_timeout_seconds": 5,
    "idle.return_seconds": 5,
    "language": None,
}


def set_by_server(body: Any) -> set[str]:
    """The technician settings that a pulled server config ``body`` sets, as the rating flow
    takes it (``FlowSettings.with_device_config``): a value it sends wins over the kiosk's own.

    >>> sorted(set_by_server({"trigger": {"mode": "invited", "lockout_seconds": 30}}))
    ['trigger.lockout_seconds', 'trigger.mode']
    >>> set_by_server({"trigger": {"mode": "sometimes"}}), set_by_server(None)
    (set(), set())
    """
    if not isinstance(body, dict):
        return set()
    names = [name for name in TECHNICIAN_SETTINGS if name in CONFIG_FIELDS]
    unset = object()   # a field the body leaves alone keeps it
    probe = dataclasses.replace(FlowSettings(), **{CONFIG_FIELDS[name]: unset for name in names})
    taken = probe.with_device_config(body)
    return {name for name in names if getattr(taken, CONFIG_FIELDS[name]) is not unset}


def _set(cfg: Any, name: str, value: Any) -> None:
    node = cfg
    *parents, leaf = name.split(".")
    for part in parents:
        node = getattr(node, part)
    setattr(node, leaf, value)


def stored(store: Any) -> dict[str, Any]:
    """The technician's overrides kept in the database (empty when none or unreadable)."""
    try:
        value = json.loads(store.get_meta(META_KEY, "{}") or "{}")
    except ValueError:
        log.error("local settings in the kiosk database are not JSON; ignoring them")
        return {}
    return value if isinstance(value, dict) else {}


def apply(cfg: Any, store: Any) -> dict[str, Any]:
    """Lay the stored overrides over ``cfg``; an override no longer valid is skipped."""
    applied = {}
    for name, value in stored(store).items():
        if name not in TECHNICIAN_SETTINGS:
            continue
        try:
            _set(cfg, name, check_setting(name, value))
            applied[name] = value
        except ConfigError as exc:
            log.error("ignoring a stored kiosk setting: %s", exc)
    return applied


def change(store: Any, cfg: Any, name: str, value: Any) -> tuple[Any, Any]:
    """Validate, keep and record one change; returns (old, new). ConfigError when refused."""
    if name not in TECHNICIAN_SETTINGS:
        raise ConfigError(f"{name} is not a setting that can be changed on the kiosk")
    new = check_setting(name, value)
    old = cfg.get(name)
    overrides = stored(store)
    overrides[name] = new
    store.set_meta(META_KEY, json.dumps(overrides, ensure_ascii=False))
    _set(cfg, name, new)
    store.record("settings_changed", {"name": name, "old": old, "new": new})
    return old, new
