"""Ingest of one signed batch (docs/protocol.md, ``POST /api/v1/batches``).

First, without any lock, ``checked_batch.CheckedBatch`` checks every event's content and
builds the rows it would add. Then one transaction per batch, with the device row locked
(PostgreSQL ``FOR UPDATE``; SQLite's ``BEGIN IMMEDIATE`` serialises writers anyway), so
concurrent copies of a batch store each event once. Per event, in order:

1. id already stored: same hash → ``duplicate``, other hash → ``conflict`` (quarantined, alert);
2. a content problem (from ``CheckedBatch``), or a rating for a window the device never
   served → ``rejected``;
3. hash-chain links to the stored neighbours in the same (device, stream) → a break is
   ``rejected`` with an alert; a seq already holding another event is a ``conflict``;
4. insert, then ratings, rollups, cases, follow-ups, stream high water.

Cost is per batch, not per event: one ``SELECT … WHERE id IN`` for the ids that may be stored
already (those at or below their stream's highest stored seq: none in a new batch), one range
query of stored neighbours per stream, one bulk insert each for events and ratings (driver
tuples, ``db.insert_new``: expected absent, so ``executemany`` on SQLite checked by its row
count, ``COPY`` on PostgreSQL, each in a savepoint with the exact path as fallback), one
upsert per rollup table. The event's hash and the canonical text of its payload (stored as
is) come from one serialisation (``validation.hash_and_payload``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict

from sqlalchemy import and_, select
from sqlalchemy.engine import Connection, Engine

from . import boot_clocks
from . import constants as C
from . import ratings as rating_store
from .alerts import raise_alert
from .auth import remember_nonce
from .checked_batch import CheckedBatch
from .dashboard.cases import open_cases_for, open_cases_for_callbacks
from .db import driver_time, insert_new, is_pg, rehearsal, select_in, sql, write
from .errors import Unauthorized
from .schema import events, quarantine, streams
from .settings import Settings

MAX_SEQ = 2**63 - 1  # an unknown stream: look every id up
_STARS, _DAY, _WINDOW, _UNIT, _FLAGS, _FLAGGED = (
    rating_store.COLUMNS.index(c)
    for c in ("stars", "day", "window_id", "unit_id", "flags", "flagged"))
EVENT_COLUMNS = ("id", "device_id", "stream_id", "seq", "type", "device_time", "boot_id",
                 "mono_ns", "payload", "prev_hash", "hash", "batch_id", "server_time")


def ingest_batch(engine: Engine, device: dict, doc: dict, now: dt.datetime,
                 settings: Settings, *, nonce: bool = False,
                 revoked_at: dt.datetime | None = None, export: bool = False) -> dict:
    """Store the batch ``doc`` of ``device`` and return the protocol's answer.

    ``nonce``: record the request's nonce (``device["nonce"]``, from ``authenticate_device``
    with ``record_nonce=False``) in this transaction; a replay then changes nothing: it is
    answered with what the server holds of it when it holds all of it, else refused as a whole.
    ``revoked_at``: the revocation time of a revoked device whose USB export is taken in
    (``backup.import_kiosk_export``); only then is a revoked device's batch stored. Its
    ratings recorded after that time are flagged ``after_revocation``, not refused.

    Each event is dated by the clock of the boot it was recorded in (``boot_clocks``); a USB
    export (``revoked_at`` or not) is sent from no boot, so only the boots measured before date it.
    """
    # no lock held: the boots' clocks (no query for the usual batch), the content checks
    clocks = boot_clocks.for_batch(engine, device, doc["events"], export=export, now=now)
    checked = CheckedBatch(doc, device, now, settings, engine.dialect.name, clocks)
    try:
        with write(engine) as conn:
            return _Batch(conn, device, doc, checked, now, settings, nonce, revoked_at).run()
    except Unauthorized as exc:
        if not nonce or exc.code != "replayed":
            raise
        replayed = exc
    # The nonce was recorded with a batch that committed. When the server holds every event
    # of this one already (stored, or quarantined as it was), it is that batch again: a proxy
    # sent the request twice. Its answer is then what the server holds (duplicates, the
    # refused refused again), worked out in a transaction that is rolled back: a replay
    # changes nothing. Answered 401 "replayed", a proxy that doubled every POST kept every
    # rating pending on the kiosk. Anything new under a used nonce is still refused.
    with rehearsal(engine) as conn:
        batch = _Batch(conn, device, doc, checked, now, settings, False, revoked_at)
        answer = batch.run()
        if batch.new_rows:
            raise replayed
        return answer


def _with_unit(row: tuple, unit_id: str) -> tuple:
    row = list(row)
    row[_UNIT] = unit_id
    return tuple(row)


def storable(text):
    """Text any column can hold: a rejected event may carry a lone UTF-16 surrogate or a NUL.

    Quarantining such an event (its checks had rejected it) failed in the database, the whole
    batch was answered 500, and the kiosk resent it for ever: its outbox was stuck.
    """
    if not isinstance(text, str):
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text.replace("\x00", "\\x00")


class _Batch:
    def __init__(self, conn: Connection, device: dict, doc: dict, checked: CheckedBatch,
                 now: dt.datetime, settings: Settings, nonce: bool = False,
                 revoked_at: dt.datetime | None = None):
        self.conn, self.doc, self.now, self.s = conn, doc, now, settings
        self.revoked_at = revoked_at
        self.checked = checked
        self.nonce = device["nonce"] if nonce else None
        self.device_id = device["id"]
        self.skew = float(device.get("skew_s") or 0.0)
        self.boot_id = device.get("boot_id")  # the boot the skew was measured in (X-Boot-Id)
        # that boot's monotonic clock then (X-Mono-Ns) and the server time of the measurement
        self.mono = (device.get("mono_ns"), device.get("mono_at"))
        self.events = doc["events"]
        self.results: list[dict | None] = [None] * len(self.events)
        self.quarantined: list[dict] = []
        self.alerted: set[tuple[str, str]] = set()
        self.windows: dict[str, str] = {}  # payload window id → the window it counts for

    # -- verdicts ---------------------------------------------------------------------
    def _verdict(self, i: int, status: str, reason: str | None = None) -> None:
        ev = self.events[i]
        self.results[i] = {"id": ev["id"], "seq": ev["seq"], "status": status}
        if reason:
            self.results[i]["reason"] = reason
        if status in (C.ST_CONFLICT, C.ST_REJECTED):
            self.quarantined.append({
                "event_id": storable(ev["id"]), "device_id": self.device_id,
                "batch_id": self.doc["batch_id"], "status": status, "reason": storable(reason),
                "event": storable(json.dumps(ev, ensure_ascii=False)), "received_at": self.now})

    def _alert(self, kind: str, key: str, detail: str, **args) -> None:
        """``args``: the values of ``detail`` for the dashboard (``alerts.raise_alert``)."""
        if (kind, key) in self.alerted:  # raised once per key anyway (dedupe_key)
            return
        self.alerted.add((kind, key))
        raise_alert(self.conn, kind, f"{self.device_id}:{key}", detail, self.now,
                    device_id=self.device_id, window_id=self.device.get("window_id"),
                    args={"device": self.device_id, **args})

    # -- the steps --------------------------------------------------------------------
    def run(self) -> dict:
        # The unit is the device's window's as the server knows it now (a window moved to
        # another unit before devices followed their window kept counting for the old one).
        row = sql(self.conn, "SELECT d.id, d.window_id, COALESCE(w.unit_id, d.unit_id) AS unit_id, "
                  "d.staff_id, d.staff_name, d.revoked_at FROM devices d LEFT JOIN windows w "
                  "ON w.id = d.window_id WHERE d.id = ?"
                  + (" FOR UPDATE OF d" if is_pg(self.conn) else ""),
                  (self.device_id,)).mappings().first()
        if row is None or (row["revoked_at"] is not None and self.revoked_at is None):
            raise Unauthorized(f"device {self.device_id!r} was revoked", code="device_revoked")
        if self.nonce is not None:
            remember_nonce(self.conn, {"id": self.device_id, "nonce": self.nonce}, self.now)
        self.device = dict(row)
        # gap_since stays in driver form: it is only written back (``_update_streams``)
        self.known_streams = {r["stream_id"]: dict(r) for r in sql(
            self.conn, "SELECT stream_id, high_water, max_seq, gap_since FROM streams "
            "WHERE device_id = ?", (self.device_id,)).mappings()}
        candidates = self._classify_known()
        accepted = self._check_chains(candidates)
        accepted = self._insert(accepted)
        self._apply(accepted)
        self.new_rows = len(accepted)   # events and quarantine rows this batch adds
        if self.quarantined:   # the rare path: the lookup costs a well-formed batch nothing
            rows = self._new_quarantine_rows()
            if rows:
                self.conn.execute(quarantine.insert(), rows)
                self.new_rows += len(rows)
        high_water = self._update_streams(accepted)
        now = driver_time(self.conn, self.now)
        if self.revoked_at is None:  # a revoked device's export: the device was not seen
            sql(self.conn, "UPDATE devices SET last_seen_at = ?, last_upload_at = ?, "
                "last_skew_s = ? WHERE id = ?", (now, now, self.skew, self.device_id))
            if self.boot_id is not None:
                boot_clocks.record(self.conn, self.device_id, self.boot_id, self.skew, self.now,
                                   *self.mono)
        return {"batch_id": self.doc["batch_id"], "device_id": self.device_id,
                "server_time": self.now.isoformat(), "results": self.results,
                "high_water": high_water}

    def _new_quarantine_rows(self) -> list[dict]:
        """The rows of ``self.quarantined`` not stored already: an event sent again as it was
        (a kiosk's USB export imported twice, a batch resent after a lost answer) for the same
        reason was quarantined again each time (4,000 rows for 2,000 events)."""
        def key(row: dict) -> tuple:
            return row["event_id"], row["status"], row["reason"], row["event"]

        seen = {tuple(r) for r in select_in(
            self.conn, "SELECT event_id, status, reason, event FROM quarantine "
            "WHERE device_id = ? AND event_id {in}",
            sorted({r["event_id"] for r in self.quarantined if isinstance(r["event_id"], str)}),
            (self.device_id,))}
        rows = []
        for row in self.quarantined:
            if key(row) not in seen:
                seen.add(key(row))
                rows.append(row)
        return rows

    def _classify_known(self) -> list[int]:
        # Only an event at or below its stream's highest stored seq can be stored already (an
        # event's hash covers its stream and seq, so a copy of it sits at that seq). Above it,
        # a stored id is another event's, which the insert finds (``_insert``: conflict).
        ids = sorted({ev["id"] for ev in self.events if ev["seq"] <= self.known_streams.get(
            ev["stream_id"], {}).get("max_seq", MAX_SEQ)})
        stored = dict(tuple(r) for r in select_in(
            self.conn, "SELECT id, hash FROM events WHERE id {in}", ids))
        first_in_batch: dict[str, int] = {}
        candidates = []
        self.repeats: list[tuple[int, int]] = []
        window_id = self.device["window_id"]
        problems = self.checked.problems
        for i, ev in enumerate(self.events):
            if stored and ev["id"] in stored:
                if stored[ev["id"]] == ev["hash"]:
                    self._verdict(i, C.ST_DUPLICATE)
                else:
                    self._conflict(i, "same id, different hash")
                continue
            problem = problems[i]
            if problem is None and ev["type"] in (C.EV_RATING, C.EV_NOT_RATED):
                problem = self._window_problem(ev["payload"].get("window_id") or window_id)
            if problem:
                self._verdict(i, C.ST_REJECTED, problem)
            elif ev["id"] in first_in_batch:
                self.repeats.append((i, first_in_batch[ev["id"]]))
            else:
                first_in_batch[ev["id"]] = i
                candidates.append(i)
        return candidates

    def _window_problem(self, named: str) -> str | None:
        """Which window a rating counts for (kept in ``self.windows``), or why it counts for none.

        The device's window, or one it was enrolled to before (a kiosk moved between windows
        keeps its old ratings there). A window the server does not know at all is the kiosk's
        standalone set-up before enrolment: those ratings count for the device's window (the
        event keeps what the kiosk said). A known window the device never served is refused.
        """
        if named in self.windows:
            return None
        window_id = self.device["window_id"]
        if named == window_id:
            self.windows[named] = named
            return None
        # A used code only: create_code writes device_id when a code is made, and a code made
        # for the device and never used made its window one it "served".
        served = sql(self.conn, "SELECT 1 FROM enroll_codes WHERE device_id = ? AND window_id = ?"
                     " AND used_at IS NOT NULL", (self.device_id, named)).first()
        known = sql(self.conn, "SELECT 1 FROM windows WHERE id = ?", (named,)).first()
        if served or not known:
            self.windows[named] = named if served else window_id
            return None
        return f"payload.window_id: {named!r} is not a window this device served (it serves {window_id!r})"

    def _conflict(self, i: int, reason: str) -> None:
        ev = self.events[i]
        self._verdict(i, C.ST_CONFLICT, reason)
        # One alert per stream and day, naming the first event (every one is in quarantine):
        # a kiosk restored from a backup on the same stream sent 300 conflicting events and
        # raised 300 alerts, burying every other one.
        self._alert(C.AL_CONFLICT, f"{ev['stream_id']}:{self.now.date().isoformat()}",
                    f"device {self.device_id} sent event {ev['id']} "
                    f"(stream {ev['stream_id']} seq {ev['seq']}): {reason}; quarantined",
                    event=ev["id"], stream=ev["stream_id"], seq=ev["seq"], reason=reason)

    def _check_chains(self, candidates: list[int]) -> list[int]:
        by_stream: dict[str, list[int]] = defaultdict(list)
        for i in candidates:
            by_stream[self.events[i]["stream_id"]].append(i)
        accepted = []
        for stream_id, idxs in by_stream.items():
            near = self._neighbours(stream_id, {self.events[i]["seq"] for i in idxs})
            in_batch: dict[int, str] = {}
            for i in sorted(idxs, key=lambda i: self.events[i]["seq"]):
                ev = self.events[i]
                s = ev["seq"]
                if s in near or s in in_batch:
                    self._conflict(i, f"seq {s} of stream {stream_id} holds another event")
                    continue
                prev = in_batch.get(s - 1) or (near[s - 1].hash if s - 1 in near else None)
                if s > 1 and prev is not None and prev != ev["prev_hash"]:
                    self._chain_break(i, f"chain break: prev_hash does not match the hash of "
                                         f"seq {s - 1}")
                    continue
                nxt = near.get(s + 1)
                if nxt is not None and nxt.prev_hash != ev["hash"]:
                    self._chain_break(i, f"chain break: stored seq {s + 1} does not chain to "
                                         "this event")
                    continue
                in_batch[s] = ev["hash"]
                accepted.append(i)
        return accepted

    def _neighbours(self, stream_id: str, seqs: set[int]) -> dict:
        """The stored events of ``stream_id`` at ``seqs`` and next to them, by seq."""
        need = seqs | {s - 1 for s in seqs if s > 1} | {s + 1 for s in seqs}
        lo, hi = min(need), max(need)
        cols = "SELECT seq, hash, prev_hash FROM events WHERE device_id = ? AND stream_id = ? "
        if hi - lo < 2 * len(need):  # dense (the usual batch): one range scan
            rows = sql(self.conn, cols + "AND seq BETWEEN ? AND ?",
                       (self.device_id, stream_id, lo, hi)).all()
        else:
            rows = select_in(self.conn, cols + "AND seq {in}", sorted(need),
                             extra=(self.device_id, stream_id))
        return {r.seq: r for r in rows if r.seq in need}

    def _chain_break(self, i: int, reason: str) -> None:
        ev = self.events[i]
        self._verdict(i, C.ST_REJECTED, reason)
        self._alert(C.AL_CHAIN_BREAK, f"{ev['stream_id']}:{ev['seq']}",
                    f"device {self.device_id} stream {ev['stream_id']} seq {ev['seq']}: {reason}",
                    stream=ev["stream_id"], seq=ev["seq"], reason=reason)

    def _insert(self, accepted: list[int]) -> list[int]:
        event_rows = self.checked.event_rows
        rows = [event_rows[i] for i in accepted]
        # _classify_known looked these ids up in this transaction: none was stored
        inserted = insert_new(self.conn, events, EVENT_COLUMNS, rows, "id", absent=True)
        done = []
        answers, results = self.checked.answers, self.results
        for i in accepted:
            if self.events[i]["id"] in inserted:
                results[i] = answers[i]
                done.append(i)
            else:  # only an id clash with another device's event can get here
                self._conflict(i, "id already used by another event")
        for i, first in self.repeats:
            same = self.events[i]["hash"] == self.events[first]["hash"]
            if self.results[first]["status"] == C.ST_ACCEPTED and same:
                self._verdict(i, C.ST_DUPLICATE)
            elif same:
                self._verdict(i, self.results[first]["status"], self.results[first].get("reason"))
            else:
                self._conflict(i, "same id, different hash")
        return done

    def _apply(self, accepted: list[int]) -> None:
        # Ratings go in bulk with the rows, alerts and rollup increments ``CheckedBatch``
        # worked out before the lock; only the other events are looked at one by one here.
        checked, events, tz = self.checked, self.events, self.s.timezone_offset_hours
        taken = set(accepted)
        made = checked.rating_rows
        if self.device.get("unit_id") != checked.unit_id:  # re-enrolled since authentication
            checked.make_rating.unit_id = checked.unit_id = self.device.get("unit_id")
            made = {i: checked.make_rating(events[i]["id"], events[i]["payload"], checked.times[i],
                                           None, events[i]["boot_id"], checked.dated.get(i))
                    for i in made}
        rows = {i: row for i, row in made.items() if i in taken}
        moved = any(named != counted for named, counted in self.windows.items())
        if moved:
            rows = {i: self._moved(row) if self.windows[row[_WINDOW]] != row[_WINDOW] else row
                    for i, row in rows.items()}
        elsewhere = self._units_of_other_windows()
        if elsewhere:   # ratings of a window the device served before count for its unit
            moved = True
            rows = {i: _with_unit(row, elsewhere[row[_WINDOW]]) if row[_WINDOW] in elsewhere
                    else row for i, row in rows.items()}
        after = self._after_revocation(rows) if self.revoked_at is not None else 0
        late = [i for i in checked.late if i in taken]
        if late:  # one alert a day per device (dedupe_key): the first event tells the date
            self._alert(C.AL_CLOCK, f"future:{rating_store.local_day(self.now, tz)}",
                        f"device {self.device_id} recorded events dated "
                        f"{events[late[0]]['device_time']}, in the future of server time",
                        msg="clock_future", device_time=events[late[0]]["device_time"])
        for i in checked.flagged:
            if i in rows:
                self._flag_alerts(events[i]["payload"]["flags"], rows[i])
        # staff events in the order they happened
        others = sorted((i for i in accepted if i not in made),
                        key=lambda i: (events[i]["stream_id"], events[i]["seq"]))
        not_rated, follow_ups = [], []
        for i in others:
            ev = events[i]
            kind, p = ev["type"], ev["payload"]
            if kind == C.EV_FOLLOW_UP:
                follow_ups.append(p)
            elif kind == C.EV_NOT_RATED:
                when = checked.real_time(i)
                not_rated.append({
                    "day": rating_store.local_day(when, tz),
                    "window_id": self.windows[p.get("window_id") or self.device["window_id"]],
                    "unit_id": self.device.get("unit_id"), "staff_id": p.get("staff_id"),
                    "service_item": p.get("service_item")})
            elif kind == C.EV_STAFF_SIGN_IN:
                self.device |= {"staff_id": p.get("staff_id"), "staff_name": p.get("staff_name")}
                self._set_staff()
            elif kind in (C.EV_STAFF_SIGN_OUT, C.EV_APP_START):
                # A kiosk starts with nobody signed in (switched off at night without a
                # sign-out, or restarted): the phone page credited its ratings, and their
                # cases, to whoever had signed in last, maybe yesterday.
                self.device |= {"staff_id": None, "staff_name": None}
                self._set_staff()
            elif kind == C.EV_DB_RECOVERED:
                self._alert(C.AL_DB_RECOVERED, ev["stream_id"],
                            f"device {self.device_id} moved a corrupt database aside and started "
                            f"stream {ev['stream_id']} (old stream {p.get('old_stream_id')}, "
                            f"error {str(p.get('error'))[:200]!r})", stream=ev["stream_id"],
                            old_stream=p.get("old_stream_id"), error=str(p.get("error"))[:200])
        rating_rows = list(rows.values())
        # the increments of all the batch's ratings hold when all of them are stored as made
        whole = made is checked.rating_rows and not moved and not after and \
            len(rows) == len(made)
        # ``called``: ratings whose phone follow-up came first, with a number to call back
        called = set()
        inserted = rating_store.store_rows(self.conn, rating_rows, not_rated,
                                           tallied=checked.rollup if whole else None,
                                           called=called)
        # Every bad rating opens its case in the same transaction (docs/dashboard.md).
        bad = [r for r in rating_rows if r[_STARS] <= C.BAD_STARS and r[0] in inserted]
        if bad:
            open_cases_for(self.conn, [dict(zip(rating_store.COLUMNS, r)) for r in bad],
                           self.now)
        for p in follow_ups:
            rating_store.attach(self.conn, p["rating_id"], rating_store.FOLLOW_UP, p, self.now)
        called.update(p["rating_id"] for p in follow_ups
                      if p.get("phone") and p.get("callback_consent"))
        if called:   # a flagged bad rating, then a number to call back: it has a case too
            open_cases_for_callbacks(self.conn, sorted(called), self.now)

    def _after_revocation(self, rows: dict[int, tuple]) -> int:
        """Flag the ratings of ``rows`` recorded after the device was revoked (their time as
        for the day: their boot's skew, else the last skew measured); returns how many. The export of
        a dead kiosk is how its last ratings arrive: those before the revocation count as any;
        those after it were taken by a device the office had stopped (stolen, tampered with,
        or simply still switched on), so a supervisor looks at them before they count."""
        flagged = []
        for i, row in rows.items():
            if self.checked.real_time(i) <= self.revoked_at:
                continue
            flags = sorted(set(json.loads(row[_FLAGS])) | {C.FLAG_AFTER_REVOCATION})
            row = list(row)
            row[_FLAGS], row[_FLAGGED] = json.dumps(flags), True
            rows[i] = tuple(row)
            flagged.append(i)
        if flagged:
            self._alert(C.AL_AFTER_REVOCATION, self.revoked_at.isoformat(),
                        f"device {self.device_id} was revoked at {self.revoked_at.isoformat()}; "
                        f"its USB export holds ratings recorded after that (the first dated "
                        f"{self.events[flagged[0]]['device_time']}): taken in flagged "
                        f"{C.FLAG_AFTER_REVOCATION}, excluded from rates unless flagged ratings "
                        "are included", revoked_at=self.revoked_at,
                        first_at=self.events[flagged[0]]["device_time"])
        return len(flagged)

    def _units_of_other_windows(self) -> dict[str, str]:
        """The units of the windows this batch's ratings count for, other than the device's
        own, where that differs from the device's unit."""
        others = sorted({w for w in self.windows.values() if w != self.device["window_id"]})
        if not others:
            return {}
        found = dict(tuple(r) for r in select_in(
            self.conn, "SELECT id, unit_id FROM windows WHERE id {in}", others))
        return {w: u for w, u in found.items() if u != self.device.get("unit_id")}

    def _moved(self, row: tuple) -> tuple:
        """``row`` counted for the device's window (see ``_window_problem``)."""
        row = list(row)
        row[_WINDOW], row[_UNIT] = self.device["window_id"], self.device.get("unit_id")
        return tuple(row)

    def _flag_alerts(self, flags: list, row: tuple) -> None:
        day, window = row[_DAY], row[_WINDOW]
        for flag, alert in ((C.FLAG_BURST, C.AL_BURST), (C.FLAG_NO_STAFF, C.AL_NO_STAFF)):
            if flag in flags:
                self._alert(alert, day, f"device {self.device_id} window {window}: ratings "
                            f"flagged {flag} on {day}", window=window, day=day)

    def _set_staff(self) -> None:
        sql(self.conn, "UPDATE devices SET staff_id = ?, staff_name = ? WHERE id = ?",
            (self.device["staff_id"], self.device["staff_name"], self.device_id))

    def _update_streams(self, accepted: list[int]) -> dict:
        touched = {ev["stream_id"] for ev in self.events if isinstance(ev, dict)}
        new_max: dict[str, int] = defaultdict(int)
        new_seqs: dict[str, set] = defaultdict(set)
        for i in accepted:
            ev = self.events[i]
            new_max[ev["stream_id"]] = max(new_max[ev["stream_id"]], ev["seq"])
            new_seqs[ev["stream_id"]].add(ev["seq"])
        known = self.known_streams
        high_water = {}
        for stream_id in sorted(touched):
            row = known.get(stream_id)
            if stream_id not in new_max:
                if row:
                    high_water[stream_id] = row["high_water"]
                continue
            if row is None:
                if known:
                    self._alert(C.AL_NEW_STREAM, stream_id,
                                f"device {self.device_id} started a new stream {stream_id} "
                                f"besides {len(known)} known (kiosk database replaced?)",
                                stream=stream_id, known=len(known))
                row = {"device_id": self.device_id, "stream_id": stream_id, "high_water": 0,
                       "max_seq": 0, "gap_since": None, "first_seen_at": self.now,
                       "last_event_at": self.now}
                self.conn.execute(streams.insert().values(**row))
            hw = row["high_water"]
            if row["max_seq"] <= hw:
                # Nothing was stored above the high water before this batch (max_seq is the
                # highest seq ever stored), so what lies above it now is what we inserted.
                seqs = new_seqs[stream_id]
                while hw + 1 in seqs:
                    hw += 1
            else:
                for (seq,) in self.conn.execute(
                        select(events.c.seq).where(and_(
                            events.c.device_id == self.device_id,
                            events.c.stream_id == stream_id,
                            events.c.seq > hw)).order_by(events.c.seq)):
                    if seq != hw + 1:
                        break
                    hw = seq
            max_seq = max(row["max_seq"], new_max[stream_id])
            now = driver_time(self.conn, self.now)
            gap_since = None if hw >= max_seq else (row["gap_since"] or now)
            sql(self.conn, "UPDATE streams SET high_water = ?, max_seq = ?, gap_since = ?, "
                "last_event_at = ? WHERE device_id = ? AND stream_id = ?",
                (hw, max_seq, gap_since, now, self.device_id, stream_id))
            high_water[stream_id] = hw
        return high_water
