"""The rate and follow-up screens and the session behind them, in the real window, with real
touches (found in review, 2026-12): a tap that straddles an invitation's timeout is rated, a
technician's touches do not keep the last citizen's session alive, the faces rebuilt after a
technician's visit are the faces the flow takes, and every store failure shows the status line."""

from __future__ import annotations

import dataclasses

from kivy.tests.common import UnitTestTouch

from kiosk import constants as C

from .conftest import FailingStore

BADGE_WANG = "10000007"


def _rate_button(k):
    return k.app.root.get_screen("idle").ids.rate_button


def test_a_tap_lifted_just_after_the_invitation_timeout_is_rated(make_kiosk):
    # A face records on release and Kivy runs its clock before its input: a finger that
    # landed on 满意 0.1 s before the invitation's timeout and lifted 0.25 s later (a normal
    # tap) found the faces gone, and the citizen's rating was recorded as "not rated".
    k = make_kiosk(trigger__mode="invited")
    k.type_badge(BADGE_WANG)
    assert k.app.invite(case_no="A012")
    k.frames(2)
    face = k.face("satisfied")
    k.clock.advance(k.flow.settings.invite_timeout_seconds - 0.5 - 0.1)
    touch = UnitTestTouch(*face.to_window(*face.center))
    touch.touch_down()
    k.frames(1)
    k.clock.advance(0.25)
    k.frames(2)                                   # the app's clock ticks with the finger down
    assert k.screen == "rate"
    touch.touch_up()
    k.frames(2)
    assert k.screen == "thanks"
    assert [(e["payload"]["level"], e["payload"]["case_no"]) for e in k.events(C.EV_RATING)] \
        == [("satisfied", "A012")]
    assert k.events(C.EV_NOT_RATED) == []


def test_a_technicians_touches_do_not_keep_the_last_citizens_follow_up(make_kiosk):
    # Every touch on the technician screen restarted the follow-up's 30 s: after ten minutes
    # of panel work the old citizen's form came back, and the next person could add a phone
    # number to someone else's bad rating.
    k = make_kiosk()
    k.type_badge(BADGE_WANG)
    k.tap(_rate_button(k))
    k.tap(k.face("very_dissatisfied"))
    assert k.screen == "follow_up"
    k.app.open_technician()
    k.frames(2)
    for _ in range(20):                           # a touch every 25 s for eight minutes
        k.clock.advance(25)
        k.tech_clock.advance(25)
        k.tap_at(600, 300)
    assert k.flow.state == C.ST_IDLE and k.flow.pending_rating is None
    k.app.leave_technician()
    k.frames(2)
    assert k.screen == "idle"
    assert len(k.events(C.EV_RATING)) == 1        # the rating stands


def test_the_faces_after_a_scale_switch_in_a_technician_visit_are_those_the_flow_takes(make_kiosk):
    # The faces were rebuilt from the new scale while the flow took the old one: 基本满意 was
    # shown and did nothing when tapped (FlowError, logged and ignored), the "bad buttons do
    # nothing" failure the rules forbid.
    k = make_kiosk(scale__levels=4)
    k.type_badge(BADGE_WANG)
    k.tap(_rate_button(k))
    k.app.open_technician()
    k.frames(2)
    k.flow.update(dataclasses.replace(k.flow.settings, scale=5))   # a config pull meanwhile
    k.app.leave_technician()
    k.frames(2)
    assert k.screen == "rate"
    shown = [f.level for f in reversed(k.current().ids.faces.children)]
    assert shown == list(C.levels_for(4))
    k.tap(k.face("satisfied"))
    assert k.screen == "thanks"
    (rating,) = k.events(C.EV_RATING)
    assert (rating["payload"]["level"], rating["payload"]["scale"]) == ("satisfied", 4)


def test_a_second_store_failure_with_the_same_message_shows_the_status_line(make_kiosk):
    # The status line is shown when the flow's error changes; a commit that worked cleared
    # the line but not the error, so the same failure again showed nothing.
    k = make_kiosk(store_cls=FailingStore)
    k.type_badge(BADGE_WANG)
    k.tap(_rate_button(k))
    k.store.fail = True
    k.tap(k.face("very_satisfied"))
    assert k.screen == "retry" and k.app.status_text
    k.after(k.flow.settings.thanks_seconds + 1)   # back to the faces
    k.store.fail = False
    k.tap(k.face("very_satisfied"))
    assert k.screen == "thanks" and k.app.status_text == ""
    k.after(k.flow.settings.thanks_seconds + 1)
    k.after(k.flow.settings.lockout_seconds)
    k.tap(_rate_button(k))
    k.store.fail = True
    k.tap(k.face("very_satisfied"))
    assert k.screen == "retry"
    assert k.app.status_text == k.app.tr("common.status_problem")
