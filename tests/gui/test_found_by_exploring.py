"""Defects found by exploring the real kiosk window with real touches, each now a test.

Why they matter: a double tap on "rate" stored a very dissatisfied rating nobody chose; a
follow-up that could not be saved lost the citizen's reasons and consented number; a number
too short for any phone was dropped while the citizen expected a call back; a technician's
visit blanked the follow-up form while the flow still held the reasons; the staff panel
(pause, sign out) stayed open for anyone, and its four-digit PINs could be guessed without
limit; an export to an empty /media/usb wrote every phone number onto the kiosk's own disk
and said it was done.
"""

from __future__ import annotations

from kiosk import constants as C
from tests.gui.test_rating_gui import BADGE_WANG, _enter_tech_pin, _long_press_corner, _rate_button


def test_a_double_tap_on_rate_is_not_a_rating(kiosk):
    button = _rate_button(kiosk)
    x, y = button.to_window(*button.center)
    kiosk.tap_at(x, y)
    assert kiosk.screen == "rate"
    faces = kiosk.current().ids.faces.children
    under = [f for f in faces if f.collide_point(*f.to_widget(x, y))]
    assert under, "the test needs a face under the rate button to mean anything"
    kiosk.tap_at(x, y)                      # the double tap's second touch, on that face
    assert kiosk.screen == "rate" and kiosk.events(C.EV_RATING) == []
    kiosk.tap(kiosk.face("satisfied"))      # a real choice, a moment later
    assert [e["payload"]["level"] for e in kiosk.events(C.EV_RATING)] == ["satisfied"]


def _bad_rating_with_reason(k):
    k.tap(_rate_button(k))
    k.tap(k.face("very_dissatisfied"))
    assert k.screen == "follow_up"
    k.tap(k.chip("attitude"))
    return k.current()


def test_a_number_too_short_for_a_phone_is_said_not_dropped(kiosk):
    screen = _bad_rating_with_reason(kiosk)
    for digit in "1381":
        kiosk.tap(kiosk.keypad_digit(screen.ids.keypad, digit))
    kiosk.tap(screen.ids.consent)
    kiosk.tap(screen.ids.submit)
    assert kiosk.screen == "follow_up" and screen.too_short
    said = [w.text for w in screen.walk() if getattr(w, "text", "") == kiosk.app.tr(
        "follow_up.phone_short")]
    assert said
    assert kiosk.events(C.EV_FOLLOW_UP) == []
    for digit in "2341234":
        kiosk.tap(kiosk.keypad_digit(screen.ids.keypad, digit))
    assert not screen.too_short
    kiosk.tap(screen.ids.submit)
    assert kiosk.screen == "thanks"
    assert kiosk.events(C.EV_FOLLOW_UP)[0]["payload"]["phone"] == "13812341234"


def test_the_follow_up_form_is_as_it_was_after_a_technicians_visit(kiosk):
    screen = _bad_rating_with_reason(kiosk)
    for digit in "13812341234":
        kiosk.tap(kiosk.keypad_digit(screen.ids.keypad, digit))
    kiosk.tap(screen.ids.consent)
    _long_press_corner(kiosk)
    _enter_tech_pin(kiosk, "000000")
    kiosk.current().leave()
    kiosk.frames(2)
    assert kiosk.screen == "follow_up"
    assert kiosk.chip("attitude").state == "down" and screen.phone == "13812341234"
    assert screen.ids.consent.state == "down"
    kiosk.tap(screen.ids.submit)
    payload = kiosk.events(C.EV_FOLLOW_UP)[0]["payload"]
    assert payload["reasons"] == ["attitude"] and payload["phone"] == "13812341234"


def test_a_follow_up_that_could_not_be_saved_comes_back_with_what_was_entered(make_kiosk):
    from tests.gui.test_rating_gui import FailingStore

    k = make_kiosk(store_cls=FailingStore)
    k.type_badge(BADGE_WANG)
    screen = _bad_rating_with_reason(k)
    for digit in "13812341234":
        k.tap(k.keypad_digit(screen.ids.keypad, digit))
    k.tap(screen.ids.consent)
    k.store.fail = True
    k.tap(screen.ids.submit)
    assert k.screen == "retry"
    assert k.app.root.get_screen("retry").subtitle == k.app.tr("retry.subtitle_follow_up")
    k.after(k.flow.settings.thanks_seconds + 1)
    assert k.screen == "follow_up"
    assert k.chip("attitude").state == "down" and screen.phone == "13812341234"
    k.store.fail = False
    k.tap(screen.ids.submit)
    assert k.screen == "thanks"
    assert len(k.events(C.EV_RATING)) == 1
    assert k.events(C.EV_FOLLOW_UP)[0]["payload"]["phone"] == "13812341234"


def _open_staff_panel(k):
    idle = k.current()
    k.tap(next(w for w in idle.walk() if type(w).__name__ == "StaffButton"))
    return k.app._panel


def _verified_staff_panel(k):
    """The staff panel, opened and confirmed with the signed-in staff member's PIN."""
    panel = _open_staff_panel(k)
    for d in "1234":
        k.tap(k.keypad_digit(panel.pin_pane.ids.keypad, d))
    k.tap(panel.pin_pane.ids.confirm)
    assert panel.verified and panel.parent is not None
    return panel


def test_the_staff_panel_closes_when_left_alone(kiosk):
    panel = _verified_staff_panel(kiosk)
    kiosk.tech_clock.advance(kiosk.flow.settings.return_seconds - 1)
    kiosk.frames(3)
    assert panel.parent is not None
    kiosk.tech_clock.advance(2)
    kiosk.app.tick()
    kiosk.frames(3)
    assert panel.parent is None


def test_staff_pin_guessing_locks_like_the_technicians(kiosk):
    panel = _open_staff_panel(kiosk)
    tries = kiosk.app.cfg.technician.max_tries
    for _ in range(tries):
        for d in "9999":
            kiosk.tap(kiosk.keypad_digit(panel.pin_pane.ids.keypad, d))
        kiosk.tap(panel.pin_pane.ids.confirm)
    assert panel.message == kiosk.app.tr("staff.locked", seconds=int(
        kiosk.app.cfg.technician.lockout_seconds))
    for d in "1234":                                   # the right PIN, while locked
        kiosk.tap(kiosk.keypad_digit(panel.pin_pane.ids.keypad, d))
    kiosk.tap(panel.pin_pane.ids.confirm)
    assert not panel.verified
    kiosk.tech_clock.advance(kiosk.app.cfg.technician.lockout_seconds + 1)
    kiosk.app.tick()
    kiosk.frames(2)
    assert panel.parent is None           # it closed itself meanwhile, as it should
    panel = _open_staff_panel(kiosk)
    for d in "1234":
        kiosk.tap(kiosk.keypad_digit(panel.pin_pane.ids.keypad, d))
    kiosk.tap(panel.pin_pane.ids.confirm)
    assert panel.verified


def test_an_export_to_a_folder_on_the_kiosks_own_disk_is_refused(kiosk, tmp_path):
    from pathlib import Path

    (tmp_path / "media-usb").mkdir()
    expected = {"": "请填写U盘的目录", "relative/usb": "完整路径",
                str(tmp_path / "media-usb"): "在本机硬盘上"}   # in the panel's language
    for path, words in expected.items():
        ok, message = kiosk.app._export_default(path)
        assert not ok and words in message, (path, message)
    assert list((tmp_path / "media-usb").iterdir()) == []
    assert not any(Path.cwd().glob("kiosk-export-*"))


def test_the_idle_screen_shows_the_items_that_fit_and_says_how_many_more(make_kiosk):
    # Eight short items with the default pledge already pushed the pledge's title up out of
    # its card, under the header, at 1024×600; long names were cut on both sides.
    k = make_kiosk()
    roster = [dict(r) for r in k.app.cfg.roster]
    roster[0]["name"] = "阿卜杜热合曼·买买提明·艾尼瓦尔"
    items = [{"code": f"S{i}", "name": f"事项{i}号办理", "time_limit": "即办"} for i in range(1, 11)]
    k.store.apply_config({"window": {"id": "W-001"}, "roster": roster, "service_items": items},
                         "many", 1)
    k.app.apply_device_config()
    k.type_badge(BADGE_WANG)
    k.frames(6)
    idle = k.app.root.get_screen("idle")
    box = idle.ids.item_list
    column = box.parent
    for child in column.children:   # nothing above the card's top or below its bottom
        assert child.top <= column.top + 1 and child.y >= column.y - 1, child
    rows = list(reversed(box.children))
    more = rows[-1].name
    shown = len(rows) - 1
    assert 1 <= shown < 8 and more == k.app.tr("idle.more_items", n=10 - shown)
    name = next(w for w in idle.walk() if getattr(w, "text", "") == roster[0]["name"])
    # inside its label (smaller type and two lines before "…": test_idle_card_fit.py)
    assert name.texture_size[0] <= name.width + 1 and name.texture_size[1] <= name.height + 1
    # and the same after a rating, when the screen comes back
    k.tap(_rate_button(k))
    k.tap(k.face("satisfied"))
    k.after(k.flow.settings.lockout_seconds + 1)
    assert k.screen == "idle"
    k.frames(4)
    assert [r.name for r in reversed(box.children)] == [r.name for r in rows]


def test_the_pledge_on_the_idle_screen_never_starts_a_line_with_a_comma(kiosk):
    # Kivy breaks a run of Chinese wherever it overflows: at 34 of 79 widths one pledge put
    # "，" or "。" at the start of a line, which any Chinese reader sees as a misprint.
    from kiosk.screens.text import NO_LINE_START

    staff = kiosk.app.staff
    label = next(w for w in kiosk.current().walk()
                 if getattr(w, "text", None) == staff["pledge"])
    label.text = "为群众提供热情、周到、高效的服务，一次性告知所需材料，做到首问负责、限时办结。" \
                 "坚持“马上办、网上办、就近办、一次办”，让群众少跑腿。"
    label.max_lines = 0
    starts = []
    for width in range(150, 700, 7):
        label.text_size = (width, None)
        label.texture_update()
        lines = ["".join(w.text for w in line.words) for line in label._label._cached_lines]
        assert len(lines) > 1 and all(line.w <= width for line in label._label._cached_lines)
        starts += [(width, line) for line in lines[1:] if line[:1] in NO_LINE_START]
    assert starts == []
    # A pledge longer than its four lines ends in "…" (the lines past four vanished unmarked).
    label.max_lines, label.text_size = 4, (300, None)
    label.texture_update()
    lines = ["".join(w.text for w in line.words) for line in label._label._cached_lines]
    assert len(lines) == 4 and lines[-1].endswith("…"), lines


def test_staff_taken_off_the_roster_leave_the_screen_at_the_next_config_pull(kiosk):
    # A staff member the unit took off the roster stayed on the idle screen, with their photo,
    # name and pledge, until someone signed them out, and every rating named them.
    panel = _verified_staff_panel(kiosk)
    name = kiosk.app.staff["name"]
    others = [dict(r) for r in kiosk.app.cfg.roster if r["name"] != name]
    kiosk.store.apply_config({"window": {"id": "W-001"}, "roster": others}, "moved-away", 1)
    kiosk.app.apply_device_config()
    kiosk.frames(3)
    assert kiosk.screen == "paused" and panel.parent is None
    assert not any(getattr(w, "text", "") == name for w in kiosk.current().walk())
    assert kiosk.events(C.EV_STAFF_SIGN_OUT)[-1]["payload"]["reason"] == "removed_from_roster"
