"""Child process of the soak scenario: the real kiosk app (offscreen Kivy window) with a real
sync worker, tapped continuously through its widgets for SECONDS.

Usage: python soak_child.py HOME SERVER_URL SECONDS
Prints "ready" when the idle screen shows, then "taps N" at the end. The parent samples this
process's resident memory and open file descriptors from /proc while it runs.
"""

import os
import random
import sys
import tempfile
import time
from pathlib import Path

os.environ["KIVY_NO_ARGS"] = "1"
os.environ.setdefault("SDL_VIDEODRIVER", "offscreen")
os.environ.setdefault("KIVY_LOG_LEVEL", "error")
os.environ.setdefault("KIVY_HOME", tempfile.mkdtemp(prefix="kivy-home-"))
REPO = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(REPO))

from kiosk.config import load_config  # noqa: E402
from kiosk.launch import configure_kivy  # noqa: E402

# The window as `kiosk run --windowed` makes it (size, no multisampling …), before it exists.
cfg = load_config(REPO / "config.yaml")
cfg.display.voice = False
cfg.display.fullscreen = False
cfg.trigger.invite_port = 0
configure_kivy(cfg)

from kivy.base import EventLoop  # noqa: E402
from kivy.core.window import Window  # noqa: E402
from kivy.tests.common import UnitTestTouch  # noqa: E402

from kiosk.app import KioskApp  # noqa: E402
from kiosk.flow import FlowSettings, RatingFlow  # noqa: E402
from kiosk.store import RatingStore  # noqa: E402
from kiosk.voice import VoicePrompt  # noqa: E402
from sync.backoff import Backoff  # noqa: E402
from sync.credentials import Credentials  # noqa: E402
from sync.worker import SyncWorker  # noqa: E402

home, server, seconds = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
LEVELS = [lv for lv in os.environ.get("SOAK_LEVELS", "").split(",") if lv]  # to narrow a leak


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def frames(n=1):
    for _ in range(n):
        EventLoop.idle()


def tap(widget):
    x, y = widget.to_window(*widget.center)
    t = UnitTestTouch(x, y)
    t.touch_down()
    frames()
    t.touch_up()
    frames(2)


EventLoop.ensure_window()
clock = Clock()
store = RatingStore(home / "kiosk.db")
creds = Credentials.load(home)
flow = RatingFlow(store, FlowSettings.from_config(cfg), cfg.roster, clock=clock)
worker = SyncWorker(home / "kiosk.db", creds, server_url=server, interval=2, timeout=10,
                    config_every=float(os.environ.get("SOAK_CONFIG_EVERY", "20")),
                    heartbeat_every=20, backoff=Backoff(base=0.5, cap=2))
app = KioskApp(cfg, store, flow, sync_worker=worker, voice=VoicePrompt(False), tick_seconds=0)
app.root = app.build()
Window.add_widget(app.root)
app.dispatch("on_start")
# the roster is the server's once its config is applied (the parent pulled it, as `kiosk
# enroll` does)
badge = next(s["badge"] for s in flow.roster if s.get("badge"))
if not flow.sign_in_badge(badge):
    sys.exit(f"could not sign in with badge {badge}")
app.show_state()
frames(3)
print("ready", flush=True)
rng = random.Random(5)
taps = 0
end = time.monotonic() + seconds
while time.monotonic() < end:
    if app.root.current != "idle":
        clock.now += 61
        flow.tick()
        app.show_state()
        frames(2)
        continue
    tap(app.root.get_screen("idle").ids.rate_button)
    if app.root.current != "rate":
        continue
    faces = [f for f in app.root.get_screen("rate").ids.faces.children
             if not LEVELS or f.level in LEVELS]
    clock.now += 1   # a person's moment to choose (a press sooner is ignored: SETTLE_SECONDS)
    tap(rng.choice(faces))
    taps += 1
    if app.root.current == "follow_up":
        tap(app.root.get_screen("follow_up").ids.skip)
    clock.now += 61
    flow.tick()
    frames(2)
app.dispatch("on_stop")
Window.remove_widget(app.root)
frames()
store.close()
print(f"taps {taps}", flush=True)
