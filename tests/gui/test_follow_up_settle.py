"""A double tap on a bad face, upright: the second touch lands on the follow-up form.

Why it matters: on an upright screen the follow-up's callback consent line (600×1024) or a key
of its number pad (1080×1920, a "5") lies where the bad faces were, so the second tap of a
double tap ticked "I agree to a call back" or typed a digit nobody chose. The form now ignores
touches for ``flow.SETTLE_SECONDS`` after it appeared, as the faces do. Each size runs in a
child process (an offscreen window cannot change size once open), with real touches.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_CHILD = """
import json, sys, tempfile
from pathlib import Path
from kiosk.config import load_config
from kiosk.launch import configure_kivy
cfg = load_config(sys.argv[1])
cfg.display.voice, cfg.trigger.invite_port, cfg.display.fullscreen = False, 0, False
cfg.display.width, cfg.display.height = int(sys.argv[2]), int(sys.argv[3])
configure_kivy(cfg)
from kivy.base import EventLoop
from kivy.core.window import Window
from kivy.tests.common import UnitTestTouch
from kivy.uix.behaviors import ButtonBehavior
from kiosk.app import KioskApp
from kiosk.flow import SETTLE_SECONDS, FlowSettings, RatingFlow
from kiosk.store import RatingStore
EventLoop.ensure_window()
now = [0.0]
store = RatingStore(Path(tempfile.mkdtemp()) / "kiosk.db")
flow = RatingFlow(store, FlowSettings.from_config(cfg), cfg.roster, clock=lambda: now[0])
app = KioskApp(cfg, store, flow, invite_server=False)
root = app.build()
app.root = root
Window.add_widget(root)
app.dispatch("on_start")
def frames(n=4):
    for _ in range(n):
        EventLoop.idle()
def tap(x, y):
    touch = UnitTestTouch(x, y)
    touch.touch_down(); frames(1); touch.touch_up(); frames(2)
def form():
    fu = root.get_screen("follow_up")
    return {"consent": fu.consent, "phone": fu.phone, "chosen": list(flow.chosen)}
app.badge_entered(cfg.roster[0]["badge"])
frames()
out = {}
for level in ("dissatisfied", "very_dissatisfied"):
    app.start_rating(); now[0] += 1; frames()
    face = next(f for f in root.get_screen("rate").ids.faces.children if f.level == level)
    x, y = face.to_window(*face.center)
    tap(x, y)                                   # the first tap: the face
    fu = root.get_screen("follow_up")
    under = [type(w).__name__ for w in fu.walk()
             if isinstance(w, ButtonBehavior) and w.collide_point(*w.to_widget(x, y))]
    tap(x, y)                                   # the second tap, moments later
    second = form()
    now[0] += SETTLE_SECONDS                    # a person's moment to read the form
    tap(x, y)                                   # a deliberate touch on the same spot
    out[level] = {"screen": root.current, "under": under, "second": second, "later": form()}
    app.skip_follow_up(); now[0] += 60; frames(); app.tick(); frames()
print(json.dumps(out))
"""


def _run(tmp_path, width: int, height: int) -> dict:
    run = subprocess.run([sys.executable, "-c", _CHILD, os.path.join(REPO, "config.yaml"),
                          str(width), str(height)], capture_output=True, text=True, timeout=180,
                         cwd=REPO, env={**os.environ, "KIVY_NO_ARGS": "1",
                                        "SDL_VIDEODRIVER": "offscreen",
                                        "KIVY_HOME": str(tmp_path / "kivy-home")})
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


# What lies under each bad face upright, and what a deliberate touch there does.
UNDER = {
    (600, 1024): {"very_dissatisfied": ("CheckLine", {"consent": True})},
    (1080, 1920): {"dissatisfied": ("KButton", {"phone": "5"}),
                   "very_dissatisfied": ("CheckLine", {"consent": True})},
}


@pytest.mark.parametrize("size", list(UNDER))
def test_a_double_tap_on_a_bad_face_upright_ticks_and_types_nothing(tmp_path, size):
    out = _run(tmp_path, *size)
    for level, (under, later) in UNDER[size].items():
        r = out[level]
        assert r["screen"] == "follow_up"
        assert under in r["under"], "the test needs a control under the face to mean anything"
        assert r["second"] == {"consent": False, "phone": "", "chosen": []}, (size, level)
        # The same touch half a second later is a choice, and counts.
        assert {k: r["later"][k] for k in later} == later, (size, level)
