"""Reading what a damaged kiosk database still holds: ``RatingStore.iter_events(unreadable=…)``,
which ``kiosk export`` uses on a corrupt file (docs/kiosk-store.md).

A mixin of ``RatingStore``, kept apart from the store's writing: it reads the ``events`` table
row by row around damaged pages, and needs the store's ``conn``, ``_COLS``, ``_event`` and
``chain_start``.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Iterator


class SalvageReading:
    """What ``RatingStore`` reads from a damaged file (see the module's docstring)."""

    conn: sqlite3.Connection
    _COLS: str
    unreadable_after: int | None

    def _iter_salvaged(self, after: int, chunk: int, unreadable: list[int]) -> Iterator[dict[str, Any]]:
        # A corrupt file exported nothing: the first damaged page or non-UTF-8 text ended the
        # whole scan with a traceback, though ~99 % of its rows were intact.
        self.unreadable_after = None
        last = self._last_seq_salvaged()
        try:   # retention deleted the events up to here: they are not missing
            after = max(after, self.chain_start()[0])
            known_start = True
        except (sqlite3.DatabaseError, ValueError):   # a damaged meta table
            known_start = after > 0
        sql = f"SELECT {self._COLS}, acked_at, quarantine FROM events WHERE seq > ? ORDER BY seq LIMIT ?"
        while True:
            n, rescan = 0, False
            try:
                for row in self.conn.execute(sql, (after, chunk)):
                    n += 1
                    seq = row[0]
                    if not isinstance(seq, int) or seq <= after:
                        continue   # a damaged cell's rowid; the seqs around it are probed
                    if not known_start:   # the first row read is where the chain starts
                        known_start, after = True, seq - 1
                    if seq > after + 1:   # rows this scan did not see: look each one up
                        found = yield from self._salvage_stretch(after, seq - 1, unreadable)
                        if found is not None:   # one read whole by its seq: scan on after it
                            after, rescan = found, True
                            break
                    event = self._salvaged_event(row)
                    if event is None:
                        unreadable.append(seq)
                    else:
                        yield event
                    after = seq
            except sqlite3.DatabaseError:   # a damaged page, or text that is not UTF-8
                found = yield from self._salvage_stretch(after, last, unreadable)
                if found is None:
                    return
                after, known_start = found, True
                continue
            if rescan or n == chunk:
                continue
            if last is None or after >= last:
                return
            # the scan ended before the last seq: the rows up to it are looked up one by one
            found = yield from self._salvage_stretch(after, last, unreadable)
            if found is None:
                return
            after = found

    def _salvage_stretch(self, after: int, last: int | None,
                         unreadable: list[int]) -> Iterator[dict[str, Any]]:
        """Look the rows after ``after`` up one at a time by seq until one reads whole (it is
        yielded and its seq returned: the scan goes on after it) or ``last`` is passed (None
        is returned); each seq on the way is unreadable. With ``last`` unknown (the end of
        the table is damaged too) it gives up after 1,000 seqs without a whole row, and those
        are not counted: nothing tells rows that were there from seqs never used. If one of
        them failed to read, ``unreadable_after`` is set to ``after``: the rows after it, how
        many is unknown, could not be read."""
        sql = f"SELECT {self._COLS}, acked_at, quarantine FROM events WHERE seq = ?"
        seq, failed, errors = after, [], False
        while (seq < last) if last is not None else (len(failed) < 1000):
            seq += 1
            try:
                row = self.conn.execute(sql, (seq,)).fetchone()
            except sqlite3.DatabaseError:
                row, errors = None, True
            event = self._salvaged_event(row) if row else None
            if event is None:
                failed.append(seq)
                continue
            unreadable.extend(failed)
            yield event
            return seq
        if last is not None:
            unreadable.extend(failed)
        elif errors:
            self.unreadable_after = after
        return None

    def _last_seq_salvaged(self) -> int | None:
        """The highest seq of a possibly damaged events table, or None when it cannot be told:
        the table's, else its id index's (which holds each row's seq), else the last batched."""
        found = []
        for sql in ("SELECT max(seq) FROM events",
                    "SELECT max(seq) FROM events INDEXED BY sqlite_autoindex_events_1",
                    "SELECT max(last_seq) FROM batches"):
            try:
                value = self.conn.execute(sql).fetchone()[0]
            except sqlite3.DatabaseError:
                continue
            if isinstance(value, int):
                if sql == "SELECT max(seq) FROM events":
                    return value
                found.append(value)
        return max(found) if found else None

    def _salvaged_event(self, row: tuple) -> dict[str, Any] | None:
        """The event of a row read from a possibly damaged file, or None when its columns are
        not what the store wrote (a damaged cell: NULL, a number for a text, not JSON)."""
        seq, id_, type_, device_time, boot_id, mono_ns, payload, prev_hash, hash_ = row[:9]
        if not (isinstance(seq, int) and isinstance(mono_ns, int) and all(
                isinstance(v, str) for v in (id_, type_, device_time, boot_id, payload, prev_hash, hash_))
                and all(v is None or isinstance(v, str) for v in row[9:11])):
            return None
        try:
            event = self._event(row)
        except ValueError:   # the payload is not JSON
            return None
        if not isinstance(event["payload"], dict):
            return None
        event["acked_at"], event["quarantine"] = row[9], row[10]
        return event
