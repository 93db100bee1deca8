"""The clock of each boot of a device: which skew dates which event (docs/protocol.md, 1.1).

A kiosk has no battery clock, so every boot may start with another wrong clock. The skew
(device clock − server clock) measured at an upload or heartbeat is the clock of the boot the
kiosk is in while it sends (``X-Boot-Id``, the heartbeat's ``boot_id``); ``record`` keeps it per
(device, boot) in ``device_boots``. An event is dated by its own boot's skew. An event of a boot
that never reached the server is dated by its neighbours in its stream (``date_unknown``).

>>> import datetime as dt
>>> utc, now = dt.timezone.utc, dt.datetime(2026, 12, 20, 12, tzinfo=dt.timezone.utc)
>>> clocks = BootClocks({"B": dt.timedelta(days=-30)}, 0.0, {"A"}, {})
>>> evs = [{"stream_id": "s", "seq": 1, "boot_id": "A"}, {"stream_id": "s", "seq": 2, "boot_id": "B"}]
>>> times = {0: dt.datetime(2026, 11, 20, 9, tzinfo=utc), 1: dt.datetime(2026, 11, 20, 10, tzinfo=utc)}
>>> date_unknown(evs, times, clocks, now)[0].isoformat()   # A's right clock, before B's event
'2026-11-20T09:00:00+00:00'
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from sqlalchemy.engine import Engine

from .db import driver_time, read, select_in, sql
from .validation import parse_time


class BootClocks:
    """How one batch's events are dated. ``skews``: boot id → skew (``timedelta``) of the
    boots measured (the current one included); ``default_s``: the skew in seconds of any other
    event (``date_unknown`` then dates those of ``unknown`` boots); ``floors``: per stream, the
    corrected time of the nearest stored event of a measured boot before the batch's first
    event of that stream, when that first event is of an unknown boot."""

    def __init__(self, skews: dict[str, dt.timedelta], default_s: float, unknown: set[str],
                 floors: dict[str, dt.datetime]):
        self.skews, self.default_s, self.unknown, self.floors = skews, default_s, unknown, floors


def record(conn, device_id: str, boot_id: str, skew_s: float, now: dt.datetime) -> None:
    """Remember ``skew_s`` as the clock of ``device_id``'s boot ``boot_id`` (the newest
    measurement wins: a clock set right during the boot, by NTP say, dates what comes after)."""
    at = driver_time(conn, now)
    sql(conn, "INSERT INTO device_boots (device_id, boot_id, skew_s, first_at, last_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (device_id, boot_id) DO UPDATE SET "
        "skew_s = excluded.skew_s, last_at = excluded.last_at",
        (device_id, boot_id, skew_s, at, at))


def for_batch(engine: Engine, device: dict, events: list, *, export: bool = False
              ) -> BootClocks | None:
    """The clocks that date ``events`` of ``device`` (``device["boot_id"]``: the boot it sends
    from, ``device["skew_s"]``: the skew measured now), or None when the upload's skew dates
    every event as before: a kiosk that does not say its boot, or a batch of the current boot
    only (the usual batch: no query). ``export``: a USB export (``backup``), sent from no boot;
    it is dated per boot when some of its boots were measured, else by ``skew_s`` (the last
    skew measured) as before. At most one query for the boots, and one per stream whose batch
    starts with an unmeasured boot."""
    current = device.get("boot_id")
    if current is None and not export:
        return None
    boots = {ev.get("boot_id") for ev in events if type(ev) is dict}
    boots = {b for b in boots if type(b) is str}
    if current is not None and boots <= {current}:
        return None
    skew_s = float(device.get("skew_s") or 0.0)
    with read(engine) as conn:
        known = {b: dt.timedelta(seconds=s) for b, s in select_in(
            conn, "SELECT boot_id, skew_s FROM device_boots WHERE device_id = ? AND boot_id {in}",
            sorted(boots - {current}), extra=(device["id"],))}
        if current is not None:
            known[current] = dt.timedelta(seconds=skew_s)
        elif not known:
            return None
        unknown = boots - known.keys()
        floors = _floors(conn, device["id"], events, unknown) if unknown else {}
    return BootClocks(known, skew_s, unknown, floors)


FLOOR_SCAN = 5000  # stored events looked at back from a batch for a measured boot's


def _floors(conn, device_id: str, events: list, unknown: set) -> dict:
    """Per stream whose first event in the batch (by seq) is of an unknown boot: the corrected
    time of the nearest stored event before it (at most ``FLOOR_SCAN`` back) of a measured boot."""
    first: dict[str, dict] = {}
    for ev in events:
        if type(ev) is not dict or type(ev.get("seq")) is not int:
            continue
        s = ev.get("stream_id")
        if type(s) is str and (s not in first or ev["seq"] < first[s]["seq"]):
            first[s] = ev
    floors = {}
    for stream_id, ev in first.items():
        if ev.get("boot_id") not in unknown:
            continue
        row = sql(conn, "SELECT e.device_time, b.skew_s FROM events e JOIN device_boots b "
                  "ON b.device_id = e.device_id AND b.boot_id = e.boot_id WHERE e.device_id = ? "
                  "AND e.stream_id = ? AND e.seq < ? AND e.seq >= ? ORDER BY e.seq DESC LIMIT 1",
                  (device_id, stream_id, ev["seq"], ev["seq"] - FLOOR_SCAN)).first()
        t = parse_time(row[0]) if row else None
        if t is not None:
            floors[stream_id] = t - dt.timedelta(seconds=row[1])
    return floors


def date_unknown(events: list, times: dict, clocks: BootClocks, now: dt.datetime
                 ) -> dict[int, dt.datetime]:
    """The time of each event ``i`` (of ``times``: the parsed device times of the events whose
    content passed) whose boot was never measured.

    Sequence order is the truth a wrong clock cannot bend: such an event happened after the
    event before it in its stream and before the one after it. So its own device time is kept
    when it lies between the corrected times of the nearest events of measured boots before
    and after it (the stored one before the batch, ``clocks.floors``, when the batch holds
    none; server time when none follows), else it is clamped to the nearer of the two."""
    by_stream: dict[str, list[tuple[int, int]]] = defaultdict(list)
    skews, unknown = clocks.skews, clocks.unknown
    with_unknown = {events[i]["stream_id"] for i in times if events[i]["boot_id"] in unknown}
    for i in times:
        ev = events[i]
        if ev["stream_id"] in with_unknown:
            by_stream[ev["stream_id"]].append((ev["seq"], i))
    dated: dict[int, dt.datetime] = {}
    for stream_id, items in by_stream.items():
        items.sort()
        after: list[dt.datetime | None] = [None] * len(items)
        hi = None
        for k in range(len(items) - 1, -1, -1):
            i = items[k][1]
            skew = skews.get(events[i]["boot_id"])
            if skew is not None:
                hi = times[i] - skew
            else:
                after[k] = hi
        lo = clocks.floors.get(stream_id)
        for k, (_, i) in enumerate(items):
            skew = skews.get(events[i]["boot_id"])
            if skew is not None:
                lo = times[i] - skew
                continue
            t, upper = times[i], after[k]
            upper = now if upper is None or upper > now else upper
            if lo is not None and t < lo:
                t = lo
            dated[i] = upper if t > upper else t
    return dated
