"""Fixtures for the kiosk's GUI tests: the real app widget tree in the real (offscreen) Kivy window.

The environment is set before anything imports Kivy: no argument parsing, an offscreen SDL
window, a throw-away KIVY_HOME. The window is 1024x600. Taps are ``UnitTestTouch`` events
dispatched through Kivy's event loop; frames are ``EventLoop.idle()``, so the app's Clock runs
for real, while the flow's and the technician lock's clocks are fake and moved by hand.
"""

from __future__ import annotations

import os
import tempfile

os.environ["KIVY_NO_ARGS"] = "1"
os.environ.setdefault("SDL_VIDEODRIVER", "offscreen")
os.environ.setdefault("KIVY_LOG_LEVEL", "warning")
os.environ.setdefault("KIVY_HOME", tempfile.mkdtemp(prefix="kivy-home-"))

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from kiosk.launch import kivy_environment  # noqa: E402

kivy_environment()   # Kivy's options as ``kiosk run`` sets them (its image providers)

from kivy.config import Config  # noqa: E402

Config.set("graphics", "width", "1024")
Config.set("graphics", "height", "600")

REPO = Path(__file__).resolve().parent.parent.parent
BADGE_WANG = "10000007"     # 王芳 in config.yaml, PIN 1234
BADGE_LI = "10000012"       # 李明, PIN 5678


class FakeClock:
    """A monotonic clock the test moves by hand, so timeouts need no sleeping."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Kiosk:
    """The running app plus what a test needs to drive it like a person would."""

    def __init__(self, app, store, flow, clock, tech_clock) -> None:
        self.app, self.store, self.flow = app, store, flow
        self.clock, self.tech_clock = clock, tech_clock
        self.shown: list[str] = []   # every screen that became current, in order
        app.root.bind(current=lambda _root, name: self.shown.append(name))

    # ------------------------------------------------------------ driving
    def frames(self, n: int = 2) -> None:
        from kivy.base import EventLoop

        for _ in range(n):
            EventLoop.idle()

    @property
    def screen(self) -> str:
        return self.app.root.current

    def current(self):
        return self.app.root.current_screen

    def tap(self, widget, hold_frames: int = 0) -> None:
        """Touch the centre of ``widget`` with a finger and lift it. On a follow-up form that
        has just appeared, a person's moment to read it passes first (a touch sooner is the
        tail of the tap on the face and is ignored: ``flow.settling``); ``tap_at`` is the
        finger without it."""
        from kivy.tests.common import UnitTestTouch

        from kiosk.flow import SETTLE_SECONDS

        if self.flow.settling():
            self.clock.advance(SETTLE_SECONDS)
        x, y = widget.to_window(*widget.center)
        touch = UnitTestTouch(x, y)
        touch.touch_down()
        self.frames(hold_frames or 1)
        touch.touch_up()
        self.frames(2)

    def tap_at(self, x: float, y: float, hold_frames: int = 1) -> None:
        from kivy.tests.common import UnitTestTouch

        touch = UnitTestTouch(x, y)
        touch.touch_down()
        self.frames(hold_frames)
        touch.touch_up()
        self.frames(2)

    def key(self, key: int, codepoint: str | None = None) -> None:
        """A key as SDL2 delivers it: on_key_down, then on_keyboard unless consumed."""
        from kivy.core.window import Window

        if not Window.dispatch("on_key_down", key, 0, codepoint, []):
            Window.dispatch("on_keyboard", key, 0, codepoint, [])
        Window.dispatch("on_key_up", key, 0)
        self.frames(1)

    def type_badge(self, badge: str) -> None:
        for ch in badge:
            self.key(ord(ch), ch)
        self.key(13, "\r")

    def face(self, level: str):
        """The face of ``level``, once the moment a person takes to choose it has passed
        (a press sooner after the faces appeared is ignored: ``flow.SETTLE_SECONDS``)."""
        from kiosk.flow import SETTLE_SECONDS

        self.clock.advance(SETTLE_SECONDS)
        faces = self.app.root.get_screen("rate").ids.faces.children
        return next(f for f in faces if f.level == level)

    def chip(self, code: str):
        chips = self.app.root.get_screen("follow_up").ids.chips.children
        return next(c for c in chips if c.code == code)

    def keypad_digit(self, keypad, digit: str):
        return next(b for b in keypad.children if getattr(b, "text", None) == digit)

    def after(self, seconds: float) -> None:
        """Let ``seconds`` pass on the flow's clock and let the app's clock tick."""
        self.clock.advance(seconds)
        self.frames(3)

    def events(self, type_: str | None = None) -> list[dict]:
        return [e for e in self.store.iter_events() if type_ is None or e["type"] == type_]


def shown(app, clock: FakeClock, tech_clock: FakeClock) -> Kiosk:
    """``app`` built, in the window and started, a few frames drawn."""
    from kivy.core.window import Window

    root = app.build()
    app.root = root
    Window.add_widget(root)
    app.dispatch("on_start")
    kiosk = Kiosk(app, app.store, app.flow, clock, tech_clock)
    kiosk.frames(3)
    return kiosk


@pytest.fixture
def make_kiosk(tmp_path):
    """make_kiosk(**settings) → a running Kiosk; settings are dotted config names with '__'."""
    from kivy.base import EventLoop
    from kivy.core.window import Window

    from kiosk.app import KioskApp
    from kiosk.config import load_config
    from kiosk.flow import FlowSettings, RatingFlow
    from kiosk.store import RatingStore
    from kiosk.voice import VoicePrompt

    EventLoop.ensure_window()
    started: list[Kiosk] = []

    def make(store_cls=RatingStore, app_kwargs: dict | None = None, **settings) -> Kiosk:
        cfg = load_config(REPO / "config.yaml")
        cfg.display.voice = False
        cfg.trigger.invite_port = 0
        cfg.sync.qr_base_url = "https://pj.example.gov.cn"
        for name, value in settings.items():
            section, key = name.split("__")
            setattr(getattr(cfg, section), key, value)
        clock, tech_clock = FakeClock(), FakeClock()
        store = store_cls(tmp_path / f"kiosk-{len(started)}.db")
        flow = RatingFlow(store, FlowSettings.from_config(cfg), cfg.roster, clock=clock)
        kwargs = {"voice": VoicePrompt(False), "tech_clock": tech_clock, "tick_seconds": 0,
                  "long_press_seconds": 0, **(app_kwargs or {})}
        kiosk = shown(KioskApp(cfg, store, flow, **kwargs), clock, tech_clock)
        started.append(kiosk)
        return kiosk

    yield make

    for kiosk in started:
        app = kiosk.app
        if app._panel is not None:
            app._panel.dismiss(animation=False)
        Window.remove_widget(app.root)
        kiosk.frames(2)
        # on_stop last: kv's ``app`` (a proxy that keeps the app it first finds until that
        # app's on_stop) was taken up again by the frames after it, and the next test's kv
        # handlers (its technician panel's buttons) called this test's app.
        app.dispatch("on_stop")
        kiosk.store.close()


@pytest.fixture
def kiosk(make_kiosk):
    """An open-mode kiosk with 王芳 signed in, showing the idle screen."""
    k = make_kiosk()
    k.type_badge(BADGE_WANG)
    assert k.screen == "idle"
    return k


from kiosk.store import RatingStore as _RealStore  # noqa: E402  (after the Kivy environment)


class FailingStore(_RealStore):
    """The real store; while ``fail`` is set, ratings and follow-ups fail as on a full disk
    (as SQLite reports it)."""

    fail = False

    def record(self, type_, payload=None):
        from kiosk import constants as C
        from kiosk.errors import StoreFullError

        if self.fail and type_ in (C.EV_RATING, C.EV_FOLLOW_UP):
            raise StoreFullError(f"{self.path}: disk full while recording a {type_} event")
        return super().record(type_, payload)
