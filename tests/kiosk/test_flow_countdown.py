"""What the faces and the follow-up form show of their timeout, and "暂不评价" (found in
review, 2026-12: the faces went after 20 or 30 s without a sign, and a mistaken tap on "rate"
had to be rated or waited out)."""

from __future__ import annotations

import pytest

from kiosk import constants as C
from kiosk.errors import FlowError
from kiosk.flow import SETTLE_SECONDS

from .test_flow import signed_in


def test_the_faces_count_down_from_the_open_timeout(make_flow, clock):
    flow = signed_in(make_flow, return_seconds=30)
    assert flow.countdown() is None                    # idle: nothing to count
    flow.start_rating()
    assert flow.countdown() == (30, 1.0)
    clock.advance(10.4)
    seconds, left = flow.countdown()
    assert seconds == 20 and left == pytest.approx(19.6 / 30)
    flow.touch()                                      # a touch restarts the open faces' time
    assert flow.countdown() == (30, 1.0)


def test_an_invitation_counts_down_from_its_own_timeout_and_a_touch_does_not_extend_it(make_flow, clock):
    # The DESIGN: no answer within the invitation's timeout is "not rated". The countdown
    # shows that time; touches elsewhere do not lengthen it.
    flow = signed_in(make_flow, mode=C.MODE_INVITED, invite_timeout_seconds=20, return_seconds=30)
    assert flow.invite(case_no="A012")
    assert flow.countdown() == (20, 1.0)
    clock.advance(5)
    flow.touch()
    assert flow.countdown() == (15, 0.75)
    clock.advance(15)
    assert flow.countdown() == (0, 0.0)
    assert flow.tick() == C.ST_IDLE and flow.countdown() is None


def test_the_follow_up_form_counts_down_and_a_choice_restarts_it(make_flow, clock):
    flow = signed_in(make_flow, return_seconds=30)
    flow.start_rating()
    clock.advance(1)
    flow.rate("dissatisfied")
    assert flow.countdown() == (30, 1.0)
    clock.advance(12)
    assert flow.countdown()[0] == 18
    flow.toggle_reason("attitude")
    assert flow.countdown() == (30, 1.0)
    flow.skip_follow_up()
    assert flow.state == C.ST_THANKS and flow.countdown() is None


def test_not_now_in_open_mode_goes_back_to_idle_and_records_nothing(make_flow, store, clock, events_of):
    flow = signed_in(make_flow)
    before = len(events_of(store))
    flow.start_rating()
    clock.advance(2)
    assert flow.not_now(touched=True) == C.ST_IDLE
    assert len(events_of(store)) == before            # no rating, no "not rated", nothing
    assert events_of(store, C.EV_RATING) == []


def test_not_now_after_an_invitation_records_not_rated_exactly_as_the_timeout(make_flow, store, clock,
                                                                            events_of):
    # "暂不评价" is the citizen saying what the timeout would have said: "not rated", never a
    # default rating. Both records must be the same, so the response rate counts them alike.
    flow = signed_in(make_flow, mode=C.MODE_INVITED, invite_timeout_seconds=20)
    assert flow.invite(case_no="A012", service_item="社会保障卡申领", source="http")
    clock.advance(3)
    assert flow.not_now(touched=True) == C.ST_IDLE
    assert flow.invite(case_no="A013", service_item="社会保障卡申领", source="http")
    clock.advance(21)
    assert flow.tick() == C.ST_IDLE
    by_button, by_timeout = events_of(store, C.EV_NOT_RATED)
    assert events_of(store, C.EV_RATING) == []

    def same(payload):
        return {k: v for k, v in payload.items() if k not in ("invitation_id", "case_no")}

    assert same(by_button["payload"]) == same(by_timeout["payload"])
    assert set(by_button["payload"]) == set(by_timeout["payload"])
    assert by_button["payload"]["case_no"] == "A012"
    # not rated: the case may be invited again
    assert flow.invite(case_no="A012", source="http")


def test_not_now_just_after_the_faces_appeared_is_ignored(make_flow, store, clock, events_of):
    # The second tap of a double tap on the idle screen's "rate" lands on the faces' screen:
    # it must not end the session it just opened.
    flow = signed_in(make_flow)
    flow.start_rating()
    clock.advance(SETTLE_SECONDS / 2)
    assert flow.not_now(touched=True) == C.ST_RATE
    clock.advance(SETTLE_SECONDS)
    assert flow.not_now(touched=True) == C.ST_IDLE


def test_not_now_is_refused_when_no_faces_are_shown(make_flow):
    flow = signed_in(make_flow)
    with pytest.raises(FlowError):
        flow.not_now()
