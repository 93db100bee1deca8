"""A citizen and a staff member at the real kiosk window: taps, keys, HTTP invitations."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from kiosk import constants as C

from .conftest import FailingStore

REPO = Path(__file__).resolve().parent.parent.parent

BADGE_WANG = "10000007"   # 王芳 in config.yaml, PIN 1234
BADGE_LI = "10000012"     # 李明, PIN 5678


def _rate_button(k):
    return k.app.root.get_screen("idle").ids.rate_button


def test_tap_on_each_face_records_that_level(kiosk):
    for level in C.LEVELS_5:
        kiosk.tap(_rate_button(kiosk))
        assert kiosk.screen == "rate"
        kiosk.tap(kiosk.face(level))
        if C.is_bad(level):
            assert kiosk.screen == "follow_up"
            kiosk.tap(kiosk.current().ids.skip)
        assert kiosk.screen == "thanks"
        kiosk.after(kiosk.flow.settings.lockout_seconds + 1)   # thanks ends, lockout passes
        assert kiosk.screen == "idle"
    ratings = kiosk.events(C.EV_RATING)
    assert [e["payload"]["level"] for e in ratings] == list(C.LEVELS_5)
    assert [e["payload"]["stars"] for e in ratings] == [5, 4, 3, 2, 1]
    assert all(e["payload"]["flags"] == [] for e in ratings)
    assert all(e["payload"]["staff_id"] == "S-0007" for e in ratings)


def test_four_level_scale_shows_four_faces_without_the_neutral_one(make_kiosk):
    k = make_kiosk(scale__levels=4)
    k.type_badge(BADGE_WANG)
    k.tap(_rate_button(k))
    levels = [f.level for f in reversed(k.current().ids.faces.children)]
    assert levels == list(C.LEVELS_4)


def test_bad_rating_opens_follow_up_and_submit_refers_to_the_rating(kiosk):
    kiosk.tap(_rate_button(kiosk))
    kiosk.tap(kiosk.face("very_dissatisfied"))
    assert kiosk.screen == "follow_up"
    screen = kiosk.current()
    shown = {c.code for c in screen.ids.chips.children}
    assert shown == set(C.REASONS["very_dissatisfied"])

    kiosk.tap(kiosk.chip("attitude"))
    kiosk.tap(kiosk.chip("waiting_time"))
    kiosk.tap(kiosk.chip("attitude"))            # a second tap takes it back
    assert kiosk.chip("attitude").state == "normal"
    assert kiosk.chip("waiting_time").state == "down"

    for digit in "13812341234":
        kiosk.tap(kiosk.keypad_digit(screen.ids.keypad, digit))
    assert screen.ids.phone_display.text == "138****1234"   # masked for people standing by
    kiosk.tap(screen.ids.consent)
    kiosk.tap(screen.ids.submit)
    assert kiosk.screen == "thanks"

    rating, = kiosk.events(C.EV_RATING)
    follow_up, = kiosk.events(C.EV_FOLLOW_UP)
    assert rating["payload"]["level"] == "very_dissatisfied"
    assert follow_up["payload"]["rating_id"] == rating["id"]
    assert follow_up["payload"]["reasons"] == ["waiting_time"]
    assert follow_up["payload"]["phone"] == "13812341234"
    assert follow_up["payload"]["callback_consent"] is True
    assert follow_up["payload"]["completed"] is True


def test_phone_without_consent_is_not_kept_once_the_citizen_says_no(kiosk):
    # Sent without the tick, the number is not dropped in silence: the form asks first
    # (tests/gui/test_follow_up_consent.py), and "no" sends the form without it.
    kiosk.tap(_rate_button(kiosk))
    kiosk.tap(kiosk.face("dissatisfied"))
    screen = kiosk.current()
    for digit in "13900001111":
        kiosk.tap(kiosk.keypad_digit(screen.ids.keypad, digit))
    kiosk.tap(screen.ids.submit)
    assert kiosk.screen == "follow_up" and kiosk.events(C.EV_FOLLOW_UP) == []
    kiosk.tap(screen._question.ids.no)
    assert kiosk.screen == "thanks"
    follow_up, = kiosk.events(C.EV_FOLLOW_UP)
    assert follow_up["payload"]["phone"] is None
    assert follow_up["payload"]["callback_consent"] is False


def test_follow_up_qr_code_links_to_this_rating(kiosk):
    kiosk.tap(_rate_button(kiosk))
    kiosk.tap(kiosk.face("very_dissatisfied"))
    rating, = kiosk.events(C.EV_RATING)
    url = kiosk.current().qr_data
    assert url.startswith("https://pj.example.gov.cn/r/W-001?t=")
    assert rating["id"] in url


def test_second_tap_within_lockout_is_recorded_and_flagged(kiosk):
    kiosk.tap(_rate_button(kiosk))
    kiosk.tap(kiosk.face("satisfied"))
    assert kiosk.screen == "thanks"
    kiosk.after(kiosk.flow.settings.thanks_seconds + 0.5)     # back to idle, still inside the lockout
    assert kiosk.screen == "idle"
    kiosk.tap(_rate_button(kiosk))
    kiosk.tap(kiosk.face("very_satisfied"))
    assert kiosk.screen == "thanks"                            # the citizen sees no difference
    first, second = kiosk.events(C.EV_RATING)
    assert first["payload"]["flags"] == []
    assert second["payload"]["level"] == "very_satisfied"
    assert C.FLAG_LOCKOUT in second["payload"]["flags"]


def test_thanks_returns_to_idle_after_thanks_seconds(kiosk):
    kiosk.tap(_rate_button(kiosk))
    kiosk.tap(kiosk.face("satisfied"))
    kiosk.after(kiosk.flow.settings.thanks_seconds - 1)
    assert kiosk.screen == "thanks"
    kiosk.after(1.5)
    assert kiosk.screen == "idle"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post_while_running(k, url: str, body: dict) -> tuple[int, dict]:
    """POST from another thread while the UI thread keeps drawing frames (as in real life)."""
    answer: list = []

    def post() -> None:
        req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                answer.append((resp.status, json.loads(resp.read())))
        except urllib.error.HTTPError as exc:
            answer.append((exc.code, json.loads(exc.read())))

    thread = threading.Thread(target=post)
    thread.start()
    for _ in range(2000):
        if answer:
            break
        k.frames(1)
        thread.join(0.005)
    thread.join(10)
    return answer[0]


def test_invited_mode_shows_no_faces_until_invited_over_http(make_kiosk):
    port = _free_port()
    k = make_kiosk(trigger__mode="invited", trigger__invite_port=port)
    k.type_badge(BADGE_WANG)
    assert k.screen == "idle"
    button = _rate_button(k)
    assert button.opacity == 0 and button.disabled
    k.tap(button)                                   # touching where the button would be: nothing
    assert k.screen == "idle"
    assert "rate" not in k.shown

    url = f"http://127.0.0.1:{port}/invite"
    status, body = _post_while_running(k, url, {"case_no": "2024-000123", "service_item": "社会保障卡申领"})
    assert (status, body) == (202, {"status": "accepted"})
    assert k.screen == "rate"
    status, body = _post_while_running(k, url, {"case_no": "2024-000124"})
    assert status == 409                            # one rating per invitation
    status, body = _post_while_running(k, url, {"case_no": 12})
    assert status == 400 and body["field"] == "case_no"

    k.tap(k.face("satisfied"))
    rating, = k.events(C.EV_RATING)
    invitation, = k.events(C.EV_INVITATION)
    assert rating["payload"]["case_no"] == "2024-000123"
    assert rating["payload"]["service_item"] == "社会保障卡申领"
    assert rating["payload"]["invitation_id"] == invitation["payload"]["invitation_id"]
    assert invitation["payload"]["source"] == "http"
    assert rating["payload"]["flags"] == []

    # The next citizen's invitation during this one's thank-you: taken (it was a 409, lost).
    assert k.screen == "thanks"
    status, body = _post_while_running(k, url, {"case_no": "2024-000125"})
    assert (status, k.screen) == (202, "rate")
    k.frames(2)                                     # a person needs more than no frame
    k.tap(k.face("very_satisfied"))
    assert k.events(C.EV_RATING)[-1]["payload"]["case_no"] == "2024-000125"


def test_invitation_without_answer_is_recorded_as_not_rated(make_kiosk):
    k = make_kiosk(trigger__mode="invited")
    k.type_badge(BADGE_WANG)
    k.key(k.app._invite_keycode)                     # the staff key (F12 in config.yaml)
    assert k.screen == "rate"
    k.after(k.flow.settings.invite_timeout_seconds + 1)
    assert k.screen == "idle"
    not_rated, = k.events(C.EV_NOT_RATED)
    assert not_rated["payload"]["case_no"] is None
    assert k.events(C.EV_RATING) == []               # never a default good rating


def test_typed_badge_signs_the_staff_member_in(make_kiosk):
    k = make_kiosk()
    assert k.screen == "paused"
    k.type_badge(BADGE_LI)
    assert k.screen == "idle"
    assert k.app.staff["name"] == "李明"
    sign_in, = k.events(C.EV_STAFF_SIGN_IN)
    assert sign_in["payload"] == {"staff_id": "S-0012", "staff_name": "李明", "method": "badge"}


def test_unknown_badge_leaves_the_window_paused(make_kiosk):
    k = make_kiosk()
    k.type_badge("99999999")
    assert k.screen == "paused"
    assert k.events(C.EV_STAFF_SIGN_IN) == []


def test_staff_signs_in_with_number_and_pin_on_the_keypad(make_kiosk):
    k = make_kiosk()
    paused = k.current()
    k.tap(next(w for w in paused.walk() if type(w).__name__ == "StaffButton"))
    panel = k.app._panel
    assert panel is not None and panel.parent is not None
    for d in "0012":
        k.tap(k.keypad_digit(panel.pin_pane.ids.keypad, d))
    k.tap(panel.pin_pane.ids.pin_field)
    for d in "5678":
        k.tap(k.keypad_digit(panel.pin_pane.ids.keypad, d))
    k.tap(panel.pin_pane.ids.confirm)
    assert k.screen == "idle"
    assert k.app.staff["staff_id"] == "S-0012"
    assert k.events(C.EV_STAFF_SIGN_IN)[0]["payload"]["method"] == "pin"


def test_staff_pauses_only_after_confirming_their_pin(kiosk):
    idle = kiosk.current()
    kiosk.tap(next(w for w in idle.walk() if type(w).__name__ == "StaffButton"))
    panel = kiosk.app._panel
    assert not panel.verified
    for d in "9999":                                   # a citizen guessing
        kiosk.tap(kiosk.keypad_digit(panel.pin_pane.ids.keypad, d))
    kiosk.tap(panel.pin_pane.ids.confirm)
    assert not panel.verified and panel.message
    for d in "1234":
        kiosk.tap(kiosk.keypad_digit(panel.pin_pane.ids.keypad, d))
    kiosk.tap(panel.pin_pane.ids.confirm)
    assert panel.verified
    kiosk.tap(panel.actions_pane.ids.pause)
    assert kiosk.screen == "paused"
    assert len(kiosk.events(C.EV_PAUSE)) == 1
    kiosk.type_badge(BADGE_WANG)                      # badge again: back to service
    assert kiosk.screen == "idle"
    # ... recorded as the end of the pause, not as a new shift (it was a second sign-in, and
    # a PIN had to be typed with the staff number as if nobody had been on duty)
    assert len(kiosk.events(C.EV_RESUME)) == 1 and len(kiosk.events(C.EV_STAFF_SIGN_IN)) == 1
    kiosk.app.staff_action("pause")
    kiosk.frames(2)
    paused = kiosk.current()
    kiosk.tap(next(w for w in paused.walk() if type(w).__name__ == "StaffButton"))
    assert (panel.staff_no, panel.field) == (kiosk.app.staff["staff_no"], "pin")
    for d in "1234":
        kiosk.tap(kiosk.keypad_digit(panel.pin_pane.ids.keypad, d))
    kiosk.tap(panel.pin_pane.ids.confirm)
    assert kiosk.screen == "idle"
    for _ in range(100):                              # the panel's closing animation
        if panel.parent is None:
            break
        kiosk.frames(1)
        time.sleep(0.01)
    assert panel.parent is None
    assert len(kiosk.events(C.EV_RESUME)) == 2 and len(kiosk.events(C.EV_STAFF_SIGN_IN)) == 1


def _long_press_corner(k, frames: int = 3) -> None:
    from kivy.core.window import Window

    k.tap_at(5, Window.height - 5, hold_frames=frames)


def _enter_tech_pin(k, pin: str) -> None:
    screen = k.app.root.get_screen("technician")
    for d in pin:
        k.tap(k.keypad_digit(screen.pin_pane.ids.pin_keypad, d))
    k.tap(screen.pin_pane.ids.pin_ok)


def test_long_press_in_corner_opens_technician_pin_entry(kiosk):
    _long_press_corner(kiosk)
    assert kiosk.screen == "technician"
    assert kiosk.current().stage == "pin"
    kiosk.current().leave()
    kiosk.frames(2)
    assert kiosk.screen == "idle"


def test_short_tap_in_corner_does_not_open_technician(make_kiosk):
    k = make_kiosk(app_kwargs={"long_press_seconds": 3600})
    _long_press_corner(k)
    assert k.screen == "paused"


def test_wrong_technician_pins_lock_out(make_kiosk):
    k = make_kiosk(technician__max_tries=3, technician__lockout_seconds=60)
    _long_press_corner(k)
    screen = k.current()
    for _ in range(3):
        _enter_tech_pin(k, "1111")
    assert screen.stage == "pin"
    assert "60" in screen.message                     # "locked, try again in 60 s"
    _enter_tech_pin(k, "000000")                      # the right PIN does not help while locked
    assert screen.stage == "pin"
    k.tech_clock.advance(61)
    _enter_tech_pin(k, "000000")
    assert screen.stage == "panel"
    logins = [e["payload"] for e in k.events(C.EV_TECH_LOGIN)]
    assert logins[-1] == {"ok": True}
    assert any(p.get("locked_seconds") == 60 for p in logins)
    rows = dict(k.app.diagnostics_rows())
    assert rows[k.app.tr("tech.device_id")] == k.store.device_id


def test_technician_language_switch_updates_screens_live(make_kiosk):
    k = make_kiosk()
    title = next(w for w in k.current().walk() if getattr(w, "text", None) == "暂停服务")
    _long_press_corner(k)
    _enter_tech_pin(k, "000000")
    k.tap(k.current().panel_pane.ids.language)
    assert k.app.lang == "en"
    assert title.text == "Window paused"


def test_docked_keyboard_does_not_cover_the_focused_field(make_kiosk):
    # Kiosks have no keyboard: `kiosk run` docks Kivy's on-screen keyboard at the bottom. On a
    # 600 px screen it covered the technician's USB path field, so the technician typed blind.
    # The app now moves up while the field has the focus; the keyboard stays whole at the bottom.
    from kivy.config import Config
    from kivy.core.window import Window

    k = make_kiosk()
    _long_press_corner(k)
    _enter_tech_pin(k, "000000")
    saved = (Config.get("kivy", "keyboard_mode"), Window.use_syskeyboard,
             Window.allow_vkeyboard, Window.single_vkeyboard, Window.docked_vkeyboard)
    Config.set("kivy", "keyboard_mode", "systemanddock")  # what kiosk.launch configures
    Window.use_syskeyboard = Window.allow_vkeyboard = True
    Window.single_vkeyboard = Window.docked_vkeyboard = True
    field = k.current().panel_pane.ids.export_path
    assert field.to_window(field.x, field.y)[1] < Window.height / 2  # low on the screen
    try:
        field.focus = True
        k.frames(3)
        keyboard = next(w for w in Window.children if type(w).__name__ == "VKeyboard")
        keyboard_top = keyboard.y + keyboard.height * keyboard.scale
        assert keyboard.y == 0 and keyboard_top < Window.height / 2 + 100  # whole, docked
        assert field.to_window(field.x, field.y)[1] >= keyboard_top  # the field shows above it
        assert field.to_window(field.x, field.top)[1] <= Window.height
        field.focus = False
        k.frames(3)
        assert k.app.root.y == 0  # back in place once the keyboard goes
    finally:
        field.focus = False
        k.frames(2)
        Config.set("kivy", "keyboard_mode", saved[0])
        (Window.use_syskeyboard, Window.allow_vkeyboard, Window.single_vkeyboard,
         Window.docked_vkeyboard) = saved[1:]


def test_technician_changes_lockout_and_mode_with_validation(make_kiosk):
    from kiosk import local_settings

    k = make_kiosk()
    _long_press_corner(k)
    _enter_tech_pin(k, "000000")
    pane = k.current().panel_pane
    stepper = pane.ids.lockout
    plus = next(w for w in stepper.children if getattr(w, "text", None) == "＋")
    minus = next(w for w in stepper.children if getattr(w, "text", None) == "－")
    k.tap(plus)
    assert k.flow.settings.lockout_seconds == 15 and stepper.value == "15"
    for _ in range(4):
        k.tap(minus)                                   # 10, 5, 0, then -5 is refused
    assert k.flow.settings.lockout_seconds == 0
    assert "at least 0" in k.current().message
    k.tap(pane.ids.mode_toggle)
    assert k.flow.settings.mode == C.MODE_INVITED
    changes = [e["payload"] for e in k.events(C.EV_SETTINGS_CHANGED)]
    assert changes[0] == {"name": "trigger.lockout_seconds", "old": 10, "new": 15}
    assert changes[-1] == {"name": "trigger.mode", "old": "open", "new": "invited"}
    # Kept in the kiosk database: the next start lays them over config.yaml.
    from kiosk.config import load_config
    cfg = load_config(REPO / "config.yaml")
    assert local_settings.apply(cfg, k.store) == {"trigger.lockout_seconds": 0, "trigger.mode": "invited"}
    assert (cfg.trigger.lockout_seconds, cfg.trigger.mode) == (0, "invited")


def test_failed_commit_shows_retry_and_never_thanks(make_kiosk):
    k = make_kiosk(store_cls=FailingStore)
    k.type_badge(BADGE_WANG)
    k.tap(_rate_button(k))
    k.store.fail = True
    k.tap(k.face("very_satisfied"))
    assert k.screen == "retry"
    assert "thanks" not in k.shown
    assert k.events(C.EV_RATING) == []
    assert k.app.status_text                          # a calm status line, no traceback
    k.after(k.flow.settings.thanks_seconds + 1)
    assert k.screen == "rate"                         # the faces again, as the screen asks
    k.after(k.flow.settings.return_seconds + 1)
    assert k.screen == "idle"
    assert "thanks" not in k.shown


def test_real_full_database_shows_retry(make_kiosk):
    k = make_kiosk()
    k.type_badge(BADGE_WANG)
    k.tap(_rate_button(k))
    pages = k.store.conn.execute("PRAGMA page_count").fetchone()[0]
    k.store.conn.execute(f"PRAGMA max_page_count = {pages}")
    big = "x" * 20000
    k.flow.settings.window_id = big                  # a payload that needs new pages
    k.tap(k.face("satisfied"))
    assert k.screen == "retry"
    assert "thanks" not in k.shown


def test_escape_and_window_close_are_ignored(kiosk):
    from kivy.core.window import Window

    kiosk.key(27)
    assert Window.dispatch("on_request_close") is True
    assert kiosk.app.root.parent is Window
    assert kiosk.screen == "idle"


def test_an_exception_in_a_callback_does_not_end_the_app(kiosk):
    from kivy.base import ExceptionManager

    assert ExceptionManager.handle_exception(RuntimeError("boom")) == ExceptionManager.PASS
    kiosk.frames(2)
    assert kiosk.app.status_text == kiosk.app.tr("common.status_problem")


def test_voice_prompt_is_silent_and_harmless_without_audio():
    from kiosk.voice import VoicePrompt

    voice = VoicePrompt(True)
    voice.play("rate", "zh_CN")          # may or may not sound; must not raise
    voice.play("no_such_prompt", "en")
    assert VoicePrompt(False).play("rate", "zh_CN") is False
