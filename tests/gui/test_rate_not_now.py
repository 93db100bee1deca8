"""The faces' "暂不评价" and the calm countdown of the faces and the follow-up form, in the
real window with real touches (found in review, 2026-12: the faces and the form went after
20 or 30 s without a sign, and a mistaken tap on "rate" could only be rated or waited out)."""

from __future__ import annotations

import time

from kiosk import constants as C

BADGE_WANG = "10000007"


def _rate_button(k):
    return k.app.root.get_screen("idle").ids.rate_button


def _countdown_text(k, screen_name, expected, wait=2.0):
    """The countdown's words once they say ``expected`` (the screen reads the flow's clock a
    few times a second, in real time), or what they said at the end."""
    words = k.app.root.get_screen(screen_name).ids.countdown.ids.words
    end = time.monotonic() + wait
    while words.text != expected and time.monotonic() < end:
        k.frames(1)
        time.sleep(0.02)
    return words.text


def test_not_now_in_open_mode_goes_back_to_idle_and_records_nothing(kiosk):
    k = kiosk
    before = len(k.events())
    k.tap(_rate_button(k))
    assert k.screen == "rate"
    k.clock.advance(1)
    k.tap(k.current().ids.not_now)
    assert k.screen == "idle"
    assert len(k.events()) == before                    # no rating, no "not rated"


def test_not_now_after_an_invitation_records_not_rated_and_no_rating(make_kiosk):
    k = make_kiosk(trigger__mode="invited")
    k.type_badge(BADGE_WANG)
    assert k.app.invite(case_no="A012")
    k.frames(2)
    assert k.screen == "rate"
    k.clock.advance(1)
    k.tap(k.current().ids.not_now)
    assert k.screen == "idle"
    not_rated, = k.events(C.EV_NOT_RATED)
    assert not_rated["payload"]["case_no"] == "A012"
    assert k.events(C.EV_RATING) == []


def test_the_faces_and_the_form_show_how_long_they_stay(kiosk):
    k = kiosk
    tr = k.app.tr
    k.tap(_rate_button(k))
    assert _countdown_text(k, "rate", tr("common.countdown", seconds=30)) == "30 秒后返回"
    k.after(10)
    assert _countdown_text(k, "rate", tr("common.countdown", seconds=20)) == "20 秒后返回"
    k.tap(k.face("dissatisfied"))
    assert k.screen == "follow_up"
    assert _countdown_text(k, "follow_up", tr("common.countdown", seconds=30)) == "30 秒后返回"
    k.after(12)
    assert _countdown_text(k, "follow_up", tr("common.countdown", seconds=18)) == "18 秒后返回"


def test_an_invitation_shows_its_own_timeout(make_kiosk):
    k = make_kiosk(trigger__mode="invited")
    k.type_badge(BADGE_WANG)
    assert k.app.invite(case_no="A012")
    k.frames(2)
    seconds = int(k.flow.settings.invite_timeout_seconds)
    expected = k.app.tr("common.countdown", seconds=seconds)
    assert _countdown_text(k, "rate", expected) == expected
