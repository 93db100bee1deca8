"""The sync worker's sending of the databases moved aside as corrupt (``kiosk.db.corrupt-*``).

A corrupt database is moved aside at start, or while the kiosk runs (kiosk/store.py); its
thanked but unsent ratings used to reach the server only by a technician's USB export. Now,
after the live outbox is drained in a cycle, the worker sends what each such file of its data
folder holds that the server has not acknowledged, under the file's own device and stream ids,
through a ``SyncClient`` over the file's ``kiosk.moved_outbox.MovedOutbox`` (the same signing,
batches, retries and answer checks). A file is left alone while a retired worker sends it in
this run (``leave``), once its record says done, and, for this worker's life, when it cannot be
sent automatically (nothing readable, ids not settled, another device's): one ERROR line then
says to use ``kiosk export --db``. A failure (server down, no room for the scratch copy) is
logged and tried again after this sender's own backoff; the live outbox is never held up.

>>> sender = MovedAsideSender(db_path, backoff=Backoff())                       # doctest: +SKIP
>>> sender.send(live_store, client, stopping=lambda: False, drain_live=lambda: None)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path
from typing import Any, Callable

from .backoff import Backoff
from .errors import NotAuthorised, SyncError

log = logging.getLogger(__name__)


class MovedAsideSender:
    """Sends the moved-aside databases beside ``db_path``, ``batches_per_round`` batches at a
    time with the live outbox drained between rounds; see the module's docstring."""

    def __init__(self, db_path: Path, *, backoff: Backoff | None = None,
                 batches_per_round: int = 12,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.db_path = Path(db_path)
        self.backoff = backoff or Backoff()
        self.round = batches_per_round
        self._mono = monotonic
        self._next_try = 0.0
        self._left: dict[str, Callable[[], bool]] = {}
        self.skipped: set[str] = set()
        self._pending: dict[str, int] = {}
        self._swept = False

    def leave(self, path: str | Path, busy: Callable[[], bool]) -> None:
        """Leave ``path`` alone while ``busy()`` (a retired worker sends it in this run)."""
        self._left[Path(path).name] = busy

    def _files(self) -> list[Path]:
        from kiosk.export import moved_aside_files
        from kiosk.moved_outbox import read_sent_record

        out = []
        present = moved_aside_files(self.db_path)
        for gone in set(self._pending) - {p.name for p in present}:
            del self._pending[gone]   # deleted after a USB export: the heartbeat said it for good
        for path in present:
            busy = self._left.get(path.name)
            if busy is not None:
                if busy():
                    continue
                del self._left[path.name]
            if path.name in self.skipped:
                continue
            record = read_sent_record(path)
            if record is not None and record.get("done") is True:
                self._pending[path.name] = 0
                continue
            out.append(path)
        return out

    def pending(self) -> int | None:
        """Events of the moved-aside files still to send, as far as known (None: none known)."""
        return sum(self._pending.values()) if self._pending else None

    def send(self, live: Any, client: Any, *, stopping: Callable[[], bool],
             drain_live: Callable[[], None]) -> None:
        """Send what the moved-aside files hold (call once the live outbox is drained).

        Raises only ``NotAuthorised`` (the worker stops, as for the live outbox) and what
        ``drain_live`` raises (the live outbox's own failures)."""
        if self._mono() < self._next_try:
            return
        if not self._swept:
            self._swept = True
            _sweep_scratch(self.db_path.parent)
        creds = getattr(client, "credentials", None)
        if creds is None or not getattr(client, "server_url", None):
            return   # a client made by a test or the simulator: nothing to sign with here
        for path in self._files():
            if stopping() or not self._send_file(path, live, client, creds, stopping, drain_live):
                return
        self.backoff.success()

    def _failed(self, path: Path, exc: BaseException) -> bool:
        delay = self.backoff.failure(exc.retry_after if isinstance(exc, SyncError) else None)
        self._next_try = self._mono() + delay
        log.warning("sending the database moved aside %s failed (%s); next try in %.1f s",
                    path.name, exc, delay)
        return False

    def _send_file(self, path: Path, live: Any, client: Any, creds: Any,
                   stopping: Callable[[], bool], drain_live: Callable[[], None]) -> bool:
        """One pass over ``path``; False when it failed (tried again later)."""
        from kiosk.errors import StoreError
        from kiosk.moved_outbox import open_moved

        from .client import SyncClient

        try:
            # on the kiosk's own disk, whose room ROOM_TO_KEEP guards (a tmpfs /tmp is memory)
            outbox = open_moved(path, live, creds, scratch_dir=str(self.db_path.parent))
        except StoreError as exc:
            self.skipped.add(path.name)
            log.error("%s; it is not sent automatically: export it with `kiosk export --db %s` "
                      "and take it in with `aggregator import-kiosk-export`", exc, path)
            return True
        except (OSError, sqlite3.DatabaseError) as exc:   # no room for the copy: later
            return self._failed(path, exc)
        with outbox:
            self._pending[path.name] = outbox.pending
            if not outbox.done:
                log.info("sending %d unsent events of the database moved aside %s (stream %s; "
                         "%d rows unreadable)", outbox.pending, path.name, outbox.stream_id,
                         outbox.counts["unreadable"])
            sender = SyncClient(client.server_url, outbox, creds, timeout=client.timeout,
                                batch_size=client.batch_size, clock=client.clock)
            try:
                while not outbox.done and not stopping():
                    try:
                        if not sender.drain(max_batches=self.round):
                            break
                    except NotAuthorised:
                        raise
                    except (SyncError, OSError, StoreError, sqlite3.DatabaseError) as exc:
                        return self._failed(path, exc)
                    finally:
                        self._pending[path.name] = outbox.pending
                    drain_live()   # the live outbox goes first, between rounds too
                if outbox.done:
                    try:
                        outbox.finish()
                    except OSError as exc:
                        return self._failed(path, exc)
                    c = outbox.counts
                    log.info("the database moved aside %s is sent: %d events readable (%d rows "
                             "not), %d acknowledged before it was moved, %d acknowledged now, "
                             "%d quarantined by the server", path.name, c["readable"],
                             c["unreadable"], c["acked_before"], c["sent_acked"],
                             c["quarantined_before"] + len(outbox.quarantined))
            finally:
                sender.close()
                sender.session.close()
        return True


def _sweep_scratch(folder: Path, older_than: float = 3600) -> None:
    """Delete the scratch copies a killed pass left in ``folder`` (each pass deletes its own;
    a power cut in one left a copy of the moved database on the kiosk's disk for good)."""
    import shutil

    from kiosk.moved_outbox import SCRATCH_PREFIX

    for left in folder.glob(f"{SCRATCH_PREFIX}*"):
        try:
            if left.is_dir() and time.time() - left.stat().st_mtime > older_than:
                shutil.rmtree(left, ignore_errors=True)
                log.info("deleted %s, a scratch copy a pass that was cut short left", left)
        except OSError:
            pass
