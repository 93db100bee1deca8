"""A batch's content checks and rows, worked out before its write transaction.

Everything here is a pure function of the batch, the authenticated device and the server
time: whether each event's content is acceptable (``validation.check_event``: hash, time,
payload), and the ``events`` and ``ratings`` rows it would add, as tuples in driver form.
``ingest`` then holds the write lock only for what needs the database (stored ids, chain
neighbours, the inserts). With several requests in flight (a kiosk pipelines batches; a
server serves many kiosks) this work overlaps another batch's writes: SQLite's driver lets go
of the GIL while it steps and commits, and only one transaction writes at a time.
"""

from __future__ import annotations

import datetime as dt

from . import constants as C
from .db import driver_time
from .ratings import RowMaker
from .settings import Settings
from .validation import check_event


class CheckedBatch:
    """Per event ``i`` of ``doc["events"]``: ``problems[i]`` (why its content is refused, or
    None), and for the others ``times[i]`` (its parsed device time), ``event_rows[i]`` and,
    for a rating, ``rating_rows[i]`` (the payload's window and unit; ``ingest`` moves a rating
    to the device's window when the payload names a window the device never served)."""

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
        uuids: dict[str, bool] = {}
        device_id = device["id"]
        for i, ev in enumerate(events):
            problem, payload_json, t = check_event(ev, device_id, uuids)
            self.problems.append(problem)
            if problem is not None:
                continue
            self.times[i] = t
            self.event_rows[i] = (ev["id"], device_id, ev["stream_id"], ev["seq"], ev["type"],
                                  ev["device_time"], ev["boot_id"], ev["mono_ns"], payload_json,
                                  ev["prev_hash"], ev["hash"], batch_id, server_time)
            if ev["type"] == C.EV_RATING:
                self.rating_rows[i] = self.make_rating(ev["id"], ev["payload"], t,
                                                       ev["device_time"])
