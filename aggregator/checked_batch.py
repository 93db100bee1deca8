"""A batch's content checks and rows, worked out before its write transaction.

Everything here is a pure function of the batch, the authenticated device and the server
time: whether each event's content is acceptable (``validation.check_event``: hash, time,
payload), and the ``events`` and ``ratings`` rows it would add, as tuples in driver form.
``ingest`` then holds the write lock only for what needs the database (stored ids, chain
neighbours, the inserts). The answers, the clock and flag alerts to raise and the rollup
increments of the usual batch (new events, all stored) are worked out here too, so that the
locked part is the database work and little else: SQLite takes one writer at a time, so the
locked part bounds a server's ingest rate (bench/bench_ingest.py). With several requests in
flight (a kiosk pipelines batches; a server serves many kiosks) this work overlaps another
batch's writes: SQLite's driver lets go of the GIL while it steps and commits.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import orjson

from . import constants as C
from . import db, rollups
from .boot_clocks import BootClocks, date_by_mono, date_unknown
from .db import WRITER_FIRST, driver_time
from .ratings import RowMaker, counted
from .settings import Settings
from .validation import MAX_YEAR, MIN_YEAR, PAYLOAD_CHECKS, check_event, fast


def _flags_json(flags: list) -> str:  # RowMaker's text of a rating's flags
    return json.dumps(sorted(set(flags)))


if fast is not None:  # the compiled checks (_fastcheck.c) take their rules from here
    fast.setup(orjson.dumps, orjson.OPT_SORT_KEYS, dt.datetime.fromisoformat,
               frozenset(C.EVENT_TYPES - PAYLOAD_CHECKS.keys()), C.STARS, db._UTC_HOURS,
               driver_time, _flags_json, C.ST_ACCEPTED, hashlib.sha256, C.DEVICE_CHANNELS,
               MIN_YEAR, MAX_YEAR, C.SERVER_FLAGS)


MONO_TOLERANCE_S = 2.0  # a time by the monotonic clock this near the skew's keeps the skew's


class CheckedBatch:
    """Per event ``i`` of ``doc["events"]``: ``problems[i]`` (why its content is refused, or
    None), and for the others ``times[i]`` (its parsed device time), ``event_rows[i]``,
    ``answers[i]`` (its answer if it is stored) and, for a rating, ``rating_rows[i]`` (the
    payload's window and unit; ``ingest`` moves a rating to the device's window when the
    payload names a window the device never served).

    For the whole batch: ``late`` (events dated after server time plus the clock window),
    ``flagged`` (ratings with flags) and ``rollup``, the rollup increments of all
    ``rating_rows`` (``rollups.tally``): right as they are when every rating is stored.

    ``clocks`` (``boot_clocks.for_batch``): each event is dated by its own boot's skew, and
    ``dated[i]`` is the time of an event of a boot never measured, or of a boot with a
    reference pair of its monotonic clock whose time by it differs from the skew's by more
    than ``MONO_TOLERANCE_S`` (a wall clock stepped during the boot); None: by the upload's skew
    (``device["skew_s"]``), as a kiosk that does not say its boot always was. ``real_time(i)``
    is the time an event counts on.

    The usual well-formed event is checked and turned into rows by the compiled
    ``_fastcheck`` when it is built, any other by ``_check``, the reference, which alone
    words the problems; ``by_python`` counts the events ``_check`` took."""

    def __init__(self, doc: dict, device: dict, now: dt.datetime, settings: Settings,
                 dialect: str, clocks: BootClocks | None = None):
        events = self._events = doc["events"]
        self.unit_id, self.now = device.get("unit_id"), now
        skew_s = float(device.get("skew_s") or 0.0) if clocks is None else clocks.default_s
        boot_skews = None if clocks is None else clocks.skews
        self.make_rating = RowMaker(dialect, device, now, skew_s,
                                    settings.timezone_offset_hours, boot_skews)
        self.dated: dict[int, dt.datetime] = {}
        batch_id, server_time = doc["batch_id"], driver_time(dialect, now)
        self.problems: list[str | None] = []
        self.times: dict[int, dt.datetime] = {}
        self.event_rows: dict[int, tuple] = {}
        self.rating_rows: dict[int, tuple] = {}
        self.answers: dict[int, dict] = {}
        self.late: list[int] = []
        self.flagged: list[int] = []
        self._device_id, self._batch_id, self._server_time = device["id"], batch_id, server_time
        self._late = now + dt.timedelta(seconds=settings.clock_window_seconds)
        self._uuids: dict[str, bool] = {}
        pause = WRITER_FIRST.pause
        if fast is not None and type(self._device_id) is str and type(events) is list:
            # The usual event in C (_fastcheck.c), any other by ``_check``
            make = self.make_rating
            self.by_python = fast.run(
                events, self._device_id, batch_id, server_time, self._late, self._uuids,
                pause, self._check, self.problems, self.times, self.event_rows, self.answers,
                self.late, self.flagged, self.rating_rows, make.device_id, make.unit_id,
                make.now, make.skew, make.tz, make.server_time, dialect == "postgresql",
                boot_skews)
            if clocks is not None and (clocks.refs or clocks.unknown):
                self._redate(clocks, settings.clock_window_seconds)
            self.rollup = fast.tally(self.rating_rows)
            if self.rollup is not None:
                return
        else:
            self.by_python = len(events)
            for i, ev in enumerate(events):
                if not i & 15:
                    pause()
                self._check(i, ev)
            if clocks is not None and (clocks.refs or clocks.unknown):
                self._redate(clocks, settings.clock_window_seconds)
        self.rollup = rollups.tally(map(counted, self.rating_rows.values()))

    def _redate(self, clocks: BootClocks, window_s: float) -> None:
        """Date by their boot's monotonic clock the events whose wall clock stepped, and those
        of boots never measured by their neighbours; remake the rows of those that are
        ratings (the compiled checks made them with their boot's skew)."""
        events, rows = self._events, self.rating_rows
        dated = date_by_mono(events, self.times, clocks, self.now, window_s, MONO_TOLERANCE_S)
        if clocks.unknown:
            dated.update(date_unknown(events, self.times, clocks, self.now, dated))
        self.dated = dated
        for i, when in dated.items():
            if i in rows:
                ev = events[i]
                rows[i] = self.make_rating(ev["id"], ev["payload"], self.times[i],
                                           ev["device_time"], ev["boot_id"], when)

    def real_time(self, i: int) -> dt.datetime:
        """The time event ``i`` counts on: its device time corrected by its boot's skew (or
        ``dated[i]``), never later than server time."""
        when = self.dated.get(i)
        if when is None:
            skew = self.make_rating.skew_of(self._events[i]["boot_id"])
            when = self.times[i] - skew
        return min(when, self.now)

    def _check(self, i: int, ev: dict) -> None:
        problem, payload_json, t = check_event(ev, self._device_id, self._uuids)
        self.problems.append(problem)
        if problem is not None:
            return
        self.times[i] = t
        self.event_rows[i] = (ev["id"], self._device_id, ev["stream_id"], ev["seq"], ev["type"],
                              ev["device_time"], ev["boot_id"], ev["mono_ns"], payload_json,
                              ev["prev_hash"], ev["hash"], self._batch_id, self._server_time)
        self.answers[i] = {"id": ev["id"], "seq": ev["seq"], "status": C.ST_ACCEPTED}
        if t > self._late:
            self.late.append(i)
        if ev["type"] == C.EV_RATING:
            payload = ev["payload"]
            self.rating_rows[i] = self.make_rating(ev["id"], payload, t, ev["device_time"],
                                                   ev["boot_id"])
            if payload.get("flags"):
                self.flagged.append(i)
