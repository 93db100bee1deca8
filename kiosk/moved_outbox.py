"""The outbox of a database moved aside as corrupt (``kiosk.db.corrupt-<time>``), for the
sync worker to send its unacknowledged events by itself (sync/moved_aside.py).

The moved file is evidence (the technician's ``kiosk export --db`` and support read it): not a
byte of it, nor of its -wal/-shm, is written. Each pass reads a scratch copy of it, as
``export_moved_aside`` does (damaged stretches skipped, ids settled from the events' hashes),
and keeps what was sent in a small JSON record beside it (``sent_record_path``), written
atomically: the batches frozen (resent byte for byte after a kill), the seqs the server
acknowledged or quarantined, and, once nothing is left, ``done`` with the counts. The record
is named so that nothing taking ``kiosk.db.corrupt-*`` for a database ever sees it.

``MovedOutbox`` offers what ``sync.client.SyncClient.drain`` calls of a store
(``freeze_batch``, ``batch_events``, ``note_attempt``, ``split_batch``, ``mark_acked``,
``get_meta``/``set_meta``, ``device_id``, ``path``, ``boot_id``, ``monotonic_ns``), so that
signing, gzip, 413 splitting, answer checking and retries are the client's own code.

>>> with open_moved(moved, live_store, credentials) as outbox:          # doctest: +SKIP
...     SyncClient(url, outbox, credentials).drain()
"""

from __future__ import annotations

import base64
import binascii
import bisect
import gzip
import json
import logging
import os
import shutil
import tempfile
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from sync.files import write_atomic
from sync.protocol import MAX_BATCH_BYTES, MAX_BATCH_EVENTS, PROTOCOL_VERSION

from .errors import StoreError
from .export import MOVED_ASIDE, open_for_export, seq_ranges, settle_identity
from .store import GZIP_LEVEL, _fitting

log = logging.getLogger(__name__)

RECORD_FORMAT = "csk-moved-sent-1"
SCRATCH_PREFIX = "kiosk-moved-"   # the scratch copies' folders, in the kiosk's data folder
ROOM_TO_KEEP = 64 << 20   # free space the scratch copy leaves on its disk (the live kiosk's)


def sent_record_path(moved: Path) -> Path:
    """``kiosk.db.corrupt-X`` → ``kiosk.db.sent.corrupt-X.json``: beside it, and not matched by
    ``kiosk.db.corrupt-*`` (``export.moved_aside_files``, the store's own look for moved files)."""
    moved = Path(moved)
    head, _, tail = moved.name.partition(MOVED_ASIDE)
    return moved.with_name(f"{head}.sent{MOVED_ASIDE}{tail}.json")


def read_sent_record(moved: Path) -> dict[str, Any] | None:
    """The record of what was sent of ``moved``, or None (none yet, or damaged: started over)."""
    path = sent_record_path(moved)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("%s cannot be read (%s); what was sent of %s is found out again (the server "
                    "answers what it has as duplicates)", path, exc, Path(moved).name)
        return None
    if not (isinstance(record, dict) and record.get("format") == RECORD_FORMAT
            and record.get("file") == Path(moved).name):
        log.warning("%s is not a record of %s; started over", path, Path(moved).name)
        return None
    return record


def _ranges_to_set(ranges: Any) -> set[int]:
    out: set[int] = set()
    for pair in ranges if isinstance(ranges, list) else []:
        if isinstance(pair, list) and len(pair) == 2 and all(isinstance(v, int) for v in pair):
            out.update(range(pair[0], pair[1] + 1))
    return out


def _batches(raw: Any) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for b in raw if isinstance(raw, list) else []:
        try:
            body = base64.b64decode(b["body"], validate=True)
            out[str(b["id"])] = {"id": str(b["id"]), "first_seq": int(b["first_seq"]),
                                 "last_seq": int(b["last_seq"]), "n": int(b["n"]), "body": body,
                                 "attempts": int(b.get("attempts", 0)),
                                 "seqs": {ev["id"]: ev["seq"] for ev in _events_of(body)}}
        except (KeyError, TypeError, ValueError, binascii.Error, OSError, EOFError):
            raise ValueError("a frozen batch in it is damaged") from None
    return out


def _events_of(body: bytes) -> list[dict[str, Any]]:
    return json.loads(gzip.decompress(body))["events"]


class MovedOutbox:
    """The unsent events of one moved-aside database (read from ``copy``, a ``RatingStore`` on
    a scratch copy with its ids settled), with its sending state in ``sent_record_path``."""

    read_only = None   # the client may persist the clock offset (to the live store)

    def __init__(self, moved: Path, copy: Any, live: Any, scratch: Path) -> None:
        self.path, self._copy, self._live, self._scratch = Path(moved), copy, live, scratch
        self.device_id, self.stream_id = copy.device_id, copy.stream_id
        self.boot_id = live.boot_id   # the boot sending now (X-Boot-Id), as the live client
        self.monotonic_ns = live.monotonic_ns
        record = read_sent_record(self.path) or {}
        if (record.get("device_id"), record.get("stream_id")) != (self.device_id, self.stream_id):
            record = {}
        try:
            self._open = _batches(record.get("batches"))
        except ValueError as exc:
            log.warning("%s: %s; started over", sent_record_path(self.path), exc)
            record, self._open = {}, {}
        self._done = _ranges_to_set(record.get("done_ranges")) if record else set()
        quarantined = record.get("quarantined")
        self._quarantined: dict[str, str] = quarantined if isinstance(quarantined, dict) else {}
        counts = record.get("counts")
        sent = counts.get("sent_acked") if isinstance(counts, dict) else 0
        self.counts: dict[str, Any] = {"sent_acked": sent if isinstance(sent, int) else 0}
        self._todo = self._survey()

    # ------------------------------------------------------------- reading the copy
    def _survey(self) -> list[int]:
        """Read the copy once: the counts, and the seqs still to send (in order)."""
        unreadable: list[int] = []
        in_batches = {seq for b in self._open.values() for seq in b["seqs"].values()}
        todo, readable, acked, quarantined = [], 0, 0, 0
        for event in self._copy.iter_events(unreadable=unreadable):
            readable += 1
            if event.get("acked_at"):
                acked += 1
            elif event.get("quarantine"):
                quarantined += 1
            elif event["seq"] not in self._done and event["seq"] not in in_batches:
                todo.append(event["seq"])
        self.counts.update(readable=readable, unreadable=len(unreadable),
                           unreadable_seq_ranges=seq_ranges(unreadable),
                           unreadable_after_seq=getattr(self._copy, "unreadable_after", None),
                           acked_before=acked, quarantined_before=quarantined)
        return todo

    def _next_events(self, max_events: int) -> Iterator[dict[str, Any]]:
        wanted = set(self._todo[:max_events])
        for event in self._copy.iter_events(after_seq=self._todo[0] - 1, unreadable=[]):
            if event["seq"] in wanted:
                event.pop("acked_at", None)
                event.pop("quarantine", None)
                yield event
                wanted.discard(event["seq"])
                if not wanted:
                    return

    # ------------------------------------------------------ what SyncClient calls
    def freeze_batch(self, max_events: int = MAX_BATCH_EVENTS, max_bytes: int = MAX_BATCH_BYTES,
                     skip: Any = (), gzip_level: int = GZIP_LEVEL) -> dict[str, Any] | None:
        """The oldest frozen batch not in ``skip`` (resent as it was frozen), else the next
        unsent events frozen into a new one, recorded before it is returned (sent)."""
        for batch in sorted(self._open.values(), key=lambda b: b["first_seq"]):
            if batch["id"] not in skip:
                return self._shown(batch)
        if not self._todo:
            return None
        events = list(self._next_events(max_events))
        if not events:   # read at the survey, not now: the copy changed under us?
            raise StoreError(f"{self.path}: the events to send cannot be read again")
        batch = self._freeze(events, max_bytes, gzip_level)
        chosen = set(batch["seqs"].values())
        self._todo = [s for s in self._todo if s not in chosen]
        self._save()
        return self._shown(batch)

    def _freeze(self, events: list[dict[str, Any]], max_bytes: int,
                gzip_level: int) -> dict[str, Any]:
        pairs = ((e["seq"], json.dumps(e, ensure_ascii=False, separators=(",", ":"),
                                       sort_keys=True).encode()) for e in events)
        seqs, items = _fitting(pairs, max_bytes)
        batch_id = str(uuid.uuid4())
        head = {"protocol": PROTOCOL_VERSION, "device_id": self.device_id, "batch_id": batch_id}
        body = b"".join((json.dumps(head, separators=(",", ":"))[:-1].encode(), b',"events":[',
                         b",".join(items), b"]}"))
        body = gzip.compress(body, compresslevel=gzip_level, mtime=0)
        by_seq = {e["seq"]: e["id"] for e in events}
        batch = {"id": batch_id, "first_seq": seqs[0], "last_seq": seqs[-1], "n": len(seqs),
                 "body": body, "attempts": 0, "seqs": {by_seq[s]: s for s in seqs}}
        self._open[batch_id] = batch
        return batch

    @staticmethod
    def _shown(batch: dict[str, Any]) -> dict[str, Any]:
        return {k: batch[k] for k in ("id", "first_seq", "last_seq", "n", "body", "attempts")}

    def batch_events(self, batch_id: str) -> list[dict[str, Any]]:
        batch = self._open.get(batch_id)
        return _events_of(batch["body"]) if batch else []

    def note_attempt(self, batch_id: str, error: str | None) -> None:
        """Counted in memory (recorded with the next write): a failed send writes nothing."""
        if batch_id in self._open:
            self._open[batch_id]["attempts"] += 1

    def split_batch(self, batch_id: str, gzip_level: int = GZIP_LEVEL) -> list[dict[str, Any]]:
        """413: the batch in two halves; one event alone is kept out (``too_large``)."""
        events = self.batch_events(batch_id)
        self._open.pop(batch_id, None)
        halves = []
        if len(events) > 1:
            mid = len(events) // 2
            halves = [self._shown(self._freeze(part, MAX_BATCH_BYTES, gzip_level))
                      for part in (events[:mid], events[mid:])]
        elif events:
            self._quarantined[events[0]["id"]] = "too_large"
            self._done.add(events[0]["seq"])
        self._save()
        return halves

    def mark_acked(self, batch_id: str, acked_ids: list[str],
                   quarantined: dict[str, str] | None = None) -> int:
        """Apply the answer to ``batch_id``: what it lists as acked or quarantined is done, the
        rest of the batch is to be sent again."""
        batch = self._open.pop(batch_id, None)
        if batch is None:
            return 0
        quarantined, acked = quarantined or {}, set(acked_ids)
        n = 0
        for event_id, seq in batch["seqs"].items():
            if event_id in acked:
                self._done.add(seq)
                n += 1
            elif event_id in quarantined:
                self._done.add(seq)
                self._quarantined[event_id] = quarantined[event_id] or "quarantined"
            else:
                bisect.insort(self._todo, seq)
        self.counts["sent_acked"] += n
        self._save()
        return n

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        return self._live.get_meta(key, default)   # the clock offset: the kiosk's own

    def set_meta(self, key: str, value: str) -> None:
        self._live.set_meta(key, value)

    # ------------------------------------------------------------------ state
    @property
    def pending(self) -> int:
        """Events still to send (frozen or not)."""
        return len(self._todo) + sum(b["n"] for b in self._open.values())

    @property
    def quarantined(self) -> dict[str, str]:
        """{event id: reason} the server quarantined of what this outbox sent."""
        return dict(self._quarantined)

    @property
    def done(self) -> bool:
        return not self._todo and not self._open

    def _save(self) -> None:
        """Write the record (tmp + fsync + rename): OSError when the disk is full."""
        counts = dict(self.counts, pending=self.pending,
                      quarantined=len(self._quarantined))
        record = {"format": RECORD_FORMAT, "file": self.path.name,
                  "device_id": self.device_id, "stream_id": self.stream_id,
                  "done": self.done, "counts": counts,
                  "done_ranges": seq_ranges(sorted(self._done)),
                  "quarantined": self._quarantined,
                  "batches": [{"id": b["id"], "first_seq": b["first_seq"],
                               "last_seq": b["last_seq"], "n": b["n"], "attempts": b["attempts"],
                               "body": base64.b64encode(b["body"]).decode("ascii")}
                              for b in self._open.values()],
                  "updated_at": datetime.now(timezone.utc).astimezone().isoformat()}
        write_atomic(sent_record_path(self.path),
                     json.dumps(record, ensure_ascii=False, indent=1).encode("utf-8"))

    def finish(self) -> None:
        """Record that nothing is left to send (a file whose events were all acknowledged)."""
        self._save()

    def close(self) -> None:
        """Close the copy and delete it."""
        try:
            self._copy.close()
        finally:
            shutil.rmtree(self._scratch, ignore_errors=True)

    def __enter__(self) -> "MovedOutbox":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _copy_aside(moved: Path, scratch: Path) -> Path:
    """Copy the moved file and its -wal into ``scratch`` (reading them only); OSError when
    that cannot be done, or would leave the disk nearly full (the live kiosk records there)."""
    sides = [p for p in (moved, moved.with_name(moved.name + "-wal")) if p.exists()]
    need = sum(p.stat().st_size for p in sides)
    stat = os.statvfs(scratch)
    free = stat.f_bavail * stat.f_frsize
    if free - need < ROOM_TO_KEEP:
        raise OSError(f"no room for a copy of {moved.name} in {scratch.parent} ({need} bytes "
                      f"needed, {free} free, {ROOM_TO_KEEP} kept free)")
    copy = scratch / "kiosk.db"
    for side, to in zip(sides, (copy, copy.with_name("kiosk.db-wal"))):
        shutil.copyfile(side, to)
    return copy


def open_moved(moved: Path, live: Any, credentials: Any, *,
               scratch_dir: str | None = None) -> MovedOutbox:
    """The outbox of ``moved`` read from a fresh scratch copy (delete it with ``close``).

    OSError when the copy cannot be made (try again later); StoreError when the file cannot
    be sent automatically: nothing in it can be read, its ids cannot be settled, or its
    device is not the credential's (the message says so)."""
    import sqlite3

    moved = Path(moved)
    scratch = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=scratch_dir))
    copy_store = None
    try:
        copy = _copy_aside(moved, scratch)
        try:
            copy_store = open_for_export(copy, moved)
            settle_identity(copy_store, moved, credentials=credentials,
                            live_events=live.iter_events)
            if copy_store.device_id != credentials.device_id:
                raise StoreError(f"{moved}: its events are device {copy_store.device_id!r}'s, "
                                 f"not this kiosk's ({credentials.device_id!r})")
            return MovedOutbox(moved, copy_store, live, scratch)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{moved}: {exc}") from None
    except BaseException:
        if copy_store is not None:
            copy_store.close()
        shutil.rmtree(scratch, ignore_errors=True)
        raise
