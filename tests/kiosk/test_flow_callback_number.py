"""The callback number of a follow-up: never dropped in silence, kept only with consent, and
kept when the form it was typed into times out (found in review, 2026-12)."""

from __future__ import annotations

import pytest

from kiosk import constants as C
from kiosk.errors import FlowError

from .test_flow import signed_in

PHONE = "13812341234"


def _follow_up(make_flow, **settings):
    flow = signed_in(make_flow, return_seconds=30, **settings)
    flow.start_rating()
    flow.rate("very_dissatisfied")
    assert flow.state == C.ST_FOLLOW_UP
    return flow


def test_a_number_sent_without_consent_is_refused_not_dropped(make_flow, store, events_of):
    # Typed, not ticked, 提交: the follow-up was stored with phone None and the citizen saw
    # "thanks", waiting for a call that could never come. The flow now refuses it, so the
    # form must ask; nothing is recorded until it has its answer.
    flow = _follow_up(make_flow)
    flow.toggle_reason("attitude")
    with pytest.raises(FlowError, match="consent"):
        flow.submit_follow_up(phone=PHONE, consent=False)
    assert flow.state == C.ST_FOLLOW_UP and flow.chosen == ["attitude"]
    assert events_of(store, C.EV_FOLLOW_UP) == []


def test_a_consented_number_left_to_time_out_is_kept(make_flow, store, clock, events_of):
    # Typed and ticked, never sent: the 30 s timeout recorded nothing, and the number the
    # citizen agreed to leave was lost. It is kept as an unfinished follow-up, as the chosen
    # reasons are.
    flow = _follow_up(make_flow)
    flow.toggle_reason("waiting_time")
    flow.set_callback(PHONE, True)
    clock.advance(31)
    assert flow.tick() == C.ST_IDLE
    (fu,) = events_of(store, C.EV_FOLLOW_UP)
    assert fu["payload"]["rating_id"] == events_of(store, C.EV_RATING)[0]["id"]
    assert {k: fu["payload"][k] for k in ("reasons", "phone", "callback_consent", "completed")} \
        == {"reasons": ["waiting_time"], "phone": PHONE, "callback_consent": True, "completed": False}


def test_a_consented_number_alone_is_kept_at_the_timeout(make_flow, store, clock, events_of):
    flow = _follow_up(make_flow)
    flow.set_callback(PHONE, True)
    clock.advance(31)
    flow.tick()
    (fu,) = events_of(store, C.EV_FOLLOW_UP)
    assert (fu["payload"]["reasons"], fu["payload"]["phone"]) == ([], PHONE)


@pytest.mark.parametrize("phone, consent", [(PHONE, False), ("1381", True), ("", True)])
def test_a_number_without_consent_or_too_short_is_not_kept_at_the_timeout(
        make_flow, store, clock, events_of, phone, consent):
    # Only a number the citizen agreed to leave, and one that can be a phone number: the
    # reasons chosen are kept, the number is not; with neither, nothing is recorded.
    flow = _follow_up(make_flow)
    flow.toggle_reason("attitude")
    flow.set_callback(phone, consent)
    clock.advance(31)
    flow.tick()
    (fu,) = events_of(store, C.EV_FOLLOW_UP)
    assert (fu["payload"]["reasons"], fu["payload"]["phone"], fu["payload"]["callback_consent"]) \
        == (["attitude"], None, False)

    flow.start_rating()
    clock.advance(1)
    flow.rate("dissatisfied")
    flow.set_callback(phone, consent)
    clock.advance(31)
    flow.tick()
    assert len(events_of(store, C.EV_FOLLOW_UP)) == (2 if phone == PHONE and consent else 1)


@pytest.mark.parametrize("leave", ["pause", "sign_out"])
def test_a_pause_or_sign_out_keeps_a_consented_number(make_flow, store, events_of, leave):
    # A pause ends the citizen's form as a timeout does: what they entered stays with it.
    flow = _follow_up(make_flow)
    flow.set_callback(PHONE, True)
    getattr(flow, leave)()
    (fu,) = events_of(store, C.EV_FOLLOW_UP)
    assert (fu["payload"]["phone"], fu["payload"]["completed"]) == (PHONE, False)


def test_the_next_citizens_form_holds_nothing_of_the_last(make_flow, store, clock, events_of):
    # The number of one citizen must never end up on the next citizen's rating.
    flow = _follow_up(make_flow)
    flow.set_callback(PHONE, True)
    assert flow.submit_follow_up(PHONE, True) == C.ST_THANKS
    clock.advance(20)
    flow.tick()
    flow.start_rating()
    clock.advance(1)
    flow.rate("very_dissatisfied")
    assert (flow.callback_phone, flow.callback_consent, flow.chosen) == ("", False, [])
    clock.advance(31)
    flow.tick()
    assert len(events_of(store, C.EV_FOLLOW_UP)) == 1


def test_the_form_cannot_set_a_number_when_no_follow_up_is_open(make_flow, store, clock, events_of):
    flow = _follow_up(make_flow)
    flow.skip_follow_up()
    flow.set_callback(PHONE, True)       # a late key press on the form as it goes
    assert (flow.callback_phone, flow.callback_consent) == ("", False)


@pytest.mark.parametrize("consent, kept", [(True, PHONE), (False, None)])
def test_skip_keeps_a_consented_number_as_the_timeout_does(make_flow, store, events_of, consent, kept):
    # Typed and ticked, then "跳过": the number the citizen agreed to leave was dropped, the
    # same silent loss as a number sent without the tick. Skip keeps what a walk-away keeps.
    flow = _follow_up(make_flow)
    flow.set_callback(PHONE, consent)
    assert flow.skip_follow_up() == C.ST_THANKS
    recorded = events_of(store, C.EV_FOLLOW_UP)
    assert [(e["payload"]["phone"], e["payload"]["completed"]) for e in recorded] == \
        ([(kept, False)] if kept else [])
