"""Settings a technician changes on the kiosk itself, kept in the kiosk database.

They lie over config.yaml at every start (a pulled server config still has the last word on
the trigger settings of an enrolled kiosk: ``set_by_server`` names those it sets, and the
technician panel shows them as the server's and offers no change that the next pull or start
would undo). Each change is validated by the same rules as config.yaml and recorded as a
``settings_changed`` event.

The PIN lockouts' counts are kept beside them (``LockKeeper``, one meta key per lock:
``TECH_LOCK_KEY``, ``STAFF_LOCK_KEY``), so that a restart or a power cut gives a PIN guesser
no fresh tries (kiosk/technician.py says the rule for the time across a restart). Neither is
an event: nothing of them goes into the rating event log or to the server.

>>> change(store, cfg, "trigger.lockout_seconds", 15)   # doctest: +SKIP
(10, 15)
"""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any, Callable

from .config import check_setting
from .errors import ConfigError
from .flow import CONFIG_FIELDS, FlowSettings

log = logging.getLogger(__name__)

META_KEY = "local_settings"
# The keys that keep the PIN lockouts' counts across a restart (LockKeeper).
TECH_LOCK_KEY = "pin_lock.technician"
STAFF_LOCK_KEY = "pin_lock.staff"
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


class LockKeeper:
    """Keeps one PIN lock's counts in the kiosk database, so that a restart gives no new tries.

    One key of the store's ``meta`` table (``TECH_LOCK_KEY``, ``STAFF_LOCK_KEY``: no migration,
    nothing in the rating event log), read when the lock is made and written, one durable
    commit through ``RatingStore.set_meta``, whenever the counts change; a right PIN empties
    it. ``store`` gives the UI thread's store at the moment of use (the app swaps in another
    when its database opens again), ``boot_id`` the boot whose monotonic clock the lock reads
    (``RatingStore.boot_id``; "unknown" is never taken for the same boot).

    Never raises: a store that cannot be read or written (a full disk, a read-only view, a
    value that is not JSON) is logged and the lock goes on in memory; the keypad always works.

    >>> keeper = LockKeeper(lambda: app.store, TECH_LOCK_KEY, store.boot_id)  # doctest: +SKIP
    >>> lock = TechnicianLock(pin_hash, keeper=keeper)                        # doctest: +SKIP
    """

    def __init__(self, store: Callable[[], Any], key: str, boot_id: str) -> None:
        self._store = store
        self.key = key
        self.boot_id = boot_id
        self._text: str | None = None   # what the database holds, when known
        self._failing = False

    def load(self) -> tuple[Any, bool]:
        """(the state kept, or None; True when it was kept in this boot)."""
        try:
            text = self._store().get_meta(self.key)
        except Exception as exc:   # a closed, unreadable or damaged store: counted in memory
            log.warning("cannot read the %s lockout from the kiosk database (%s); it starts "
                        "from nothing and is counted in memory", self.key, exc)
            return None, False
        self._text = text or ""
        if not text:
            return None, False
        try:
            doc = json.loads(text)
            boot, state = doc["boot"], doc["state"]
        except (ValueError, TypeError, KeyError) as exc:
            log.error("the %s lockout kept in the kiosk database is not readable (%s); it "
                      "starts from nothing", self.key, exc)
            return None, False
        same = isinstance(boot, str) and boot not in ("", "unknown") and boot == self.boot_id
        return state, same

    def save(self, state: Any) -> None:
        """Keep ``state`` (None: nothing counted) unless the database already holds it."""
        text = "" if not state else json.dumps({"boot": self.boot_id, "state": state},
                                               sort_keys=True, separators=(",", ":"))
        if text == self._text:
            return
        try:
            self._store().set_meta(self.key, text)
        except Exception as exc:   # StoreFullError, a read-only view, a closed connection …
            if not self._failing:
                log.warning("cannot keep the %s lockout in the kiosk database (%s); it is "
                            "counted in memory, and a restart would forget it", self.key, exc)
            self._failing = True
            return
        self._text, self._failing = text, False

