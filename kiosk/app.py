"""The kiosk's Kivy app: wires the store, the rating flow, the screens and the sync worker.

The flow (kiosk/flow.py) decides; the screens show ``flow.state``; this App only passes taps
to the flow, runs its clock, and switches screens when the state changed. Nothing here
touches SQL except through the store's public methods.

>>> app = KioskApp(cfg, store, flow, sync_worker=worker)   # doctest: +SKIP
>>> app.run()                                               # doctest: +SKIP

or, as ``kiosk run`` does: ``kiosk.launch.run_app(cfg)``.
"""

from __future__ import annotations

import dataclasses
import errno
import gc
import importlib
import logging
import threading
import time
from pathlib import Path
from typing import Any, Callable

from kivy.app import App
from kivy.base import ExceptionHandler, ExceptionManager
from kivy.clock import Clock
from kivy.properties import BooleanProperty, ListProperty, NumericProperty, ObjectProperty, StringProperty
from kivy.uix.screenmanager import NoTransition, ScreenManager

from . import __version__, local_settings, watchdog
from . import constants as C
from .errors import ConfigError, FlowError, StoreError
from .flow import CONFIG_FIELDS
from .fonts import log_font_gaps
from .i18n import Translator, other_language
from .keys import invite_key_names, invite_keycode
from .pin import check_pin
from .technician import StaffPinLock, TechnicianLock, panel_warning_rows, technician_left_alone
from .voice import VoicePrompt

log = logging.getLogger(__name__)

TECHNICIAN = "technician"
BASE_WIDTH, BASE_HEIGHT = 1024, 600   # the layouts are drawn for this size and scaled by ``u``
BADGE_MAX = 32
NUMPAD_DIGITS = {256 + i: str(i) for i in range(10)}   # Kivy keycodes numpad0 … numpad9
# Enrolment problems the technician panel says in its own language (tech.enrol_<code>).
ENROL_PROBLEMS = ("unknown_code", "code_used", "code_expired", "unreachable", "incomplete",
                  "device_exists", "code_for_another_device", "not_a_server")
ENTER_KEYS = (13, 271)                                  # enter, numpadenter
ESCAPE = 27
# Screens imported and built on first use (KioskApp.build): name → (module, class).
LATER_SCREENS = {TECHNICIAN: ("technician", "TechnicianScreen"), C.ST_PAUSED: ("paused", "PausedScreen"),
                 C.ST_RETRY: ("retry", "RetryScreen"), C.ST_FOLLOW_UP: ("follow_up", "FollowUpScreen")}


def _threaded_software_gl() -> bool:
    """True under Mesa's llvmpipe, which rasterizes each frame in its own threads."""
    from kivy.graphics.opengl import GL_RENDERER, glGetString

    try:
        return b"llvmpipe" in glGetString(GL_RENDERER)
    except Exception:   # no GL context (a unit test's mock window): nothing to pace
        return False


def _finish_frame(*_args: Any) -> None:
    """Wait for the frame just drawn before the window flips it.

    llvmpipe bins a frame on the UI thread and rasterizes it in worker threads; when nothing
    waits for a frame (an offscreen window, whose buffer swap shows nothing), it queues up to
    64 frames and Mesa 22.3 keeps each finished frame's bins (up to 36 MB) until that slot is
    reused: RSS climbed ~1-3 MB per rating towards 2 GB. A display's buffer swap already waits
    like this, so the wait costs nothing there (docs/reliability.md).
    """
    from kivy.graphics.opengl import glFinish

    glFinish()


class _KeepRunning(ExceptionHandler):
    """An exception in a callback is logged and the kiosk carries on with a calm status line."""

    def __init__(self, app: "KioskApp") -> None:
        super().__init__()
        self.app = app

    def handle_exception(self, inst: BaseException) -> int:
        if isinstance(inst, (KeyboardInterrupt, SystemExit)):
            return ExceptionManager.RAISE
        log.error("unexpected error in the kiosk screen", exc_info=inst)
        Clock.schedule_once(lambda dt: self.app.show_problem(), 0)
        return ExceptionManager.PASS


class KioskRoot(ScreenManager):
    """The root widget: the screens, plus the hidden long press in the top-left corner."""

    app = ObjectProperty(None)
    corner = NumericProperty(0.12)   # size of the hot corner, as a share of the shorter side

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._press: Any = None
        self._press_uid: Any = None
        self._later: dict[str, Callable[[], Any]] = {}

    def add_later(self, name: str, make: Callable[[], Any]) -> None:
        """Register a screen that is built the first time it is asked for."""
        self._later[name] = make

    def get_screen(self, name: str) -> Any:
        make = self._later.pop(name, None)
        if make is not None:
            self.add_widget(make())
        return super().get_screen(name)

    def has_screen(self, name: str) -> bool:
        return name in self._later or super().has_screen(name)

    def _in_corner(self, x: float, y: float) -> bool:
        side = min(self.width, self.height) * self.corner
        return x <= self.x + side and y >= self.top - side

    def on_touch_down(self, touch: Any) -> bool:
        if self.app is not None:
            self.app.on_any_touch(touch)
            if self._in_corner(*touch.pos) and not self.app.technician_mode:
                self._cancel_press()
                self._press_uid = touch.uid
                self._press = Clock.schedule_once(lambda dt: self.app.open_technician(),
                                                  self.app.long_press_seconds)
        return super().on_touch_down(touch)

    def on_touch_move(self, touch: Any) -> bool:
        if touch.uid == self._press_uid and not self._in_corner(*touch.pos):
            self._cancel_press()
        return super().on_touch_move(touch)

    def on_touch_up(self, touch: Any) -> bool:
        if touch.uid == self._press_uid:
            self._cancel_press()
        try:
            return super().on_touch_up(touch)
        finally:   # after the face or button took the release (a face records on release)
            if self.app is not None:
                self.app.on_any_release(touch)

    def _cancel_press(self) -> None:
        if self._press is not None:
            self._press.cancel()
        self._press, self._press_uid = None, None


class KioskApp(App):
    """The touchscreen app of one service window.

    ``cfg`` is the loaded config (kiosk/config.py), ``store`` the UI thread's RatingStore,
    ``flow`` the RatingFlow on that store. Optional: ``sync_worker`` (sync.worker.SyncWorker,
    started and stopped with the app), ``sync_status`` (a callable giving a status dict when
    there is no worker), ``on_enrol(url, code)`` (run in a helper thread, returns ``(ok,
    message, problem code)``: ``sync.enrol.enrol_device``) and ``on_export(path)`` (likewise,
    ``(ok, message)``), ``voice`` (a VoicePrompt), ``invite_server`` (False: do not
    open the local endpoint), ``tech_clock`` (the monotonic clock of the PIN lockouts, of the
    boot the store's ``boot_id`` names: their counts are kept across a restart by it).
    """

    tr = ObjectProperty(None)
    lang = StringProperty("zh_CN")
    u = NumericProperty(1.0)
    portrait = BooleanProperty(False)   # taller than wide: the screens stack their parts
    status_text = StringProperty("")
    staff = ObjectProperty({})
    staff_photo = StringProperty("")
    on_duty = BooleanProperty(False)
    mode = StringProperty(C.MODE_OPEN)
    unit_name = StringProperty("")
    window_name = StringProperty("")
    hotline = StringProperty("")
    qr_url = StringProperty("")
    server_url = StringProperty("")
    service_items = ListProperty([])
    award = ObjectProperty({})   # the window's rotating award (流动红旗) from the pulled config
    technician_mode = BooleanProperty(False)
    settings_version = NumericProperty(0)   # bumps when a technician setting changed
    enrolling = BooleanProperty(False)   # an enrolment runs: the panel's Enrol button is off

    def __init__(self, cfg: Any, store: Any, flow: Any, *, sync_worker: Any = None,
                 sync_status: Callable[[], dict[str, Any]] | None = None,
                 on_enrol: Callable[[str, str], tuple[bool, str, str | None]] | None = None,
                 make_worker: Callable[[], Any] | None = None,
                 on_export: Callable[[str], tuple[bool, str]] | None = None,
                 voice: VoicePrompt | None = None, invite_server: bool = True,
                 tech_clock: Callable[[], float] = time.monotonic,
                 tick_seconds: float = 0.2, long_press_seconds: float = 3.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cfg, self.store, self.flow = cfg, store, flow
        self.sync_worker = sync_worker
        self.sync_status = sync_status
        self.on_enrol = on_enrol
        self.make_worker = make_worker
        self.on_export = on_export if on_export is not None else self._export_default
        self.voice = voice if voice is not None else VoicePrompt(bool(cfg.display.voice))
        self.use_invite_server = invite_server
        self.tick_seconds = tick_seconds
        self.long_press_seconds = long_press_seconds
        # The locks' counts are kept in the kiosk database (kiosk/local_settings.py LockKeeper,
        # written through whichever store the app has then): kept in memory only, a restart or
        # a pulled plug gave a PIN guesser a fresh set of tries. ``tech_clock`` is the
        # monotonic clock of the boot the store names (kiosk/technician.py says the rule).
        boot_id = str(getattr(store, "boot_id", "") or "")
        self.tech_lock = TechnicianLock(
            cfg.technician.pin_hash, max_tries=cfg.technician.max_tries,
            lockout_seconds=cfg.technician.lockout_seconds, clock=tech_clock,
            keeper=local_settings.LockKeeper(lambda: self.store, local_settings.TECH_LOCK_KEY, boot_id))
        # Staff PINs are four digits: without a lockout anyone at the counter could try them
        # all and pause the window or sign its staff out. Counted per staff number and never
        # longer than 5 minutes (kiosk/technician.py): the technician's ladder, shared by all
        # numbers and up to a day, let anyone keep every colleague's PIN sign-in locked.
        self.staff_lock = StaffPinLock(
            max_tries=cfg.technician.max_tries, lockout_seconds=cfg.technician.lockout_seconds,
            clock=tech_clock,
            keeper=local_settings.LockKeeper(lambda: self.store, local_settings.STAFF_LOCK_KEY, boot_id))
        self._tech_clock = tech_clock
        self._panel_touched = 0.0
        self._tech_touched = 0.0   # the technician screen's last touch or key
        self._tech_busy = 0        # its actions running in the background (export, enrolment)
        self.title = "窗口服务好差评评价器"
        self.lang = cfg.language
        self.tr = Translator(self.lang)
        self.unit_name, self.window_name = cfg.window.unit_name, cfg.window.name
        self.hotline, self.server_url = cfg.window.hotline, cfg.sync.server
        self.service_items = [dict(i) for i in cfg.service_items]
        # The technician's sync.qr_base_url wins over the server's (the server's public_url
        # left at its loopback default put 127.0.0.1 in every window's QR code); empty: the
        # server's, as the config pull brings it, else the sync server's own address.
        self._qr_local = cfg.sync.qr_base_url
        self._qr_base = cfg.sync.qr_base_url or cfg.sync.server
        self._qr_key: str | None = None
        self._config_etag: str | None = None
        self._staff_src: Any = object()
        self._badge = ""
        self._events: list[Any] = []
        self._invite_server: Any = None
        self._allow_close = False
        self._seen_error: str | None = flow.last_error
        # The store and how many corrupt databases it had moved aside when last looked at
        # (``_follow_store``).
        self._seen_store: tuple[Any, int] = (store, getattr(store, "recoveries", 0))
        self._retired_workers: list[Any] = []   # sending a database moved aside (``_follow_store``)
        self._panel: Any = None
        self._handler = _KeepRunning(self)
        self.frames_since_tap = 0
        self._invite_keycode = self._keycode(cfg.trigger.invite_key)

    # ------------------------------------------------------------- building
    @staticmethod
    def _keycode(name: str) -> int | None:
        """The code the window sends for the invite key ``name`` (kiosk/keys.py, the table the
        config check uses); None, logged, for a name it does not know."""
        code = invite_keycode(name)
        if code is None:   # the config check refuses it; a Config built otherwise may not
            log.error("trigger.invite_key %r is not a key the staff button can send (%s): the "
                      "staff key invites nobody", name, invite_key_names())
        return code

    def build(self) -> KioskRoot:
        from .screens.common import AVATAR
        from .screens.idle import IdleScreen
        from .screens.rate import RateScreen
        from .screens.thanks import ThanksScreen

        self._avatar = str(AVATAR)
        self.staff_photo = self._avatar
        root = KioskRoot(app=self, transition=NoTransition())
        # Idle, rate and thanks are built at start: a tap shows its next screen within a frame.
        for name, cls in ((C.ST_IDLE, IdleScreen), (C.ST_RATE, RateScreen),
                          (C.ST_THANKS, ThanksScreen)):
            root.add_widget(cls(name=name, app=self))
        # The others are imported and built when first shown, each kept for the rest of the day
        # once built: the follow-up screen on the day's first bad rating (15-25 ms then, ~1.7 MB
        # until then, and many windows get no bad rating on a given day), the technician screen
        # (a technician, rarely: its text fields, keypad and fonts ~8 MB, its kv rules and
        # Kivy's on-screen keyboard), the paused screen (nobody on duty) and the retry screen
        # (a failed commit).
        for name, (module, cls) in LATER_SCREENS.items():
            root.add_later(name, lambda name=name, module=module, cls=cls: self._make_screen(name, module, cls))
        root.bind(size=self._on_size)
        self.apply_device_config()
        self._sync_props()
        self._update_qr()
        root.get_screen(self.flow.state).refresh()
        root.current = self.flow.state
        return root

    def _make_screen(self, name: str, module: str, cls: str) -> Any:
        return getattr(importlib.import_module(f".screens.{module}", __package__), cls)(name=name, app=self)

    def _on_size(self, root: Any, size: tuple[float, float]) -> None:
        w, h = size
        if w > 1 and h > 1:
            # An upright screen (standing kiosks, tablets on a pole) stacks what sits side by
            # side, and is scaled as 600×1024: it had three thin columns and type at 0.59×.
            self.portrait = h > w
            base_w, base_h = (BASE_HEIGHT, BASE_WIDTH) if self.portrait else (BASE_WIDTH, BASE_HEIGHT)
            self.u = max(0.5, min(w / base_w, h / base_h))

    def on_start(self) -> None:
        from kivy.core.window import Window

        Window.bind(on_keyboard=self._on_keyboard, on_request_close=self._on_request_close,
                    on_touch_down=self._on_window_touch)
        if _threaded_software_gl():
            Window.bind(on_flip=_finish_frame)
        ExceptionManager.add_handler(self._handler)
        self._on_size(self.root, self.root.size)
        self._events.append(Clock.schedule_interval(self.tick, self.tick_seconds))
        self._start_invite_server()
        self._start_sync()
        self.show_state()
        # Pinged from the Kivy clock, so a frozen UI thread stops the pings (systemd watchdog).
        watchdog.notify(b"READY=1")
        self._events.append(Clock.schedule_interval(lambda dt: watchdog.notify(b"WATCHDOG=1"),
                                                    watchdog.PING_SECONDS))

    def on_stop(self) -> None:
        from kivy.core.window import Window

        for event in self._events:
            event.cancel()
        self._events.clear()
        Window.unbind(on_keyboard=self._on_keyboard, on_request_close=self._on_request_close,
                      on_touch_down=self._on_window_touch)
        Window.unbind(on_flip=_finish_frame)
        if self._handler in ExceptionManager.handlers:
            ExceptionManager.remove_handler(self._handler)
        if self._invite_server is not None:
            self._invite_server.stop()
            self._invite_server = None
        for worker in self._retired_workers:   # still sending a database moved aside
            try:
                worker.stop(timeout=0)
            except Exception:
                log.exception("a retired sync worker did not stop cleanly")
        if self.sync_worker is not None:
            try:
                self.sync_worker.stop(timeout=10)
            except Exception:
                log.exception("sync worker did not stop cleanly")

    def _start_invite_server(self) -> None:
        port = self.cfg.trigger.invite_port
        if not (self.use_invite_server and port):
            return
        from .invite_server import RETRY_SECONDS, InviteEndpoint

        self._invite_server = InviteEndpoint(
            self.invite_from_queue, port=port,
            dispatch=lambda fn: Clock.schedule_once(lambda dt: fn(), 0),
        )
        # Port taken: the window still works with the staff key, and the endpoint opens once
        # the port is free (it stayed shut until a restart); the event ends when it is open.
        if not self._invite_server.try_start():
            self._events.append(Clock.schedule_interval(
                lambda dt: not self._invite_server.try_start(), RETRY_SECONDS))

    def _start_sync(self) -> None:
        worker = self.sync_worker
        if worker is None:
            return
        previous = getattr(worker, "on_result", None)

        def on_result(status: dict[str, Any]) -> None:   # called in the worker's thread
            if previous is not None:
                previous(status)
            Clock.schedule_once(lambda dt: self._on_sync_result(status), 0)

        worker.on_result = on_result
        try:
            if not worker.is_alive():
                worker.start()
        except Exception:
            log.exception("sync worker could not start; ratings stay on the kiosk")

    def _on_sync_result(self, status: dict[str, Any]) -> None:
        self.apply_device_config()
        if self.root is None or not self.technician_mode:
            return
        screen = self.root.get_screen(TECHNICIAN)
        if screen.stage == "panel":
            screen.update_diagnostics()

    # -------------------------------------------------------- device config
    def apply_device_config(self) -> bool:
        """Show what the server sent (roster, items, scale, mode …); True when it changed."""
        try:
            body, etag = self.store.device_config()
        except StoreError:
            log.exception("could not read the device config")
            return False
        if body is None or etag == self._config_etag:
            return False
        self._config_etag = etag   # a body refused below is logged once, not at every sync
        # A stored body of the wrong shape (an older sync client stored what it got) changes
        # nothing: the previous values, or config.yaml's, stay. {"window": {"name": 123}}
        # raised here in build(), before the app's exception handler, at every start.
        from sync.device_config_check import device_config_problem

        from .flow import roster_from_server

        problem = device_config_problem(body)
        if problem:
            log.error("the server config %s is not applied: %s; the kiosk keeps its settings",
                      etag, problem)
            return False
        # a name the font cannot draw shows as boxes: said once (kiosk/fonts.py)
        log_font_gaps(body, f"server config {etag}", log)
        try:
            window = body.get("window") or {}
            shown = {"window_name": window.get("name") or self.window_name,
                     "unit_name": window.get("unit_name") or self.unit_name,
                     "hotline": window.get("hotline") or self.hotline,
                     "service_items": [dict(i) for i in body["service_items"]]
                     if isinstance(body.get("service_items"), list) else self.service_items,
                     "_qr_base": self._qr_local or body.get("qr_base_url") or self._qr_base,
                     "_qr_key": body.get("follow_up_qr_key") or self._qr_key,
                     "award": dict(body["award"]) if isinstance(body.get("award"), dict) else {}}
            roster = roster_from_server(body["roster"]) if isinstance(body.get("roster"), list) \
                else None
            settings = self.flow.settings.with_device_config(body)
        except Exception:
            log.exception("the server config %s is not applied; the kiosk keeps its settings", etag)
            return False
        for name, value in shown.items():
            setattr(self, name, value)
        on_duty = self.flow.staff
        try:
            self.flow.update(settings, roster)
            self._update_qr()
            self._sync_props()
            if self.root is not None:
                self.root.get_screen(C.ST_IDLE).refresh()
                if on_duty is not None and self.flow.staff is None:
                    # taken off the roster: signed out, and their panel (pause, sign out) goes
                    if self._panel is not None:
                        self._panel.dismiss(animation=False)
                    self.show_state()
        except Exception:   # in build(), before on_start's handler: the kiosk must start
            log.exception("showing the server config %s failed", etag)
            self.show_problem()
        return True

    def _update_qr(self) -> None:
        from .screens.text import rating_page_url

        self.qr_url = rating_page_url(self._qr_base, self.flow.settings.window_id)

    def _photo_for(self, staff: dict[str, Any]) -> str:
        photo = str(staff.get("photo") or "")
        if photo:
            candidates = [Path(self.store.path).parent / "photos" / photo,
                          Path(getattr(self.cfg, "base_dir", ".")) / photo]
            for path in candidates:
                if path.is_file():
                    return str(path)
        return self._avatar

    # --------------------------------------------------------------- state
    def _sync_props(self) -> None:
        flow = self.flow
        if flow.staff is not self._staff_src:
            self._staff_src = flow.staff
            self.staff = dict(flow.staff or {})
            self.staff_photo = self._photo_for(self.staff) if flow.staff else getattr(self, "_avatar", "")
        self.on_duty = flow.staff is not None and flow.state != C.ST_PAUSED
        self.mode = flow.settings.mode
        if flow.last_error != self._seen_error:
            self._seen_error = flow.last_error
            if flow.last_error:
                self.show_problem()

    def show_state(self) -> None:
        """Show the screen of ``flow.state`` (or the technician screen) if it is not shown."""
        if self.root is None:
            return
        self._sync_props()
        target = TECHNICIAN if self.technician_mode else self.flow.state
        if self.root.current == target:
            return
        screen = self.root.get_screen(target)
        screen.refresh()
        self.root.current = target
        if target in (C.ST_IDLE, C.ST_PAUSED):
            # Kivy's event bindings leave small reference cycles that keep GL textures alive
            # until a full collection, which Python runs rarely: without this the process
            # grew ~3 MB per rating up to ~2 GB under software GL. A full collection on the
            # way back to idle costs a few ms when nobody is looking at the screen.
            Clock.schedule_once(lambda dt: gc.collect(), 0)
        if target == C.ST_RATE:
            self.voice.play("rate", self.lang)
        elif target == C.ST_THANKS:
            self.status_text = ""   # a commit just worked: the calm status line can go
        if target not in (C.ST_IDLE, C.ST_PAUSED) and self._panel is not None:
            self._panel.dismiss()

    def tick(self, dt: float = 0) -> None:
        try:
            self.flow.tick()
        except Exception:
            log.exception("flow tick failed")
            self.show_problem()
        # A PIN lockout seen ending (and a staff number's wrong PINs forgotten) is kept so:
        # a reboot starts over only a lockout still running at the time (kiosk/technician.py).
        self.tech_lock.remaining()
        self.staff_lock.settle()
        self._follow_store()
        self.show_state()
        # The staff panel (pause, sign out) closes when left alone like the rating screens:
        # it stayed open for anyone at the counter to press.
        if self._panel is not None and self._panel.parent is not None and \
                self._tech_clock() - self._panel_touched > self.flow.settings.return_seconds:
            self._panel.dismiss(animation=False)
        # So does the technician screen: left on its PIN entry the window took no invitation
        # (409) and showed no faces for ever, and an unlocked panel kept its USB export (every
        # phone number), exit to desktop and mode changes open to anyone.
        if self.technician_mode and self.root is not None:
            screen = self.root.get_screen(TECHNICIAN)
            if technician_left_alone(screen.stage, self._tech_clock() - self._tech_touched,
                                     busy=self._tech_busy > 0):
                log.info("technician screen left alone on its %s: closed", screen.stage)
                screen.leave()

    def show_problem(self) -> None:
        self.status_text = self.tr("common.status_problem")

    def _do(self, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except FlowError as exc:   # a tap that means nothing now (double tap, late tap)
            log.info("ignored: %s", exc)
        except Exception:
            log.exception("%s failed", getattr(fn, "__name__", fn))
            self.show_problem()
        finally:
            self._follow_store()
            self.show_state()
        return None

    def _follow_store(self) -> None:
        """When the store moved its database aside as corrupt while the app ran and records
        in a new one (kiosk/store.py, ``RatingStore._recover``), the sync worker follows: a
        new one is started on the new database, as kiosk/store_recovery.py does when the
        database opens again, and the old one, whose own connection still reads the file
        moved aside, retires: it sends what that file holds and ends (``SyncWorker.retire``).
        Without the new one no rating of the new stream was sent; stopped at once, the old
        one left the moved file's unsent ratings to a technician's USB export. The new one
        leaves that file to the old one while it runs (it sends the moved-aside databases
        too, sync/moved_aside.py)."""
        store = self.store
        recoveries = getattr(store, "recoveries", 0)
        seen_store, seen = self._seen_store
        self._seen_store = (store, recoveries)
        if store is not seen_store or recoveries == seen:
            return   # the same database; or a store swapped in, which starts its own worker
        log.warning("the kiosk database was moved aside as corrupt; a sync worker starts on "
                    "the new one, and the old one sends what the moved file still holds")
        old = self.sync_worker
        retiring = None
        if old is not None:
            try:   # its connection still reads the moved file: it ends once that is sent
                if hasattr(old, "retire") and old.retire():
                    self._retired_workers.append(old)
                    moved = (getattr(store, "recovered_from", None) or {}).get("moved_to")
                    retiring = (moved, old.is_alive) if moved else None
                else:
                    old.stop(timeout=0)
            except Exception:
                log.exception("the old sync worker did not retire")
        if not self._new_worker(leave=retiring) and old is not None:
            log.error("no sync worker for the new kiosk database; its ratings stay on the kiosk")

    def _notify_sync(self) -> None:
        if self.sync_worker is not None:
            try:
                self.sync_worker.notify()
            except Exception:
                log.exception("sync notify failed")

    # ------------------------------------------------------ citizen actions
    def levels(self) -> tuple[str, ...]:
        return self.flow.levels()

    def reasons(self) -> tuple[str, ...]:
        rating = self.flow.pending_rating
        return self.flow.reasons_for(rating["payload"]["level"]) if rating else ()

    def follow_up_url(self) -> str:
        from .screens.text import follow_up_token, rating_page_url

        rating = self.flow.pending_rating
        if not rating or not self._qr_base:
            return ""
        # The server checks the expiry by its own clock: dated by this kiosk's clock alone, a
        # code made by a kiosk more than the week behind was dead when shown (410). The offset
        # the sync client measured puts it on the server's clock; never measured: none.
        now = time.time() + (self.store.clock_offset() or 0.0)
        token = follow_up_token(rating["id"], self._qr_key, now)
        return rating_page_url(self._qr_base, self.flow.settings.window_id, token)

    def start_rating(self) -> None:
        self._do(self.flow.start_rating)

    def rate(self, level: str) -> None:
        if self.flow.state != C.ST_RATE:
            return   # a second finger or a late tap on a face already gone
        state = self._do(lambda: self.flow.rate(level, touched=True))
        if state in (C.ST_THANKS, C.ST_FOLLOW_UP):
            self._notify_sync()

    def not_now(self) -> None:
        """"暂不评价" under the faces: the session ends as its timeout ends it (kiosk/flow.py)."""
        if self.flow.state == C.ST_RATE:
            self._do(lambda: self.flow.not_now(touched=True))

    def toggle_reason(self, code: str) -> list[str]:
        try:
            return self.flow.toggle_reason(code)
        except FlowError as exc:
            log.info("ignored: %s", exc)
            return list(self.flow.chosen)

    def submit_follow_up(self, phone: str | None, consent: bool) -> None:
        if self._do(self.flow.submit_follow_up, phone, consent) == C.ST_THANKS:
            self._notify_sync()

    def skip_follow_up(self) -> None:
        self._do(self.flow.skip_follow_up)

    def touch(self) -> None:
        if not self.technician_mode:
            self.flow.touch()

    def on_any_touch(self, touch: Any = None) -> None:
        """A finger went down anywhere on the root: on the faces or the follow-up form it
        restarts their idle timeout and holds it until the finger lifts (``flow.finger_down``).
        Not on the technician screen: ten minutes of panel work kept the last citizen's
        follow-up (or the open faces) alive behind it, and the next person at the counter
        could add a phone number to someone else's bad rating."""
        if self.technician_mode or self.flow.state not in (C.ST_RATE, C.ST_FOLLOW_UP):
            return
        if touch is None:
            self.flow.touch()
        else:
            self.flow.finger_down(touch.uid)

    def on_any_release(self, touch: Any) -> None:
        self.flow.finger_up(touch.uid)

    def invite(self, case_no: str | None = None, service_item: str | None = None, source: str = "key") -> bool:
        if self.technician_mode:
            return False
        return bool(self._do(self.flow.invite, case_no, service_item, source))

    def invite_from_queue(self, case_no: str | None, service_item: str | None) -> bool | str:
        """The local endpoint's invitation: True, False (busy), or why the flow refused the
        case number (``C.REFUSED_RATED`` …), which the endpoint's 409 names."""
        if self.technician_mode:
            return False
        if self.invite(case_no, service_item, source="http"):
            return True
        return self.flow.refusal if self.flow.refusal not in (None, C.REFUSED_BUSY) else False

    # --------------------------------------------------------- staff actions
    def open_staff_panel(self, verified: bool = False) -> Any:
        from .screens.staff_panel import StaffPanel

        if self._panel is None:
            self._panel = StaffPanel(app=self)
        panel = self._panel
        # the one on duty, or the one who paused (their PIN resumes the window)
        panel.staff_no = (self.flow.staff or {}).get("staff_no", "")
        panel.pin, panel.message = "", ""
        panel.field = "pin" if panel.staff_no else "staff_no"
        panel.verified = verified
        self.staff_panel_touched()
        if panel.parent is None:
            panel.open(animation=False)
        return panel

    def staff_pin_entered(self, staff_no: str, pin: str) -> tuple[str, float]:
        """('verified' (the person on duty confirmed), 'signed_in', 'wrong' or 'locked',
        seconds the entry stays locked)."""
        self.staff_panel_touched()
        current = self.flow.staff if self.on_duty else None
        confirming = current is not None and staff_no == current.get("staff_no")

        def matches(given: str) -> bool:
            if confirming:
                return bool(current.get("pin_hash")) and check_pin(given, current["pin_hash"])
            return bool(self._do(self.flow.sign_in_pin, staff_no, given))

        attempt = self.staff_lock.check(staff_no, pin, matches)
        if attempt.ok:
            return ("verified" if confirming else "signed_in"), 0.0
        if attempt.locked_for:
            log.warning("staff PIN entry for staff number %r locked for %.0f s after wrong PINs",
                        staff_no, attempt.locked_for)
            return "locked", attempt.locked_for
        return "wrong", 0.0

    def staff_panel_touched(self) -> None:
        """The staff panel was used: its idle timeout starts again."""
        self._panel_touched = self._tech_clock()

    def staff_action(self, action: str) -> None:
        if action == "invite":
            self.invite(source="key")
        elif action == "pause":
            self._do(self.flow.pause)
        elif action == "sign_out":
            self._do(self.flow.sign_out)

    def badge_entered(self, badge: str) -> bool:
        """A card reader typed a badge number and Enter."""
        if self.technician_mode or self.flow.state not in (C.ST_IDLE, C.ST_PAUSED):
            return False
        current = self.flow.staff
        if current is not None and self.flow.state == C.ST_IDLE and current.get("badge") == badge:
            self.open_staff_panel(verified=True)   # the badge proves who it is
            return True
        ok = bool(self._do(self.flow.sign_in_badge, badge))
        if ok and self._panel is not None:
            self._panel.dismiss()
        return ok

    def _on_window_touch(self, window: Any, touch: Any) -> None:
        """Every touch, also on Kivy's on-screen keyboard (a child of the window, not of the
        root): the technician screen's idle time starts again."""
        if self.technician_mode:
            self.technician_touched()

    def technician_touched(self) -> None:
        """The technician screen was used: its idle timeout starts again."""
        self._tech_touched = self._tech_clock()

    def _on_keyboard(self, window: Any, key: int, scancode: int = 0, codepoint: str | None = None,
                     modifiers: Any = None, **kwargs: Any) -> bool:
        if self.technician_mode:
            self.technician_touched()   # typing into its fields is using it
            return key == ESCAPE   # text fields work; Escape never closes the kiosk
        if key == ESCAPE:
            return True
        if self._invite_keycode is not None and key == self._invite_keycode:
            self.invite(source="key")
            return True
        if self.flow.state not in (C.ST_IDLE, C.ST_PAUSED):
            self._badge = ""
            return False
        if key in ENTER_KEYS:
            badge, self._badge = self._badge, ""
            if badge:
                self.badge_entered(badge)
            return True
        char = NUMPAD_DIGITS.get(key) or codepoint
        if char and len(char) == 1 and char.isascii() and char.isalnum():
            self._badge = (self._badge + char)[-BADGE_MAX:]
            return True
        return False

    def _on_request_close(self, *args: Any, **kwargs: Any) -> bool:
        return not self._allow_close   # True keeps the window open

    # ------------------------------------------------------------ technician
    def open_technician(self) -> None:
        if self.technician_mode:
            return
        if self._panel is not None:
            self._panel.dismiss()
        self.technician_mode = True
        self.technician_touched()
        self.root.get_screen(TECHNICIAN).stage = "pin"
        self.show_state()

    def leave_technician(self) -> None:
        self.technician_mode = False
        self.show_state()

    def _record(self, type_: str, payload: dict[str, Any]) -> None:
        if self.flow.note(type_, payload) is None:
            self.show_problem()

    def technician_login(self, pin: str) -> tuple[bool, str]:
        attempt = self.tech_lock.check(pin)
        if attempt.ok:
            self._record(C.EV_TECH_LOGIN, {"ok": True})
            return True, ""
        if attempt.locked_for:
            self._record(C.EV_TECH_LOGIN, {"ok": False, "locked_seconds": round(attempt.locked_for)})
            return False, self.tr("tech.locked", seconds=int(attempt.locked_for + 0.999))
        return False, self.tr("tech.wrong", left=attempt.tries_left)

    def diagnostics_rows(self) -> list[tuple[str, str]]:
        from .screens.text import diagnostics_rows

        try:
            diag = self.store.diagnostics()
        except StoreError as exc:
            diag = {"device_id": getattr(self.store, "device_id", "—"), "events": str(exc)}
        status = None
        try:
            if self.sync_worker is not None:
                status = self.sync_worker.status()
            elif self.sync_status is not None:
                status = self.sync_status()
        except Exception:
            log.exception("sync status failed")
        window = f"{self.flow.settings.window_id} · {self.window_name}"
        endpoint = self._invite_server
        return diagnostics_rows(diag, status, __version__, window, self.tr) + panel_warning_rows(
            self.tr, pin_hash=self.tech_lock.pin_hash, invite=endpoint.state() if endpoint else None)

    def _tech_say(self, text: str) -> None:
        if self.root is not None:
            self.root.get_screen(TECHNICIAN).say(text)

    def technician_sync_now(self) -> None:
        what = self.tr("tech.sync_now")
        worker = self.sync_worker
        if worker is None or not worker.is_alive() or worker.notify(force=True) is False:
            # A worker the server refused has ended (or is ending, and did not hear it); "sync
            # now" starts a new one (the refusal may be mended on the server), which says
            # again if it is still refused.
            if not self._new_worker():
                self._tech_say(self.tr("tech.unavailable"))
                return
        self._tech_say(self.tr("tech.requested", what=what))

    def _new_worker(self, leave: tuple[str, Callable[[], bool]] | None = None) -> bool:
        """Start a new sync worker in place of one that ended (or none); False without one.

        ``leave``: (a moved-aside database, whether the retired worker still sends it): the
        new worker sends the databases moved aside too (sync/moved_aside.py), but not that
        one while the retired worker does, which would be the same work twice."""
        if self.make_worker is None:
            return False
        worker = self.make_worker()
        if worker is None:
            return False
        if leave is not None and hasattr(worker, "leave_moved"):
            worker.leave_moved(*leave)
        self.sync_worker = worker
        self._start_sync()
        return True

    def _in_background(self, what: str, job: Callable[[], tuple[bool, str]],
                       then: Callable[[bool], None] | None = None) -> None:
        """Run a technician action off the UI thread; the panel says how it ended, and does
        not time out while it runs (an export of a large database takes minutes)."""
        def run() -> None:
            try:
                ok, detail = job()
            except Exception as exc:
                log.exception("%s failed", what)
                ok, detail = False, str(exc)

            def done(dt: float) -> None:
                self._tech_busy -= 1
                self.technician_touched()   # time to read how it ended
                key = "tech.done" if ok else "tech.failed"
                self._tech_say(self.tr(key, what=f"{what} {detail}".strip()))
                if then is not None:
                    then(ok)

            Clock.schedule_once(done, 0)

        self._tech_say(self.tr("tech.requested", what=what))
        self._tech_busy += 1
        threading.Thread(target=run, name=f"kiosk-{what}", daemon=True).start()

    def technician_enrol(self, url: str, code: str) -> None:
        """Enrol this kiosk in the background; a tap while an enrolment runs is ignored.

        A double tap sent two enrolments with the same code and two keys: one was accepted
        and saved its key, the other got 410 code_used, and when that one ended last the
        panel said "this code was already used" of a kiosk that was enrolled."""
        if self.on_enrol is None:
            self._tech_say(self.tr("tech.unavailable"))
            return
        if self.enrolling:
            log.info("enrolment already running: tap ignored")
            return
        url, code = url.strip(), code.strip()

        def enrol() -> tuple[bool, str]:
            ok, detail, problem = self.on_enrol(url, code)
            if problem in ENROL_PROBLEMS:   # said in the panel's language; the rest as given
                detail = self.tr(f"tech.enrol_{problem}", url=url)
            return ok, detail

        def ended(ok: bool) -> None:
            self.enrolling = False
            self._enrolled(ok)

        self.enrolling = True
        try:
            self._in_background(self.tr("tech.enrol"), enrol, ended)
        except Exception:   # no thread to run it: the button works again
            self.enrolling = False
            raise

    def _enrolled(self, ok: bool) -> None:
        """After a successful enrolment: show the pulled config and start syncing at once."""
        if not ok:
            return
        self.apply_device_config()
        worker = self.sync_worker
        # A live worker signed with the old key, was refused and ended: it starts over with
        # the new one. One that is ending says so (False), and a new one takes over.
        if worker is None or not worker.is_alive() or worker.reload_credentials() is False:
            self._new_worker()

    def technician_export(self, path: str) -> None:
        path = path.strip()

        def recorded(ok: bool) -> None:
            if ok:
                self._record(C.EV_EXPORT, {"to": path})

        self._in_background(self.tr("tech.export"), lambda: self.on_export(path), recorded)

    def _export_default(self, path: str) -> tuple[bool, str]:
        """Export with the thread's own store instance (one connection per thread), then each
        database moved aside as corrupt beside it, each into its own folder: the old
        stream's thanked but unsent ratings stayed on the kiosk's disk. Signed with the
        device key; ok once the store's own export is written (what the panel says names
        each moved-aside database that was not)."""
        from . import export
        from .store import RatingStore

        problem = export.usb_folder_problem(path, self.store.path.parent)
        if problem:
            code, detail = problem
            log.info("export refused: %s", detail)
            return False, self.tr(f"tech.export_{code}", path=path)
        creds, unsigned_because = export.device_credentials(self.store.path.parent)
        store = RatingStore(self.store.path, check=False)
        try:
            folder = export.export_events(store, Path(path), app_version=__version__,
                                          credentials=creds, unsigned_because=unsigned_because)
            said = [str(folder)]
            said += [self._export_moved(moved, path, store, creds, unsigned_because)
                     for moved in export.moved_aside_files(self.store.path)]
        except OSError as exc:
            # the panel says it in its own language; the English detail is for the log
            log.error("export to %s failed: %s", path, exc)
            return False, self._export_problem(exc, path)
        finally:
            store.close()
        if creds is None:
            log.warning("the USB export is not signed: %s", unsigned_because)
            said.append(self.tr("tech.export_unsigned"))
        # a line of its own: the panel shows it first (kiosk/screens/technician.py)
        said.append(self.tr("tech.export_personal"))
        return True, "\n".join(said)

    def _export_moved(self, moved: Path, path: str, live: Any, creds: Any,
                      unsigned_because: str) -> str:
        """Export the moved-aside database ``moved`` as `kiosk export --db` does; what the
        panel says about it."""
        import json
        import sqlite3

        from . import export

        try:
            folder = export.export_moved_aside(
                moved, Path(path), app_version=__version__, credentials=creds,
                unsigned_because=unsigned_because, live_events=live.iter_events)
        except (StoreError, sqlite3.DatabaseError) as exc:   # nothing readable, or no ids
            log.error("the moved-aside database %s was not exported: %s", moved, exc)
            return self.tr("tech.export_moved_unreadable", file=moved.name)
        except OSError as exc:
            log.error("export of %s to %s failed: %s", moved, path, exc)
            return self.tr("tech.export_moved_failed", file=moved.name,
                           problem=self._export_problem(exc, path))
        count = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["count"]
        return self.tr("tech.export_moved", file=moved.name, count=count, folder=folder.name)

    def _export_problem(self, exc: OSError, path: str) -> str:
        """What the technician panel says about a failed USB export (it showed
        "[Errno 28] No space left on device" in English on the Chinese panel)."""
        code = {errno.ENOSPC: "full", errno.EDQUOT: "full", errno.EROFS: "read_only",
                errno.EACCES: "no_permission", errno.EPERM: "no_permission",
                errno.ENOENT: "not_mounted", errno.ENOTDIR: "not_mounted",
                errno.ENODEV: "not_mounted", errno.ENXIO: "not_mounted",
                errno.EIO: "io_error"}.get(exc.errno)
        if code is None and isinstance(exc, FileNotFoundError):   # export_events' own check
            code = "not_mounted"
        if code is None:
            return self.tr("tech.export_error", error=errno.errorcode.get(exc.errno, type(exc).__name__))
        return self.tr(f"tech.export_{code}", path=path)

    def switch_language(self) -> None:
        self.change_setting("language", other_language(self.lang))

    def setting_value(self, name: str) -> Any:
        """The value in effect: the rating flow's for what it reads (a pulled server config may
        have set it), else config.yaml's with the technician's changes."""
        if name == "language":
            return self.lang
        field_ = CONFIG_FIELDS.get(name)
        return getattr(self.flow.settings, field_) if field_ else self.cfg.get(name)

    def server_settings(self) -> set[str]:
        """The technician settings the pulled server config sets: it has the last word on them
        (kiosk/local_settings.py), so the panel shows them as the server's and keeps no change."""
        try:
            body, _etag = self.store.device_config()
        except StoreError:
            log.exception("could not read the device config")
            return set()
        return local_settings.set_by_server(body)

    def step_setting(self, name: str, direction: int) -> None:
        """The − / + buttons of the technician panel: a step from the value shown (in effect),
        which an earlier server config may have set apart from config.yaml's."""
        step = local_settings.TECHNICIAN_SETTINGS.get(name) or 1
        self.change_setting(name, self.setting_value(name) + direction * step)

    def change_setting(self, name: str, value: Any) -> bool:
        """Validate, keep and apply one technician setting; the panel says what happened.

        A setting the server sets is refused: the next config pull or start would undo it."""
        from .screens.text import setting_text

        if name in self.server_settings():
            self._tech_say(self.tr("tech.setting_server", name=self.tr(f"setting.{name}")))
            return False
        old = self.setting_value(name)
        try:
            _before, new = local_settings.change(self.store, self.cfg, name, value)
        except ConfigError as exc:
            self._tech_say(self.tr("tech.setting_refused", detail=str(exc)))
            return False
        except StoreError:
            log.exception("could not keep the setting %s", name)
            self.show_problem()
            return False
        if name == "language":
            self.lang = new
            self.tr = Translator(new)
        elif name in CONFIG_FIELDS:
            self.flow.update(dataclasses.replace(self.flow.settings, **{CONFIG_FIELDS[name]: new}))
            self._sync_props()
        self.settings_version += 1
        self._tech_say(self.tr("tech.setting_saved", name=self.tr(f"setting.{name}"),
                               old=setting_text(name, old, self.tr), new=setting_text(name, new, self.tr)))
        return True

    def exit_to_desktop(self) -> None:
        self._allow_close = True
        self.stop()
