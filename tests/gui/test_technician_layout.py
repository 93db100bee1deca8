"""The technician panel at 1024×600 as a technician uses it: an export's result read whole,
the touch test's buttons, finger-sized setting buttons (a reviewer's walk, #2, #7)."""

from __future__ import annotations

import time
from pathlib import Path

from tests.gui.test_layout_edge_cases import _open_panel

FOLDER = "/media/usb/kiosk-export-2d86c1d3-0b3e-4ed8-9477-8716b34b61bd-20261205T070102"



def _lines(label) -> list[str]:
    label.texture_update()
    return ["".join(w.text for w in line.words) for line in label._label._cached_lines]


def _in_window(widget) -> bool:
    from kivy.core.window import Window

    x, y = widget.to_window(widget.x, widget.y)
    return x >= -1 and y >= -1 and x + widget.width <= Window.width + 1 and y + widget.height <= Window.height + 1


def test_an_export_result_is_shown_whole_with_the_personal_data_warning_first(kiosk, monkeypatch):
    # In English the result ran past the screen's bottom edge: the line saying the stick holds
    # citizens' phone numbers, the one the technician must act on, was never visible.
    import kiosk.export as export

    monkeypatch.setattr(export, "usb_folder_problem", lambda *a: None)   # a stick is mounted
    monkeypatch.setattr(export, "export_events", lambda *a, **kw: Path(FOLDER))
    monkeypatch.setattr(export, "moved_aside_files", lambda *a: [])
    monkeypatch.setattr(export, "device_credentials", lambda *a: (None, "not enrolled"))
    kiosk.app.switch_language()
    screen = _open_panel(kiosk)
    kiosk.tap(next(w for w in screen.panel_pane.walk() if getattr(w, "text", None) == kiosk.app.tr("tech.export")
                   and hasattr(w, "bg_color")))
    warning = kiosk.app.tr("tech.export_personal")
    deadline = time.monotonic() + 20
    while warning not in screen.message and time.monotonic() < deadline:
        time.sleep(0.05)
        kiosk.frames(1)
    kiosk.frames(4)
    assert screen.message.split("\n")[0] == warning            # first in the panel
    dialog = screen.result
    assert dialog is not None and dialog.parent is not None   # and open over it, whole
    ids = dialog.ids
    assert ids.warning.text == warning and ids.warning.y > ids.scroll.top - 1   # above the rest
    for part in (ids.box, ids.warning, ids.scroll, ids.ok):
        assert _in_window(part), part
    assert ids.ok.height >= 48
    body = ids.body
    shown = _lines(body)
    assert "".join(shown).replace(" ", "") == body.text.replace("\n", "").replace(" ", "")   # nothing cut
    assert all(body._label.get_extents(line)[0] <= body.text_size[0] + 1 for line in shown)
    assert body.height <= ids.scroll.height + 1 or ids.scroll.do_scroll_y   # the rest scrolls
    assert FOLDER.replace("/", "") in "".join(shown).replace("/", "")
    kiosk.tap(ids.ok)
    assert dialog.parent is None and screen.result is None


def test_a_folder_name_breaks_after_a_slash_or_a_dash():
    # Kivy treats a folder name as one word and cut it anywhere ("…b34b61\nbd-2026…"), or let
    # it run past the panel's edge.
    from kiosk.screens.technician import wrap_lines

    lines = wrap_lines("Done: " + FOLDER, 30, len).split("\n")
    assert all(len(line) <= 30 for line in lines)
    assert all(line.endswith(("/", "-", ":")) for line in lines[:-1]), lines
    assert "".join(lines).replace(" ", "") == ("Done: " + FOLDER).replace(" ", "")


def test_the_touch_test_has_its_own_end_button_and_counts_touches(kiosk):
    # Two buttons both said "返回服务" and did different things (back to the panel; out of
    # maintenance), and the hint said tap "返回", which neither said.
    from kiosk.screens.common import KButton

    screen = _open_panel(kiosk)
    leave = next(w for w in screen.walk() if getattr(w, "text", None) == kiosk.app.tr("tech.back"))
    kiosk.tap(next(w for w in screen.panel_pane.walk() if getattr(w, "text", None) == kiosk.app.tr("tech.touch_test")))
    assert screen.stage == "touch"
    area = screen.touch_pane
    end = next(w for w in area.walk() if isinstance(w, KButton))
    hint = kiosk.app.tr("tech.touch_test_hint")
    assert end.text != leave.text
    assert end.text in hint and leave.text not in hint
    for x, y in ((300, 300), (500, 200), (700, 350)):
        kiosk.tap_at(x, y)
    assert area.touches == 3 and kiosk.app.tr("tech.touch_count", n=3) in [getattr(w, "text", None) for w in area.walk()]
    kiosk.tap(end)
    assert screen.stage == "panel" and kiosk.screen == "technician"
    kiosk.tap(next(w for w in screen.panel_pane.walk() if getattr(w, "text", None) == kiosk.app.tr("tech.touch_test")))
    assert area.touches == 0   # a new test starts from none
    kiosk.tap(leave)
    assert kiosk.screen != "technician"


def test_the_setting_buttons_are_finger_sized_and_apart(kiosk):
    # The − / + buttons were 44×34 px stacked without a gap, the mode toggle 34 px tall:
    # a finger hit the row above or below.
    screen = _open_panel(kiosk)
    ids = screen.panel_pane.ids
    buttons = [ids.mode_toggle] + [b for row in (ids.lockout, ids.invite_timeout, ids.return_seconds)
                                   for b in row.children if b.text in ("－", "＋")]
    assert len(buttons) == 7
    for b in buttons:
        assert b.width >= 48 and b.height >= 48, (b.text, b.size)
    minus = sorted((b for b in buttons if b.text == "－"), key=lambda b: -b.to_window(*b.pos)[1])
    for upper, lower in zip(minus, minus[1:]):
        gap = upper.to_window(*upper.pos)[1] - (lower.to_window(*lower.pos)[1] + lower.height)
        assert gap >= 6, gap


def test_an_open_result_dialog_closes_with_the_technician_screen(kiosk):
    # A dialog is drawn over the whole window: left open, it would stay over the idle screen
    # (folder names and all) after the panel timed out or the technician left.
    screen = _open_panel(kiosk)
    screen.say("\n".join([kiosk.app.tr("tech.done", what=FOLDER), kiosk.app.tr("tech.export_personal")]))
    kiosk.frames(2)
    dialog = screen.result
    assert dialog is not None and dialog.parent is not None
    from kiosk.technician import TECH_PANEL_IDLE_SECONDS

    kiosk.tech_clock.advance(TECH_PANEL_IDLE_SECONDS + 1)   # nobody touches it
    kiosk.frames(4)
    assert kiosk.screen != "technician"
    assert dialog.parent is None and screen.result is None
