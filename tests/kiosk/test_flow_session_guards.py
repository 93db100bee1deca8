"""Rules of the rating session found missing in review (2026-12), without a window, on the
real store: a finger on the faces holds an invitation's timeout, the open mode's lockout holds
against the staff key's invitations, staff taken off the roster start no new session, the
faces shown are the faces rated, a second identical store failure is shown again, and a
follow-up left with nothing chosen records nothing however it ends."""

from __future__ import annotations

import dataclasses

import pytest

from kiosk import constants as C
from kiosk.flow import TOUCH_HOLD_MAX_SECONDS, TOUCH_HOLD_SECONDS

from .conftest import FailingStore


def signed_in(make_flow, **settings):
    flow = make_flow(**settings)
    assert flow.sign_in_badge("10000001")
    return flow


# ------------------------------------------------ a finger on the faces
def test_a_tap_begun_before_the_invitation_timeout_and_lifted_after_it_is_rated(
        make_flow, store, clock, events_of):
    # A face records on release, and the app's clock runs before its input: a citizen whose
    # finger landed on 满意 0.1 s before the invitation's 20 s were up and lifted 0.25 s later
    # got "not rated" and lost their rating.
    flow = signed_in(make_flow, mode=C.MODE_INVITED, invite_timeout_seconds=20)
    assert flow.invite(case_no="A012", source="http")
    clock.advance(19.9)
    flow.finger_down("finger-1")
    clock.advance(0.25)
    assert flow.tick() == C.ST_RATE            # the timeout waits for the finger
    flow.finger_up("finger-1")
    assert flow.rate("satisfied", touched=True) == C.ST_THANKS
    assert [e["payload"]["case_no"] for e in events_of(store, C.EV_RATING)] == ["A012"]
    assert events_of(store, C.EV_NOT_RATED) == []


def test_a_finger_holds_the_invitation_only_briefly_past_its_lift(make_flow, store, clock,
                                                                  events_of):
    # The hold is not a new timeout: the invitation's 20 s stay a cap (one rating per
    # invitation, "not rated" when nobody answers), so a touch that lifted without choosing
    # a face leaves the invitation about a second, not another 20 s.
    flow = signed_in(make_flow, mode=C.MODE_INVITED, invite_timeout_seconds=20)
    assert flow.invite(case_no="A012", source="http")
    clock.advance(10)
    flow.finger_down(1)                        # a touch between the faces
    flow.finger_up(1)
    clock.advance(10)
    assert flow.tick() == C.ST_IDLE            # not extended by the touch: the cap holds
    assert len(events_of(store, C.EV_NOT_RATED)) == 1

    assert flow.invite(case_no="A013", source="http")
    clock.advance(19.5)
    flow.finger_down(2)
    clock.advance(1)
    assert flow.tick() == C.ST_RATE            # held while down
    flow.finger_up(2)
    clock.advance(TOUCH_HOLD_SECONDS - 0.1)
    assert flow.tick() == C.ST_RATE            # and a moment after the lift
    clock.advance(0.2)
    assert flow.tick() == C.ST_IDLE
    assert len(events_of(store, C.EV_NOT_RATED)) == 2


def test_a_stuck_touch_does_not_keep_an_invitation_open(make_flow, store, clock, events_of):
    # A resting palm or a touch panel's ghost touch that never lifts must not keep the
    # invitation open, and the window refusing the next one as busy, for ever.
    flow = signed_in(make_flow, mode=C.MODE_INVITED, invite_timeout_seconds=20)
    assert flow.invite(case_no="A012", source="http")
    clock.advance(19)
    flow.finger_down("ghost")
    for _ in range(int(TOUCH_HOLD_MAX_SECONDS * 2) + 4):
        clock.advance(0.5)
        flow.tick()
    assert flow.state == C.ST_IDLE
    assert len(events_of(store, C.EV_NOT_RATED)) == 1


# ----------------------------------------- lockout and the staff key
def test_the_staff_keys_invitation_in_open_mode_is_flagged_within_the_lockout(
        make_flow, store, clock, events_of):
    # Staff pressed the invite key during the thank-you and tapped 非常满意 themselves, again
    # and again: each invitation skipped the lockout, and every press was counted, unflagged.
    # Flagged, never dropped; the citizen (or the staff member) sees no difference.
    flow = signed_in(make_flow, mode=C.MODE_OPEN, lockout_seconds=10, burst_count=100)
    flow.start_rating()
    clock.advance(1)
    assert flow.rate("very_satisfied", touched=True) == C.ST_THANKS
    for _ in range(2):
        clock.advance(1)
        assert flow.invite(source="key") and flow.state == C.ST_RATE
        clock.advance(0.6)
        assert flow.rate("very_satisfied", touched=True) == C.ST_THANKS
    clock.advance(10)                          # past the lockout: the key's invitation counts
    assert flow.invite(source="key")
    clock.advance(1)
    flow.rate("satisfied", touched=True)
    flags = [e["payload"]["flags"] for e in events_of(store, C.EV_RATING)]
    assert flags == [[], [C.FLAG_LOCKOUT], [C.FLAG_LOCKOUT], []]


@pytest.mark.parametrize("case_no, source, flags", [
    ("C-7", "http", []),                       # the queue system's next citizen: one service
    (None, "http", [C.FLAG_LOCKOUT]),          # no case number: nothing says it is another
    ("C-7", "key", [C.FLAG_LOCKOUT]),          # not the queue system's
])
def test_only_the_queue_systems_case_invitation_is_exempt_from_the_lockout(
        make_flow, store, clock, events_of, case_no, source, flags):
    flow = signed_in(make_flow, mode=C.MODE_OPEN, lockout_seconds=10)
    flow.start_rating()
    flow.rate("satisfied")
    clock.advance(2)
    assert flow.invite(case_no=case_no, source=source)
    clock.advance(2)
    flow.rate("satisfied")
    assert events_of(store, C.EV_RATING)[1]["payload"]["flags"] == flags


def test_invited_mode_keeps_its_rules_for_the_staff_key(make_flow, store, clock, events_of):
    # Invited mode has no lockout: each invitation, the staff key's too, is one rating.
    flow = signed_in(make_flow, mode=C.MODE_INVITED, lockout_seconds=10)
    for _ in range(2):
        assert flow.invite(source="key")
        clock.advance(1)
        flow.rate("satisfied")
        clock.advance(1)
    assert [e["payload"]["flags"] for e in events_of(store, C.EV_RATING)] == [[], []]


# -------------------------------------------- staff off the roster
def test_an_invitation_after_the_staff_left_the_roster_signs_them_out_and_is_refused(
        make_flow, store, clock, roster, events_of):
    # The roster dropped the person on duty during a citizen's thank-you: the queue system's
    # next invitation was taken, and its rating named someone no longer at this window.
    flow = signed_in(make_flow, mode=C.MODE_INVITED)
    assert flow.invite(case_no="A001", source="http")
    clock.advance(1)
    flow.rate("satisfied", touched=True)
    flow.update(flow.settings, roster[1:])
    assert flow.state == C.ST_THANKS and flow.staff["staff_id"] == "S-1"   # the citizen's thanks
    clock.advance(1)
    assert not flow.invite(case_no="A002", source="http")
    assert flow.refusal == C.REFUSED_BUSY
    assert flow.state == C.ST_PAUSED and flow.staff is None
    types = [e["type"] for e in events_of(store)]
    assert types[-1] == C.EV_STAFF_SIGN_OUT and types.count(C.EV_INVITATION) == 1
    assert not flow.invite(source="key")       # and the staff key starts nothing either
    assert [e["payload"]["staff_id"] for e in events_of(store, C.EV_RATING)] == ["S-1"]


def test_an_invitation_while_the_removed_staffs_citizen_still_rates_is_refused_as_busy(
        make_flow, store, clock, roster, events_of):
    # The citizen in front of the window finishes; the invitation neither starts a session
    # nor cuts theirs short.
    flow = signed_in(make_flow, mode=C.MODE_OPEN)
    flow.start_rating()
    flow.update(flow.settings, roster[1:])
    assert not flow.invite(case_no="A002", source="http") and flow.refusal == C.REFUSED_BUSY
    assert flow.state == C.ST_RATE and flow.invitation is None
    clock.advance(1)
    assert flow.rate("satisfied", touched=True) == C.ST_THANKS
    clock.advance(flow.settings.thanks_seconds)
    assert flow.tick() == C.ST_PAUSED and flow.staff is None


# ------------------------------------------------ the faces shown
@pytest.mark.parametrize("shown, pulled", [(4, 5), (5, 4)])
def test_the_faces_to_show_are_those_the_session_opened_with(make_flow, store, shown, pulled):
    # The rate screen, rebuilt after a technician's visit, showed the new scale's faces
    # while the flow took the old one's: a tap on 基本满意 did nothing (FlowError, ignored),
    # the "bad buttons do nothing" failure; 5 → 4 stored scale 5 for four faces.
    flow = signed_in(make_flow, scale=shown)
    flow.start_rating()
    flow.update(dataclasses.replace(flow.settings, scale=pulled))
    assert flow.levels() == C.levels_for(shown)
    for level in flow.levels():                 # every face shown is one the flow takes
        assert level in C.levels_for(flow._scale())
    flow.rate(flow.levels()[0])
    assert flow.levels() == C.levels_for(pulled)    # the next session's faces


# ---------------------------------------------- the remembered error
def test_a_commit_that_worked_forgets_the_last_error(make_flow, store, clock):
    # The app shows its status line when the flow's error changes; a success cleared the
    # line but not the error, so a second failure with the same message showed nothing.
    flow = signed_in(make_flow, thanks_seconds=4)
    flow.store = FailingStore(store)
    flow.start_rating()
    assert flow.rate("satisfied") == C.ST_RETRY and flow.last_error
    clock.advance(4)
    assert flow.tick() == C.ST_RATE
    flow.store.fail = False
    assert flow.rate("satisfied") == C.ST_THANKS
    assert flow.last_error is None


# ------------------------------------------- a follow-up left empty
@pytest.mark.parametrize("leave", ["pause", "sign_out", "timeout", "skip"])
def test_a_follow_up_left_with_nothing_chosen_records_nothing(make_flow, store, clock,
                                                             events_of, leave):
    # A pause or sign-out wrote an empty follow-up (no reasons, not completed) where a
    # timeout or "skip" wrote nothing: the same walk-away counted as a follow-up or not by
    # how it ended.
    flow = signed_in(make_flow, return_seconds=30)
    flow.start_rating()
    flow.rate("very_dissatisfied")
    if leave == "timeout":
        clock.advance(31)
        flow.tick()
    elif leave == "skip":
        flow.skip_follow_up()
    else:
        getattr(flow, leave)()
    assert flow.pending_rating is None
    assert events_of(store, C.EV_FOLLOW_UP) == []
    assert len(events_of(store, C.EV_RATING)) == 1   # the rating stands
