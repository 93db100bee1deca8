"""The clock of each boot of a device: which skew dates which event (docs/protocol.md, 1.1).

A kiosk has no battery clock, so every boot may start with another wrong clock. The skew
(device clock − server clock) measured at an upload or heartbeat is the clock of the boot the
kiosk is in while it sends (``X-Boot-Id``, the heartbeat's ``boot_id``); ``record`` keeps it per
(device, boot) in ``device_boots``. An event is dated by its own boot's skew. An event of a boot
that never reached the server is dated by its neighbours in its stream (``date_unknown``).

A wall clock set right during a boot (NTP, once the router is up) makes the skew measured
after it wrong for what the boot recorded before. The kiosk's monotonic clock (an event's
``mono_ns``) no step moves: a request's ``X-Mono-Ns`` with the server time then is a reference
pair of that boot (``record`` keeps the newest), and an event of a boot with one counts at
``mono_at − (mono_ref − mono_ns)`` (``date_by_mono``), before any skew.

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

from sqlalchemy import delete, func, select
from sqlalchemy.engine import Engine

from .db import driver_time, read, select_in, sql
from .schema import device_boots
from .validation import parse_time


class BootClocks:
    """How one batch's events are dated. ``skews``: boot id → skew (``timedelta``) of the
    boots measured (the current one included); ``default_s``: the skew in seconds of any other
    event (``date_unknown`` then dates those of ``unknown`` boots); ``floors``: per stream, the
    corrected time of the nearest stored event of a measured boot before the batch's first
    event of that stream, when that first event is of an unknown boot; ``refs``: boot id →
    (server time, device monotonic ns) of the boots with a reference pair."""

    def __init__(self, skews: dict[str, dt.timedelta], default_s: float, unknown: set[str],
                 floors: dict[str, dt.datetime],
                 refs: dict[str, tuple[dt.datetime, int]] | None = None):
        self.skews, self.default_s, self.unknown, self.floors = skews, default_s, unknown, floors
        self.refs = refs or {}


def record(conn, device_id: str, boot_id: str, skew_s: float, now: dt.datetime,
           mono_ns: int | None = None, mono_at: dt.datetime | None = None) -> None:
    """Remember ``skew_s`` as the clock of ``device_id``'s boot ``boot_id`` (the newest
    measurement wins: a clock set right during the boot, by NTP say, dates what comes after),
    and (``mono_ns``, ``mono_at``: the device's monotonic clock at the request, the server
    time then) the boot's reference pair. The newest reference wins too, by ``mono_at``
    (requests in flight together commit in any order): each is late by its request's transit
    and wait, and the newest is nearest the backlog it dates (a monotonic clock drifts by
    its crystal's error, tens of ppm, when NTP never disciplined it)."""
    at = driver_time(conn, now)
    if mono_ns is None:
        sql(conn, "INSERT INTO device_boots (device_id, boot_id, skew_s, first_at, last_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (device_id, boot_id) DO UPDATE SET "
            "skew_s = excluded.skew_s, last_at = excluded.last_at",
            (device_id, boot_id, skew_s, at, at))
        return
    newer = ("excluded.mono_at >= device_boots.mono_at OR device_boots.mono_at IS NULL "
             "OR device_boots.mono_ns IS NULL")
    sql(conn, "INSERT INTO device_boots (device_id, boot_id, skew_s, first_at, last_at, mono_ns, "
        "mono_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (device_id, boot_id) DO UPDATE SET "
        f"skew_s = excluded.skew_s, last_at = excluded.last_at, "
        f"mono_ns = CASE WHEN {newer} THEN excluded.mono_ns ELSE device_boots.mono_ns END, "
        f"mono_at = CASE WHEN {newer} THEN excluded.mono_at ELSE device_boots.mono_at END",
        (device_id, boot_id, skew_s, at, at, mono_ns, driver_time(conn, mono_at or now)))


# A boot's clock dates the events of that boot still to come. A kiosk uploads in order, so
# those of a boot not measured for half a year are few (a kiosk offline that long), and are
# dated by their neighbours like a boot never measured (``date_unknown``).
FORGET_AFTER_DAYS = 180


def forget_old(conn, now: dt.datetime, days: int = FORGET_AFTER_DAYS) -> int:
    """Delete the boots last measured more than ``days`` ago, but never a device's newest
    (a kiosk offline all that time still uploads its last boot's backlog by its clock).
    A kiosk rebooted nightly adds a row a day; a hall's fleet of thousands, a million a
    year. Returns the number of rows deleted."""
    other = device_boots.alias("newest")
    newest = (select(func.max(other.c.last_at))
              .where(other.c.device_id == device_boots.c.device_id).scalar_subquery())
    return conn.execute(delete(device_boots).where(
        device_boots.c.last_at < now - dt.timedelta(days=days),
        device_boots.c.last_at < newest)).rowcount


def _utc(value) -> dt.datetime | None:
    """A ``UTCDateTime`` read by a driver-level query (SQLite: naive UTC text)."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value


def mono_time(ref: tuple[dt.datetime, int], mono_ns, limit: dt.datetime) -> dt.datetime | None:
    """The time of an event recorded at ``mono_ns`` in a boot with reference ``ref`` (server
    time, device monotonic ns): ``at − (ref − mono_ns)``; None when ``mono_ns`` is not an
    integer or would date the event after ``limit`` (server time plus the clock window: no
    event is recorded after the request that uploads it)."""
    if type(mono_ns) is not int:
        return None
    try:
        t = ref[0] + dt.timedelta(microseconds=(mono_ns - ref[1]) // 1000)
    except OverflowError:
        return None
    return None if t > limit else t


def _reference(device: dict) -> tuple[dt.datetime, int] | None:
    """The reference pair of the boot ``device`` sends from (``auth``: X-Mono-Ns)."""
    mono, at = device.get("mono_ns"), device.get("mono_at")
    return None if mono is None or at is None or device.get("boot_id") is None else (at, mono)


def for_batch(engine: Engine, device: dict, events: list, *, export: bool = False,
              now: dt.datetime | None = None) -> BootClocks | None:
    """The clocks that date ``events`` of ``device`` (``device["boot_id"]``: the boot it sends
    from, ``device["skew_s"]``: the skew measured now), or None when the upload's skew dates
    every event as before: a kiosk that does not say its boot, or a batch of the current boot
    only (the usual batch: no query) from a kiosk that does not send its monotonic clock
    (``device["mono_ns"]``; with it, that batch gets the current boot's reference, still
    without a query). ``export``: a USB export (``backup``), sent from no boot;
    it is dated per boot when some of its boots were measured, else by ``skew_s`` (the last
    skew measured) as before. At most one query for the boots, and one per stream whose batch
    starts with an unmeasured boot."""
    current = device.get("boot_id")
    if current is None and not export:
        return None
    boots = {ev.get("boot_id") for ev in events if type(ev) is dict}
    boots = {b for b in boots if type(b) is str}
    skew_s = float(device.get("skew_s") or 0.0)
    ref = _reference(device)
    if current is not None and boots <= {current}:
        if ref is None:
            return None
        return BootClocks({current: dt.timedelta(seconds=skew_s)}, skew_s, set(), {},
                          {current: ref})
    with read(engine) as conn:
        rows = select_in(conn, "SELECT boot_id, skew_s, mono_ns, mono_at FROM device_boots "
                         "WHERE device_id = ? AND boot_id {in}", sorted(boots - {current}),
                         extra=(device["id"],))
        known = {r[0]: dt.timedelta(seconds=r[1]) for r in rows}
        refs = {r[0]: (_utc(r[3]), r[2]) for r in rows if r[2] is not None and r[3] is not None}
        if current is not None:
            known[current] = dt.timedelta(seconds=skew_s)
            if ref is not None:
                refs[current] = ref
        elif not known:
            return None
        unknown = boots - known.keys()
        floors = _floors(conn, device["id"], events, unknown, now) if unknown else {}
    return BootClocks(known, skew_s, unknown, floors, refs)


FLOOR_SCAN = 5000  # stored events looked at back from a batch for a measured boot's


def _floors(conn, device_id: str, events: list, unknown: set, now: dt.datetime | None) -> dict:
    """Per stream whose first event in the batch (by seq) is of an unknown boot: the corrected
    time of the nearest stored event before it (at most ``FLOOR_SCAN`` back) of a measured boot
    (by its boot's reference pair when it has one, ``mono_time``)."""
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
        row = sql(conn, "SELECT e.device_time, b.skew_s, e.mono_ns, b.mono_ns, b.mono_at "
                  "FROM events e JOIN device_boots b "
                  "ON b.device_id = e.device_id AND b.boot_id = e.boot_id WHERE e.device_id = ? "
                  "AND e.stream_id = ? AND e.seq < ? AND e.seq >= ? ORDER BY e.seq DESC LIMIT 1",
                  (device_id, stream_id, ev["seq"], ev["seq"] - FLOOR_SCAN)).first()
        if row is None:
            continue
        t = None
        if row[3] is not None and row[4] is not None:
            t = mono_time((_utc(row[4]), row[3]), row[2], now or dt.datetime.now(dt.timezone.utc))
        if t is None:
            t = parse_time(row[0])
            t = None if t is None else t - dt.timedelta(seconds=row[1])
        if t is not None:
            floors[stream_id] = t
    return floors


def date_by_mono(events: list, times: dict, clocks: BootClocks, now: dt.datetime,
                 window_s: float, tolerance_s: float = 2.0) -> dict[int, dt.datetime]:
    """The time of each event ``i`` (of ``times``: the parsed device times of the events whose
    content passed) of a boot with a reference pair, when it differs from its device time
    corrected by its boot's skew by more than ``tolerance_s`` (the skew dates the others, as
    the compiled checks made their rows): ``mono_time``, never later than ``now``. An event
    whose ``mono_ns`` would date it after ``now`` plus ``window_s`` is not believed: its skew
    dates it, as before.

    The usual batch (a clock right all along) differs nowhere: a loop of arithmetic, about
    0.6 µs an event, no datetime made."""
    refs, skews = clocks.refs, clocks.skews
    if not refs:
        return {}
    # Per boot: (server time − device monotonic time at the reference) in epoch seconds, plus
    # the boot's skew: the boot's start on its own wall clock, if it never stepped.
    start = {b: (at - _EPOCH).total_seconds() - mono / 1e9 + skews[b].total_seconds()
             for b, (at, mono) in refs.items() if b in skews}
    offsets: dict = {}
    limit = now + dt.timedelta(seconds=window_s)
    dated = {}
    get = start.get
    for i, t in times.items():
        ev = events[i]
        base = get(ev["boot_id"])
        if base is None:
            continue
        tz = t.tzinfo
        off = offsets.get(tz)
        if off is None:
            off = offsets[tz] = t.utcoffset().total_seconds()
        wall = (t.toordinal() - _EPOCH_DAY) * 86400 + t.hour * 3600 + t.minute * 60 \
            + t.second - off + t.microsecond * 1e-6
        d = base + ev["mono_ns"] * 1e-9 - wall
        if d > tolerance_s or d < -tolerance_s:
            when = mono_time(refs[ev["boot_id"]], ev["mono_ns"], limit)
            if when is not None:
                dated[i] = now if when > now else when
    return dated


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_EPOCH_DAY = _EPOCH.toordinal()


def date_unknown(events: list, times: dict, clocks: BootClocks, now: dt.datetime,
                 dated: dict[int, dt.datetime] | None = None) -> dict[int, dt.datetime]:
    """The time of each event ``i`` (of ``times``: the parsed device times of the events whose
    content passed) whose boot was never measured.

    Sequence order is the truth a wrong clock cannot bend: such an event happened after the
    event before it in its stream and before the one after it. So its own device time is kept
    when it lies between the corrected times of the nearest events of measured boots before
    and after it (the stored one before the batch, ``clocks.floors``, when the batch holds
    none; server time when none follows), else it is clamped to the nearer of the two.
    ``dated``: the times of events of measured boots dated otherwise (``date_by_mono``)."""
    by_stream: dict[str, list[tuple[int, int]]] = defaultdict(list)
    skews, unknown = clocks.skews, clocks.unknown
    with_unknown = {events[i]["stream_id"] for i in times if events[i]["boot_id"] in unknown}
    for i in times:
        ev = events[i]
        if ev["stream_id"] in with_unknown:
            by_stream[ev["stream_id"]].append((ev["seq"], i))
    other = dated or {}
    dated = {}
    for stream_id, items in by_stream.items():
        items.sort()
        after: list[dt.datetime | None] = [None] * len(items)
        hi = None
        for k in range(len(items) - 1, -1, -1):
            i = items[k][1]
            skew = skews.get(events[i]["boot_id"])
            if skew is not None:
                hi = other.get(i) or times[i] - skew
            else:
                after[k] = hi
        lo = clocks.floors.get(stream_id)
        for k, (_, i) in enumerate(items):
            skew = skews.get(events[i]["boot_id"])
            if skew is not None:
                lo = other.get(i) or times[i] - skew
                continue
            t, upper = times[i], after[k]
            upper = now if upper is None or upper > now else upper
            if lo is not None and t < lo:
                t = lo
            dated[i] = upper if t > upper else t
    return dated
