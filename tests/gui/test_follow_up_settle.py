"""A double tap on a bad face, upright: the second touch lands on the follow-up form.

Why it matters: on an upright screen the follow-up's callback consent line (600×1024) or a key
of its number pad (1080×1920, a "5") lies where the bad faces were, so the second tap of a
double tap ticked "I agree to a call back" or typed a digit nobody chose. The form now ignores
touches for ``flow.SETTLE_SECONDS`` after it appeared, as the faces do. Each size runs in a
child process (an offscreen window cannot change size once open), with real touches.
"""

from __future__ import annotations

import pytest

from tests.gui.child import APP, run_child

_CHILD = APP + """
from kivy.tests.common import UnitTestTouch
from kivy.uix.behaviors import ButtonBehavior
from kiosk.flow import SETTLE_SECONDS
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
    return run_child(_CHILD, tmp_path, width, height)


# What lies under each bad face upright, and what a deliberate touch there does (the key
# under 不满意 at 1080×1920 became the "8" when the form's QR code moved beside the reasons).
UNDER = {
    (600, 1024): {"very_dissatisfied": ("CheckLine", {"consent": True})},
    (1080, 1920): {"dissatisfied": ("KButton", {"phone": "8"}),
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
