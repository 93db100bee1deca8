"""Starting the kiosk when its database cannot be opened (a full disk), and recovering by itself.

A WAL database is opened by growing its ``-shm`` file; on a full data disk that fails, and
``kiosk run`` used to exit ("cannot open the kiosk database: database or disk is full"):
under systemd a restart loop with no window, no badge screen and no technician panel. Now the
app runs on a read-only view of what the database holds (``RatingStore.read_only_view``), as
it does when the disk fills while it runs: nothing can be recorded, so a press of a face shows
"please try again" (never a false thank-you), the status line says the system is dealing with
a problem, and the technician panel opens, shows the problem and 0 bytes free, and exports
what was recorded to a USB stick. Every ``REOPEN_SECONDS`` it tries to open the database for
writing; once it can (space was freed) it swaps that store in, records ``app_start``, closes an
invitation the last run left open, and starts the sync worker: the kiosk carries on where it
stopped, in the same stream, without a restart. Meanwhile an enrolled kiosk sends its
heartbeat from a read-only view in a thread of its own (``heartbeat``, every
``HEARTBEAT_SECONDS``), so the dashboard shows the full disk, not only a silent device.

>>> store, problem = open_or_view(db_path)                      # doctest: +SKIP
>>> recovery = StoreRecovery(cfg, db_path, problem, make_worker=make_worker)   # doctest: +SKIP
>>> app = KioskApp(cfg, store, flow, sync_status=recovery.sync_status)  # doctest: +SKIP
>>> recovery.start(app)                                         # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any, Callable

from . import __version__, local_settings
from . import constants as C
from .errors import StoreError, StoreFullError
from .migrate import open_store
from .store import RatingStore

log = logging.getLogger(__name__)
REOPEN_SECONDS = 15
HEARTBEAT_SECONDS = 300  # as the sync worker's


def open_or_view(path: str | os.PathLike) -> tuple[RatingStore, StoreError | None]:
    """The app's store at ``path`` (``migrate.open_store``) and None; or, when the database
    cannot be opened for writing, a read-only view of it and why."""
    try:
        return open_store(path), None
    except StoreError as exc:
        log.error("cannot open the kiosk database for writing, running on what it holds "
                  "read-only until it can (every %d s): %s", REOPEN_SECONDS, exc)
        return RatingStore.read_only_view(path, exc), exc


def _free_bytes(folder: Path) -> int | None:
    try:
        stat = os.statvfs(folder)
    except OSError:
        return None
    return stat.f_bavail * stat.f_frsize


class StoreRecovery:
    """While the app runs on a read-only view (``open_or_view``), opens its database for
    writing as soon as it can and swaps it in (see the module's docstring).

    ``make_worker()`` gives the sync worker to start then, or None (standalone); ``reopen``
    opens the database (``migrate.open_store``); ``seconds`` between tries. ``heartbeat(path,
    problem)`` (``sync.heartbeat.heartbeat_read_only``), when given, runs at once and every
    ``heartbeat_seconds`` in a thread until the database is open again.
    """

    def __init__(self, cfg: Any, path: str | os.PathLike, problem: StoreError, *,
                 make_worker: Callable[[], Any] | None = None,
                 reopen: Callable[[Path], RatingStore] = open_store,
                 seconds: float = REOPEN_SECONDS,
                 heartbeat: Callable[[Path, StoreError], Any] | None = None,
                 heartbeat_seconds: float = HEARTBEAT_SECONDS) -> None:
        self.cfg = cfg
        self.path = Path(path)
        self.problem: StoreError = problem
        self.make_worker = make_worker
        self.seconds = seconds
        self.recovered = False
        self.app: Any = None
        self._reopen = reopen
        self._event: Any = None
        self._free_at_failure = _free_bytes(self.path.parent)
        self.heartbeat = heartbeat
        self.heartbeat_seconds = heartbeat_seconds
        self._stopped = threading.Event()

    def sync_status(self) -> dict[str, Any] | None:
        """What the technician panel's sync rows show while the database cannot be written
        (the problem, as the last error); None once it can (standalone)."""
        if self.recovered:
            return None
        return {"state": "stopped", "last_result": "error", "last_error": str(self.problem)}

    def start(self, app: Any) -> None:
        """Show the problem on ``app`` and try to open the database every ``seconds``."""
        from kivy.clock import Clock

        self.app = app
        app.flow.last_error = str(self.problem)   # the calm status line, as on a failed commit
        self._event = Clock.schedule_interval(self.attempt, self.seconds)
        app.bind(on_stop=lambda *_: self.stop())
        if self.heartbeat is not None:
            threading.Thread(target=self._beat, name="kiosk-heartbeat-read-only",
                             daemon=True).start()

    def stop(self) -> None:
        self._stopped.set()
        if self._event is not None:
            self._event.cancel()
            self._event = None

    def _beat(self) -> None:
        wait = 0.0
        while not self._stopped.wait(wait):
            wait = self.heartbeat_seconds
            try:
                self.heartbeat(self.path, self.problem)
            except Exception as exc:   # not enrolled, server down: the next turn tries again
                log.warning("heartbeat while the database cannot be written failed: %s", exc)

    def attempt(self, _dt: float = 0) -> bool:
        """Try once to open the database for writing; False once it is open (which ends the
        Kivy interval), True to try again."""
        if self.recovered:
            return False
        free = _free_bytes(self.path.parent)
        if isinstance(self.problem, StoreFullError) and free is not None \
                and self._free_at_failure is not None and free <= self._free_at_failure:
            return True   # no more room than when it last failed: nothing to try yet
        try:
            store = self._reopen(self.path)
        except StoreError as exc:
            if str(exc) != str(self.problem):
                log.warning("kiosk database still cannot be opened: %s", exc)
            self.problem, self._free_at_failure = exc, _free_bytes(self.path.parent)
            self.app.flow.last_error = str(exc)
            return True
        except Exception:   # never the end of the kiosk: try again later
            log.exception("opening the kiosk database failed")
            return True
        self._swap(store)
        return False

    def _swap(self, store: RatingStore) -> None:
        app, flow = self.app, self.app.flow
        view = app.store
        # The view is closed before anything is written: it reads the file as immutable.
        view.close()
        app.store = flow.store = store
        self.recovered = True
        self.stop()
        log.warning("kiosk database open for writing again; recording")
        if not view.readable:
            # What a technician changed on the kiosk, kept in the database the view could not
            # read (the trigger settings, as at any start; the language needs a restart).
            from .flow import FlowSettings

            if local_settings.apply(self.cfg, store):
                flow.update(FlowSettings.from_config(self.cfg))
        try:
            store.record(C.EV_APP_START, {"version": __version__,
                                          "window_id": flow.settings.window_id})
            flow.close_interrupted_invitation()
        except StoreError:
            log.exception("could not record app_start after reopening the database")
        flow.last_error = None
        app.status_text = ""
        app.apply_device_config()
        worker = app.sync_worker
        if self.make_worker is not None and (worker is None or not worker.is_alive()):
            app.sync_worker = self.make_worker()
            app._start_sync()   # the app's own start of a worker (its on_result wiring)
