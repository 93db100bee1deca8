"""SyncWorker: the background thread that keeps a kiosk in sync.

It opens its OWN ``RatingStore`` on the kiosk's database file (one connection per thread),
drains the outbox batch after batch, pulls the device config and sends heartbeats, deletes
once an hour what the server acknowledged more than ``keep_days`` ago (retention), and backs
off (full jitter, 1 s … 15 min, honouring ``Retry-After``) on every retryable failure, for ever.
A device the server refuses (revoked, unknown) stops the worker; every event stays on the kiosk.
Once the outbox is drained in a cycle it also sends what the databases moved aside as corrupt
beside it still hold (sync/moved_aside.py).

No Kivy here: ``on_result(status)`` after every cycle and ``on_config(pulled)`` after a new
device config was applied are called from the worker thread; the app wraps them with
``Clock.schedule_once`` to touch widgets (and re-reads ``store.device_config()`` on its own
connection).

>>> worker = SyncWorker(db_path, credentials, on_result=print)   # doctest: +SKIP
>>> worker.start(); store.record("rating", {...}); worker.notify()  # doctest: +SKIP
>>> worker.status()["state"]                                      # doctest: +SKIP
'idle'
>>> worker.stop()                                                 # doctest: +SKIP
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

from .backoff import Backoff
from .credentials import Credentials
from .errors import NotAuthorised, SyncError
from .moved_aside import MovedAsideSender

log = logging.getLogger(__name__)

DRAIN_ROUND = 12  # batches per drain round between checks for stop()
HEARTBEAT_RETRY_S = 60.0  # a failed heartbeat is tried again after this (or heartbeat_every)

# Worker states shown on the technician screen.
ST_STARTING = "starting"
ST_SYNCING = "syncing"
ST_IDLE = "idle"
ST_BACKOFF = "backoff"
ST_NOT_AUTHORISED = "not_authorised"
ST_NOT_ENROLLED = "not_enrolled"
ST_STOPPED = "stopped"


def _open_store(path: Path, clock: Callable[[], datetime] | None):
    from kiosk.store import RatingStore  # the worker's own instance, in its own thread

    kwargs = {"clock": clock} if clock is not None else {}
    return RatingStore(path, check=False, **kwargs)


class SyncWorker:
    """Runs a ``SyncClient`` in a daemon thread until ``stop()``.

    ``credentials`` None means: load them from the database's directory when the thread
    starts. ``keep_days`` None keeps every event (the simulator, the tests).
    ``store_factory(path)`` and ``client_factory(store, credentials)`` let tests and
    the simulator inject their own clock; ``backoff`` lets tests wait milliseconds.
    """

    def __init__(self, db_path: str | Path, credentials: Credentials | None = None, *,
                 server_url: str | None = None, interval: float = 30, timeout: float = 15,
                 batch_size: int = 500, config_every: float = 300, heartbeat_every: float = 300,
                 keep_days: float | None = None, prune_every: float = 3600,
                 on_result: Callable[[dict[str, Any]], None] | None = None,
                 on_config: Callable[[dict[str, Any]], None] | None = None,
                 backoff: Backoff | None = None,
                 store_factory: Callable[[Path], Any] | None = None,
                 client_factory: Callable[[Any, Credentials], Any] | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.db_path = Path(db_path)
        self.credentials = credentials
        self.server_url = server_url
        self.interval = interval
        self.timeout = timeout
        self.batch_size = batch_size
        self.config_every = config_every
        self.heartbeat_every = heartbeat_every
        self.keep_days = keep_days
        self.prune_every = prune_every
        self.on_result = on_result
        self.on_config = on_config
        self.backoff = backoff or Backoff()
        self._store_factory = store_factory or (lambda p: _open_store(p, None))
        self._client_factory = client_factory
        self._mono = monotonic
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._force = False
        self._reload = False
        self._ending = False  # the thread will not look at its flags again (see _again)
        self._retired = False  # sends what its database holds, then ends (``retire``)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._next_config = 0.0
        self._next_heartbeat = 0.0
        self._next_prune = 0.0
        # A config pull that failed is tried again after a backoff of its own (at most
        # ``config_every``): not at every cycle, and the uploads' backoff never grows by it.
        self._config_backoff = Backoff(self.backoff.base, self.backoff.cap,
                                       max_retry_after=self.backoff.max_retry_after)
        # The databases moved aside as corrupt: sent after the live outbox, with a backoff of
        # their own (sync/moved_aside.py).
        self._moved = MovedAsideSender(self.db_path, batches_per_round=DRAIN_ROUND,
                                       monotonic=monotonic, backoff=Backoff(
                                           self.backoff.base, self.backoff.cap,
                                           max_retry_after=self.backoff.max_retry_after))
        self._status: dict[str, Any] = {
            "state": ST_STARTING, "last_sync": None, "last_result": None, "last_error": None,
            "pending": None, "quarantined": None, "clock_offset": None, "last_skew": None,
            "authorised": None,
            "next_try_at": None, "sent": 0, "acked": 0,
            "moved_aside_pending": None, "moved_aside_skipped": 0,
        }

    # ------------------------------------------------------------ control
    def start(self) -> "SyncWorker":
        if self._thread is not None:
            raise RuntimeError("SyncWorker already started")
        self._thread = threading.Thread(target=self._run, name="sync-worker", daemon=True)
        self._thread.start()
        return self

    def notify(self, force: bool = False) -> bool:
        """New events (or the technician's "sync now" with ``force``): wake the thread.
        False when the thread is ending and will not hear it (start a new worker then).

        A plain notify does not cut a backoff short: a down server is not hammered once per tap.
        """
        with self._lock:
            if self._ending:
                return False
            self._force = self._force or force
        self._wake.set()
        return True

    def reload_credentials(self) -> bool:
        """The kiosk was enrolled again: before its next cycle the thread builds its client
        anew from the saved credential (and server), and syncs at once. Without it the
        thread kept signing with the old key, got 401 ``bad_signature`` and ended. False
        when the thread is ending and will not hear it (start a new worker then)."""
        with self._lock:
            if self._ending:
                return False
            self._reload = True
        return self.notify(force=True)

    def retire(self) -> bool:
        """Send what this worker's database still holds, nothing else, and end once nothing
        is pending (or at ``stop``). False when the thread is ending already.

        For a database moved aside as corrupt while the kiosk ran (kiosk/store.py,
        ``RatingStore._recover``): this worker's connection still reads it, and stopped at
        once, its thanked but unsent ratings reached the server only by a technician's USB
        export (a bad rating's follow-up, recorded in the new database, waited for it too).
        The new database's worker pulls the config and sends the heartbeats; this one no
        longer reports to the app."""
        with self._lock:
            self._retired = True
            self.on_result = self.on_config = None
        return self.notify(force=True)

    def leave_moved(self, path: str | Path, busy: Callable[[], bool]) -> None:
        """Do not send the moved-aside database ``path`` while ``busy()``: a retired worker
        sends it in this run (``KioskApp._follow_store``); call before ``start``."""
        self._moved.leave(path, busy)

    def stop(self, timeout: float = 30) -> bool:
        """Ask the thread to finish and join it; True when it has ended."""
        self._stopping.set()
        self._wake.set()
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._ending

    def status(self) -> dict[str, Any]:
        """A snapshot for the technician screen (safe to call from any thread)."""
        with self._lock:
            out = dict(self._status)
        next_at = out.pop("next_try_at")
        out["next_try_in"] = None if next_at is None else max(0.0, next_at - self._mono())
        return out

    # ----------------------------------------------------------- the thread
    def _set(self, **values: Any) -> None:
        with self._lock:
            self._status.update(values)

    def _report(self) -> None:
        if self.on_result is not None:
            try:
                self.on_result(self.status())
            except Exception:  # a broken callback must not kill the sync
                log.exception("sync result callback failed")

    def _run(self) -> None:
        store = client = None
        try:
            store = self._store_factory(self.db_path)
            while True:
                client = self._make_client(store)
                reload = client is not None and self._loop(store, client)
                if client is not None and hasattr(client, "close"):
                    client.close()
                client = None
                if not reload and not self._again():
                    return
                log.info("sync starts over (a new enrolment, or sync now)")
        except Exception as exc:  # never seen in tests; the kiosk must see it, not die of it
            log.exception("sync worker crashed")
            self._set(state=ST_STOPPED, last_error=f"{type(exc).__name__}: {exc}")
            self._report()
        finally:
            if client is not None and hasattr(client, "close"):
                client.close()  # the drain's sending threads
            if store is not None:
                store.close()
            with self._lock:
                self._ending = True
                if self._status["state"] not in (ST_NOT_AUTHORISED, ST_NOT_ENROLLED):
                    self._status["state"] = ST_STOPPED
                self._status["next_try_at"] = None

    def _again(self) -> bool:
        """The loop ended (refused, not enrolled, stopped): True to go round once more when a
        new enrolment or a "sync now" came while it ended (the app saw the thread alive and
        asked it, and the ask was lost); else the worker is ending, and says so to later asks."""
        with self._lock:
            again = (self._reload or self._force) and not self._stopping.is_set()
            self._reload = self._force = False
            self._ending = not again
        return again

    def _make_client(self, store: Any):
        creds = self.credentials
        if creds is None:
            try:
                creds = Credentials.load(self.db_path.parent)
            except SyncError as exc:
                self._set(state=ST_NOT_ENROLLED, authorised=False, last_error=str(exc))
                self._report()
                return None
        if self._client_factory is not None:
            return self._client_factory(store, creds)
        from .client import SyncClient

        # The server the kiosk was enrolled to: its key is known there and nowhere else. A
        # different sync.server in config.yaml (an enrolment with --server elsewhere) sent
        # every batch to a server that answered 401, and the ratings piled up.
        url = creds.server_url or self.server_url
        if self.server_url and creds.server_url and self.server_url.rstrip("/") != creds.server_url.rstrip("/"):
            log.warning("sync.server %s differs from the server this kiosk was enrolled to (%s); "
                        "using the enrolment's (enrol again to move to another server)",
                        self.server_url, creds.server_url)
        return SyncClient(url, store, creds, timeout=self.timeout, batch_size=self.batch_size)

    def _enrolled_again(self, client: Any) -> bool:
        """True when the saved credential is no longer the one ``client`` signs with."""
        if self.credentials is not None:
            return False
        try:
            saved = Credentials.load(self.db_path.parent)
        except SyncError:
            return False
        used = getattr(client, "credentials", None)
        return used is not None and saved.public_key_b64 != used.public_key_b64

    def _loop(self, store: Any, client: Any) -> bool:
        """Sync until stopped or refused (False), or until the credential was replaced (True)."""
        while not self._stopping.is_set():
            with self._lock:
                reload, self._reload = self._reload, False
            if reload:
                self._next_config = self._next_heartbeat = 0.0
                return True
            self._set(state=ST_SYNCING, next_try_at=None)
            try:
                self._cycle(store, client)
            except NotAuthorised as exc:
                if self._enrolled_again(client):
                    return True  # refused the old key: `kiosk enroll` ran, or the panel's
                log.error("sync stopped: %s", exc)
                self._set(state=ST_NOT_AUTHORISED, authorised=False, last_error=str(exc),
                          last_result="not_authorised", **self._counts(store, client))
                self._report()
                return False
            except (SyncError, Exception) as exc:
                retry_after = exc.retry_after if isinstance(exc, SyncError) else None
                if not isinstance(exc, SyncError):
                    log.exception("unexpected error in sync; backing off")
                delay = self.backoff.failure(retry_after)
                log.warning("sync failed (%s); next try in %.1f s", exc, delay)
                self._set(state=ST_BACKOFF, last_error=f"{exc}", last_result="error",
                          next_try_at=self._mono() + delay, **self._counts(store, client))
                self._report()
                self._sleep(delay, cut_by_notify=False)
                continue
            self.backoff.success()
            self._set(state=ST_IDLE, last_result="ok", authorised=True,
                      last_sync=datetime.now(timezone.utc).isoformat(),
                      next_try_at=self._mono() + self.interval, **self._counts(store, client))
            self._report()
            self._sleep(self.interval, cut_by_notify=True)
        return False

    def _sleep(self, seconds: float, cut_by_notify: bool) -> None:
        deadline = self._mono() + seconds
        while not self._stopping.is_set():
            remaining = deadline - self._mono()
            if remaining <= 0:
                return
            self._wake.wait(remaining)
            self._wake.clear()
            with self._lock:
                force, self._force = self._force, False
            if cut_by_notify or force:
                return

    def _drain(self, store: Any, client: Any) -> None:
        # A few batches per round (pipelined by the client), so that stop() is heard between
        # rounds even with a large backlog.
        while not self._stopping.is_set():
            results = client.drain(max_batches=DRAIN_ROUND)
            if not results:
                return
            with self._lock:
                for result in results:
                    self._status["sent"] += result.sent if result.status == "acked" else 0
                    self._status["acked"] += result.acked
                self._status["authorised"] = True
            self._set(**self._counts(store, client))

    def _cycle(self, store: Any, client: Any) -> None:
        """Drain the outbox (its failure is the cycle's: backoff), then pull the config, send
        the heartbeat and prune, each in its own try: one failing neither skips the others
        nor touches the uploads' backoff. Only ``NotAuthorised`` ends the cycle there."""
        try:
            self._drain(store, client)
            if self._retired:
                if not store.pending_count():
                    log.info("the database moved aside has sent all it held; its worker ends")
                    self._stopping.set()
                return
        except SyncError as exc:
            # A heartbeat may pass where batches do not (a proxy's body limit): the dashboard
            # then sees the backlog and the error, not a device silent with 0 pending.
            if not isinstance(exc, NotAuthorised) and self._mono() >= self._next_heartbeat:
                self._heartbeat(client, self._mono())
            raise
        now = self._mono()
        if now >= self._next_config and not self._stopping.is_set():
            self._pull_config(store, client, now)
        if not self._stopping.is_set():   # the live outbox is empty: the moved-aside files
            self._moved.send(store, client, stopping=self._stopping.is_set,
                             drain_live=lambda: self._drain(store, client))
            self._set(moved_aside_pending=self._moved.pending(),
                      moved_aside_skipped=len(self._moved.skipped))
        # after the moved-aside pass, so that the heartbeat tells what it left
        if self._mono() >= self._next_heartbeat and not self._stopping.is_set():
            self._heartbeat(client, self._mono())
        if self.keep_days is not None and now >= self._next_prune and not self._stopping.is_set():
            self._next_prune = now + self.prune_every
            self._prune(store)

    def _pull_config(self, store: Any, client: Any, now: float) -> None:
        """Pull the config; a failure is logged and shown (the heartbeat carries it, as the
        client's ``last_error``) and tried again after the config's own backoff. A photo that
        could not be fetched, or a config answer refused (its shape, a gateway's page), made
        the whole cycle fail: no heartbeat went out for as long, and the uploads' backoff
        grew to 15 minutes."""
        try:
            pulled = client.pull_config()
        except NotAuthorised:
            raise
        except Exception as exc:   # SyncError, or the store's (a full disk)
            delay = min(self._config_backoff.failure(getattr(exc, "retry_after", None)),
                        self.config_every)
            self._next_config = now + delay
            log.warning("config pull failed (%s); next try in %.1f s", exc, delay)
            self._set(last_error=f"{exc}")
            return
        self._config_backoff.success()
        self._next_config = now + self.config_every
        if pulled.get("photos_failed"):
            self._set(last_error=pulled["photos_failed"])
        if pulled.get("status") == "applied":
            if self.on_config is not None:
                try:
                    self.on_config(pulled)
                except Exception:
                    log.exception("config callback failed")
            try:
                self._drain(store, client)  # the config_applied event goes out now
            except NotAuthorised:
                raise
            except SyncError as exc:   # it goes with the next cycle's
                log.info("sending the config_applied event failed: %s", exc)

    def _heartbeat(self, client: Any, now: float) -> None:
        """Send the heartbeat and act on its answer; a failure is logged and tried again at
        the next cycle after ``HEARTBEAT_RETRY_S`` at least. Also after a failed upload: the
        "sync now" a supervisor asks for while uploads fail comes in this answer (delivered
        once), and was thrown away."""
        self._next_heartbeat = now + min(self.heartbeat_every, HEARTBEAT_RETRY_S)
        try:
            reply = client.heartbeat(self._moved_health())
        except NotAuthorised:
            raise
        except Exception as exc:   # SyncError, or the store's diagnostics
            log.info("heartbeat failed: %s", exc)
            return
        self._next_heartbeat = now + self.heartbeat_every
        if reply.get("sync_now") is True:  # a supervisor pressed "sync now" on the dashboard
            log.info("the server asked for a sync now")
            self._next_config = self._next_heartbeat = 0.0
            self._config_backoff.success()
            self.notify(force=True)   # cuts a backoff's wait too

    def _moved_health(self) -> dict[str, int]:
        """The heartbeat's word on the databases moved aside as corrupt: their events still to
        send and the files left to a technician's USB export (the dashboard showed a drained
        kiosk while a moved file still held thanked ratings, or held them for good)."""
        out = {"moved_aside_skipped": len(self._moved.skipped)}
        pending = self._moved.pending()
        if pending is not None:
            out["moved_aside_pending"] = pending
        return out

    def _prune(self, store: Any) -> None:
        """Retention: delete what the server acknowledged more than ``keep_days`` ago.

        Housekeeping: a failure (a full disk) is logged and tried again at the next turn; it
        never holds up the uploads.
        """
        from kiosk.errors import StoreError

        try:
            deleted = store.prune_acked(timedelta(days=self.keep_days))
        except StoreError as exc:
            log.warning("deleting old acknowledged events failed: %s", exc)
            return
        if deleted:
            log.info("deleted %d events acknowledged more than %s days ago", deleted, self.keep_days)

    @staticmethod
    def _counts(store: Any, client: Any) -> dict[str, Any]:
        try:
            pending, quarantined = store.pending_count(), len(store.quarantined())
        except Exception:  # a store error shows as unknown counts, not as a dead worker
            pending = quarantined = None
        return {"pending": pending, "quarantined": quarantined,
                "clock_offset": getattr(client, "clock_offset", None),
                "last_skew": getattr(client, "last_skew_s", None)}
