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

from . import constants as C
from . import rollups
from .db import WRITER_FIRST, driver_time
from .ratings import RowMaker, counted
from .settings import Settings
from .validation import check_event


class CheckedBatch:
    """Per event ``i`` of ``doc["events"]``: ``problems[i]`` (why its content is refused, or
    None), and for the others ``times[i]`` (its parsed device time), ``event_rows[i]``,
    ``answers[i]`` (its answer if it is stored) and, for a rating, ``rating_rows[i]`` (the
    payload's window and unit; ``ingest`` moves a rating to the device's window when the
    payload names a window the device never served).

    For the whole batch: ``late`` (events dated after server time plus the clock window),
    ``flagged`` (ratings with flags) and ``rollup``, the rollup increments of all
    ``rating_rows`` (``rollups.tally``): right as they are when every rating is stored."""

    def __init__(self, doc: dict, device: dict, now: dt.datetime, settings: Settings,
                 dialect: str):
        events = doc["events"]
        self.unit_id = device.get("unit_id")
        self.make_rating = RowMaker(dialect, device, now, float(device.get("skew_s") or 0.0),
                                    settings.timezone_offset_hours)
        batch_id, server_time = doc["batch_id"], driver_time(dialect, now)
        self.problems: list[str | None] = []
        self.times: dict[int, dt.datetime] = {}
        self.event_rows: dict[int, tuple] = {}
        self.rating_rows: dict[int, tuple] = {}
        self.answers: dict[int, dict] = {}
        self.late: list[int] = []
        self.flagged: list[int] = []
        uuids: dict[str, bool] = {}
        device_id = device["id"]
        late = now + dt.timedelta(seconds=settings.clock_window_seconds)
        pause = WRITER_FIRST.pause
        for i, ev in enumerate(events):
            if not i & 15:
                pause()
            problem, payload_json, t = check_event(ev, device_id, uuids)
            self.problems.append(problem)
            if problem is not None:
                continue
            self.times[i] = t
            self.event_rows[i] = (ev["id"], device_id, ev["stream_id"], ev["seq"], ev["type"],
                                  ev["device_time"], ev["boot_id"], ev["mono_ns"], payload_json,
                                  ev["prev_hash"], ev["hash"], batch_id, server_time)
            self.answers[i] = {"id": ev["id"], "seq": ev["seq"], "status": C.ST_ACCEPTED}
            if t > late:
                self.late.append(i)
            if ev["type"] == C.EV_RATING:
                payload = ev["payload"]
                self.rating_rows[i] = self.make_rating(ev["id"], payload, t, ev["device_time"])
                if payload.get("flags"):
                    self.flagged.append(i)
        self.rollup = rollups.tally(map(counted, self.rating_rows.values()))
