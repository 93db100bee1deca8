"""When the technician screen closes by itself (kiosk/technician.py): plain Python, no window.

Why it matters: left on its PIN entry the window took no invitation and showed no faces for
ever; left unlocked, its USB export (every phone number), exit to desktop and rating mode were
open to anyone at the counter. An export still running must not be cut off.
"""

import pytest

from kiosk.technician import TECH_PANEL_IDLE_SECONDS, TECH_PIN_IDLE_SECONDS, technician_left_alone


@pytest.mark.parametrize("stage, limit", [("pin", TECH_PIN_IDLE_SECONDS),
                                          ("panel", TECH_PANEL_IDLE_SECONDS),
                                          ("touch", TECH_PANEL_IDLE_SECONDS)])
def test_the_technician_screen_closes_after_its_stages_time_alone(stage, limit):
    assert not technician_left_alone(stage, limit - 1, busy=False)
    assert technician_left_alone(stage, limit, busy=False)


def test_a_running_export_keeps_the_technician_screen_open():
    assert not technician_left_alone("panel", 10 * TECH_PANEL_IDLE_SECONDS, busy=True)
