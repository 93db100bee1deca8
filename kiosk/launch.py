"""Starting the kiosk as ``kiosk run`` does: the Kivy window settings, the store, the flow,
the sync worker, and the app.

>>> run_app(load_config("config.yaml"))   # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Callable

from sync.credentials import ENROLMENT_FILE

from . import __version__, local_settings
from . import constants as C
from .errors import StoreError

log = logging.getLogger(__name__)

# Kivy's options read from the environment when Kivy is imported; an operator's own value wins.
# Image providers: the kiosk shows PNG assets and JPEG or PNG staff photos (the server accepts
# no other), which Kivy's SDL2_image provider loads; its default list also registers the
# Pillow provider, whose import (Pillow, cffi) cost ~2.4 MB of resident memory for nothing.
# Log mode: Kivy's default ("KIVY") puts its handlers on the root logger and lowers the root's
# level to NOTSET, so every line of the kiosk's own log came out twice and every library's
# DEBUG lines (urllib3's, one per sync request) reached the journal. "MIXED" keeps Kivy's
# handlers on Kivy's own logger; the rest goes through the log ``kiosk`` configures (INFO).
KIVY_ENVIRONMENT = {"KIVY_IMAGE": "tex,dds,sdl2", "KIVY_LOG_MODE": "MIXED"}


def kivy_environment() -> None:
    """Set the kiosk's defaults of Kivy's environment options; must run before anything
    imports Kivy (this module does not import it at its top)."""
    for key, value in KIVY_ENVIRONMENT.items():
        os.environ.setdefault(key, value)


def configure_kivy(cfg: Any) -> None:
    """Kiosk window settings; must run before anything imports Kivy (Kivy reads its environment
    options at import) and before the window exists. The benchmark and the tests use it too."""
    kivy_environment()
    from kivy.config import Config as KivyConfig

    KivyConfig.set("kivy", "exit_on_escape", "0")
    KivyConfig.set("kivy", "pause_on_minimize", "0")
    KivyConfig.set("graphics", "fullscreen", "auto" if cfg.display.fullscreen else "0")
    KivyConfig.set("graphics", "width", str(cfg.display.width))
    KivyConfig.set("graphics", "height", str(cfg.display.height))
    KivyConfig.set("graphics", "show_cursor", "1" if cfg.display.show_cursor else "0")
    # No multisampling (Kivy asks for 2 samples, Mesa's software GL gives 4): it smoothed 561
    # of the 614,400 pixels of the idle screen (rounded corners) and cost ~20 MB of resident
    # memory for the multisampled colour and depth buffers, each pixel kept and blended 4 times.
    KivyConfig.set("graphics", "multisamples", "0")
    if cfg.display.mouse_input:
        KivyConfig.set("input", "mouse", "mouse,multitouch_on_demand")
    elif KivyConfig.has_option("input", "mouse"):
        # A panel that is also a mouse gave each touch twice (a double tap, two ratings); the
        # deployment guide's "remove the mouse line" was undone here on every start.
        KivyConfig.remove_option("input", "mouse")
    # Kiosks have no keyboard: the technician's text fields (server URL, enrolment code, USB
    # path) get Kivy's on-screen keyboard, docked at the bottom.
    KivyConfig.set("kivy", "keyboard_mode", "systemanddock")


def run_app(cfg: Any, store: Any = None, flow: Any = None, *, sync_worker: Any = None,
            start_sync: bool = True) -> int:
    """Run the kiosk until the technician exits; what ``kiosk run`` calls. Returns 0.

    Without ``store`` / ``flow`` it opens ``<data_dir>/kiosk.db`` and builds the flow from
    ``cfg``; with ``sync.server`` set and no ``sync_worker`` it starts a SyncWorker on the
    same database (``start_sync=False`` to run standalone anyway). A database that cannot be
    opened for writing (a full disk) does not stop it: the app runs on a read-only view and
    opens the database once it can (kiosk/store_recovery.py).
    """
    configure_kivy(cfg)   # before the first import of Kivy, which .app brings
    from .app import KioskApp
    from .config import data_dir
    from .flow import FlowSettings, RatingFlow
    from .store_recovery import StoreRecovery, open_or_view

    own_store = store is None
    problem = None
    if own_store:
        # migrations in a child process; a read-only view when it cannot be opened
        store, problem = open_or_view(data_dir(cfg) / "kiosk.db")
    app = None
    try:
        local_settings.apply(cfg, store)   # what a technician changed on the kiosk itself
        if flow is None:
            flow = RatingFlow(store, FlowSettings.from_config(cfg), cfg.roster)
        if problem is None:
            try:
                store.record(C.EV_APP_START, {"version": __version__, "window_id": flow.settings.window_id})
                flow.close_interrupted_invitation()   # the faces were waiting when the last run ended
            except StoreError:
                log.exception("could not record app_start; starting anyway")

        def syncing() -> bool:
            # Sync when a server is configured or the technician enrolled this kiosk before.
            enrolled = (data_dir(cfg) / ENROLMENT_FILE).exists()
            return bool(start_sync and (cfg.sync.server or enrolled))

        def worker_if_syncing() -> Any:
            return _make_worker(cfg, store) if syncing() else None

        recovery = None
        if problem is not None:
            recovery = StoreRecovery(cfg, store.path, problem, make_worker=worker_if_syncing,
                                     heartbeat=_heartbeat_with(cfg) if syncing() else None)
        elif sync_worker is None:
            sync_worker = worker_if_syncing()

        def make_worker() -> Any:   # after an enrolment, or "sync now" once a worker ended
            if recovery is not None and not recovery.recovered:
                return None   # no worker on a database that cannot be written; it starts then
            return worker_if_syncing()

        app = KioskApp(cfg, store, flow, sync_worker=sync_worker, on_enrol=_enrol_with(cfg),
                       make_worker=make_worker,
                       sync_status=recovery.sync_status if recovery is not None else None)
        if recovery is not None:
            recovery.start(app)
        _stop_on_signals(app)
        app.run()
    finally:
        if own_store:
            (app.store if app is not None else store).close()   # the one reopened, if it was
    return 0


def _stop_on_signals(app: Any) -> None:
    """SIGTERM (systemd stopping the service) and SIGINT end the app cleanly: sync worker
    stopped, store closed, exit 0. SDL turns them into a window close request, which the kiosk
    refuses (a citizen must not close it), so systemd used to wait out its stop timeout and
    SIGKILL."""
    import signal

    from kivy.clock import Clock

    def stop(signum: int, _frame: Any) -> None:
        log.info("stopping on signal %d", signum)
        Clock.schedule_once(lambda _dt: app.stop())

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)


def _make_worker(cfg: Any, store: Any) -> Any:
    try:
        from sync.worker import SyncWorker

        return SyncWorker(store.path, server_url=cfg.sync.server or None, interval=cfg.sync.interval_seconds,
                          timeout=cfg.sync.timeout_seconds, batch_size=cfg.sync.batch_size,
                          keep_days=cfg.storage.keep_days)
    except Exception:
        log.exception("sync worker not available; running standalone")
        return None


def _heartbeat_with(cfg: Any) -> Callable[[Path, Any], Any]:
    def heartbeat(path: Path, problem: Any) -> Any:
        from sync.heartbeat import heartbeat_read_only

        return heartbeat_read_only(path, problem, server_url=cfg.sync.server or None,
                                   timeout=cfg.sync.timeout_seconds)

    return heartbeat


def _enrol_with(cfg: Any) -> Callable[[str, str], tuple[bool, str, str | None]]:
    def enrol(url: str, code: str) -> tuple[bool, str, str | None]:
        from sync.enrol import enrol_device

        if not (url or cfg.sync.server) or not code:
            return False, "server URL and enrolment code are both needed", "incomplete"
        return enrol_device(cfg, url or cfg.sync.server, code)

    return enrol
