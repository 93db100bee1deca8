"""Every rule of the rating session, without a window, on the real store."""

from __future__ import annotations

import pytest

from kiosk import constants as C
from kiosk.errors import FlowError

from .conftest import FailingStore


def signed_in(make_flow, **settings):
    flow = make_flow(**settings)
    assert flow.sign_in_badge("10000001")
    return flow


# ------------------------------------------------------------------ staff
@pytest.mark.parametrize(
    "action, ok, method",
    [
        (lambda f: f.sign_in_badge("10000001"), True, "badge"),
        (lambda f: f.sign_in_badge(" 10000001\n"), True, "badge"),
        (lambda f: f.sign_in_badge("99999999"), False, None),
        (lambda f: f.sign_in_badge(""), False, None),
        (lambda f: f.sign_in_pin("0001", "1234"), True, "pin"),
        (lambda f: f.sign_in_pin("0001", "4321"), False, None),
        (lambda f: f.sign_in_pin("0002", "1234"), False, None),  # no PIN set: PIN sign-in disabled
        (lambda f: f.sign_in_pin("9999", "1234"), False, None),
    ],
)
def test_staff_sign_in(make_flow, store, action, ok, method, events_of):
    flow = make_flow()
    assert flow.state == C.ST_PAUSED
    assert action(flow) is ok
    assert flow.state == (C.ST_IDLE if ok else C.ST_PAUSED)
    signs = events_of(store, C.EV_STAFF_SIGN_IN)
    assert [e["payload"]["method"] for e in signs] == ([method] if ok else [])


def test_sign_out_pause_resume(make_flow, store, events_of):
    flow = signed_in(make_flow)
    assert flow.pause() == C.ST_PAUSED
    assert flow.start_rating() == C.ST_PAUSED  # no rating while paused
    assert flow.resume() == C.ST_IDLE
    assert flow.sign_out() == C.ST_PAUSED and flow.staff is None
    types = [e["type"] for e in events_of(store)]
    assert types == ["staff_sign_in", "pause", "resume", "staff_sign_out"]


def test_new_badge_signs_out_the_previous_staff(make_flow, store, events_of):
    flow = signed_in(make_flow)
    assert flow.sign_in_badge("10000002")
    assert [e["type"] for e in events_of(store)] == ["staff_sign_in", "staff_sign_out", "staff_sign_in"]
    assert flow.staff["staff_id"] == "S-2"


# ---------------------------------------------------------------- ratings
@pytest.mark.parametrize(
    "level, stars, next_state",
    [
        ("very_satisfied", 5, C.ST_THANKS),
        ("satisfied", 4, C.ST_THANKS),
        ("basic_satisfied", 3, C.ST_THANKS),
        ("dissatisfied", 2, C.ST_FOLLOW_UP),
        ("very_dissatisfied", 1, C.ST_FOLLOW_UP),
    ],
)
def test_each_level_is_recorded_and_only_bad_ones_ask_why(make_flow, store, level, stars, next_state, events_of):
    flow = signed_in(make_flow)
    flow.start_rating()
    assert flow.rate(level) == next_state
    (rating,) = events_of(store, C.EV_RATING)
    p = rating["payload"]
    assert (p["level"], p["stars"], p["channel"], p["staff_id"], p["staff_name"], p["flags"]) == (
        level, stars, 4, "S-1", "王芳", [])


def test_four_level_scale_has_no_neutral_level(make_flow):
    flow = signed_in(make_flow, scale=4)
    assert flow.levels() == ("very_satisfied", "satisfied", "dissatisfied", "very_dissatisfied")
    with pytest.raises(FlowError, match="unknown level 'basic_satisfied'"):
        flow.rate("basic_satisfied")


@pytest.mark.parametrize(
    "level, expected",
    [
        ("very_dissatisfied", C.REASONS["very_dissatisfied"]),
        ("dissatisfied", C.REASONS["dissatisfied"]),
        ("satisfied", ()),
    ],
)
def test_reasons_are_chosen_by_level(make_flow, level, expected):
    assert make_flow().reasons_for(level) == expected
    assert "asked_for_favours" not in C.REASONS["dissatisfied"]


# --------------------------------------------------------------- follow-up
def test_follow_up_submit_refers_to_the_rating(make_flow, store, events_of):
    flow = signed_in(make_flow)
    flow.start_rating()
    flow.rate("very_dissatisfied")
    flow.toggle_reason("attitude")
    flow.toggle_reason("waiting_time")
    flow.toggle_reason("attitude")  # a second tap unselects
    assert flow.submit_follow_up(phone="13800001234", consent=True) == C.ST_THANKS
    rating = events_of(store, C.EV_RATING)[0]
    (fu,) = events_of(store, C.EV_FOLLOW_UP)
    assert fu["payload"] == {
        "rating_id": rating["id"], "reasons": ["waiting_time"], "reasons_version": C.REASONS_VERSION,
        "phone": "13800001234", "callback_consent": True, "comment": None, "completed": True,
    }


def test_phone_without_consent_is_neither_kept_nor_dropped(make_flow, store, events_of):
    # A number sent without the consent ticked was stored as phone None, and the citizen went
    # home waiting for a call. It is kept only with consent, so the flow refuses it and the
    # form asks (tests/gui/test_follow_up_consent.py); the answer sends one or the other.
    flow = signed_in(make_flow)
    flow.start_rating()
    flow.rate("dissatisfied")
    with pytest.raises(FlowError, match="only with the citizen's consent"):
        flow.submit_follow_up(phone="13800001234", consent=False)
    assert flow.state == C.ST_FOLLOW_UP and events_of(store, C.EV_FOLLOW_UP) == []
    assert flow.submit_follow_up(phone=None, consent=False) == C.ST_THANKS
    assert events_of(store, C.EV_FOLLOW_UP)[0]["payload"]["phone"] is None


@pytest.mark.parametrize("phone", ["12ab", "1234", "1" * 16])
def test_bad_phone_is_refused(make_flow, phone):
    flow = signed_in(make_flow)
    flow.start_rating()
    flow.rate("dissatisfied")
    with pytest.raises(FlowError, match="5 to 15 digits"):
        flow.submit_follow_up(phone=phone, consent=True)
    assert flow.state == C.ST_FOLLOW_UP


def test_skip_keeps_the_rating_and_records_no_follow_up(make_flow, store, events_of):
    flow = signed_in(make_flow)
    flow.start_rating()
    flow.rate("dissatisfied")
    assert flow.skip_follow_up() == C.ST_THANKS
    assert len(events_of(store, C.EV_RATING)) == 1 and not events_of(store, C.EV_FOLLOW_UP)


def test_skip_after_choosing_reasons_keeps_them_as_an_unfinished_follow_up(make_flow, store, events_of):
    # Many press "跳过" to skip the phone number after choosing reasons: those were dropped,
    # while walking away kept them.
    flow = signed_in(make_flow)
    flow.start_rating()
    flow.rate("very_dissatisfied")
    flow.toggle_reason("attitude")
    assert flow.skip_follow_up() == C.ST_THANKS
    (fu,) = events_of(store, C.EV_FOLLOW_UP)
    assert (fu["payload"]["reasons"], fu["payload"]["completed"], fu["payload"]["phone"]) == (
        ["attitude"], False, None)
    assert fu["payload"]["rating_id"] == events_of(store, C.EV_RATING)[0]["id"]


@pytest.mark.parametrize("chosen, recorded", [(["attitude"], True), ([], False)])
def test_follow_up_timeout_keeps_what_was_chosen(make_flow, store, clock, chosen, recorded, events_of):
    flow = signed_in(make_flow, return_seconds=30)
    flow.start_rating()
    flow.rate("very_dissatisfied")
    for code in chosen:
        flow.toggle_reason(code)
    clock.advance(29)
    assert flow.tick() == C.ST_FOLLOW_UP
    clock.advance(2)
    assert flow.tick() == C.ST_IDLE
    fus = events_of(store, C.EV_FOLLOW_UP)
    assert bool(fus) is recorded
    if recorded:
        assert fus[0]["payload"]["reasons"] == chosen and fus[0]["payload"]["completed"] is False


def test_unknown_reason_is_refused(make_flow):
    flow = signed_in(make_flow)
    flow.start_rating()
    flow.rate("dissatisfied")
    with pytest.raises(FlowError):
        flow.toggle_reason("asked_for_favours")  # offered only after "very dissatisfied"


# ------------------------------------------------------------- timeouts
@pytest.mark.parametrize(
    "state_after, advance, expected",
    [
        ("thanks", 3.9, C.ST_THANKS),
        ("thanks", 4.0, C.ST_IDLE),
        ("rate", 29, C.ST_RATE),
        ("rate", 30, C.ST_IDLE),
    ],
)
def test_screens_return_to_idle(make_flow, clock, state_after, advance, expected):
    flow = signed_in(make_flow, thanks_seconds=4, return_seconds=30)
    flow.start_rating()
    if state_after == "thanks":
        flow.rate("satisfied")
    clock.advance(advance)
    assert flow.tick() == expected


def test_touch_restarts_the_idle_timeout(make_flow, clock):
    flow = signed_in(make_flow, return_seconds=30)
    flow.start_rating()
    clock.advance(20)
    flow.touch()
    clock.advance(20)
    assert flow.tick() == C.ST_RATE


# ------------------------------------------------------- open mode rules
@pytest.mark.parametrize(
    "gap, flags",
    [(0.5, [C.FLAG_LOCKOUT]), (9.9, [C.FLAG_LOCKOUT]), (10.0, []), (60, [])],
)
def test_lockout_flags_a_second_press_within_the_interval(make_flow, store, clock, gap, flags, events_of):
    flow = signed_in(make_flow, lockout_seconds=10)
    flow.start_rating()
    flow.rate("satisfied")
    clock.advance(gap)
    flow.tick()
    flow.state = C.ST_IDLE
    flow.start_rating()
    flow.rate("very_satisfied")
    ratings = events_of(store, C.EV_RATING)
    assert len(ratings) == 2  # flagged, never dropped
    assert ratings[1]["payload"]["flags"] == flags


def test_lockout_counts_from_the_last_counted_rating(make_flow, store, clock, events_of):
    flow = signed_in(make_flow, lockout_seconds=10, burst_count=100)
    for _ in range(4):  # presses every 4 s: only the first and the one at 12 s count
        flow.state = C.ST_IDLE
        flow.start_rating()
        flow.rate("very_satisfied")
        clock.advance(4)
    assert [e["payload"]["flags"] for e in events_of(store, C.EV_RATING)] == [
        [], [C.FLAG_LOCKOUT], [C.FLAG_LOCKOUT], []]


def test_burst_of_presses_is_flagged(make_flow, store, clock, events_of):
    flow = signed_in(make_flow, lockout_seconds=0, burst_count=3, burst_seconds=60)
    for _ in range(5):
        flow.state = C.ST_IDLE
        flow.start_rating()
        flow.rate("very_satisfied")
        clock.advance(11)
    flags = [e["payload"]["flags"] for e in events_of(store, C.EV_RATING)]
    assert flags == [[], [], [], [C.FLAG_BURST], [C.FLAG_BURST]]
    clock.advance(60)
    flow.state = C.ST_IDLE
    flow.start_rating()
    flow.rate("very_satisfied")
    assert events_of(store, C.EV_RATING)[-1]["payload"]["flags"] == []


def test_press_with_nobody_signed_in_is_flagged(make_flow, store, events_of):
    flow = make_flow()
    flow.rate("very_satisfied")
    assert events_of(store, C.EV_RATING)[0]["payload"]["flags"] == [C.FLAG_NO_STAFF]


# ----------------------------------------------------------- invited mode
def test_invited_mode_needs_an_invitation(make_flow, store, events_of):
    flow = signed_in(make_flow, mode=C.MODE_INVITED)
    assert flow.start_rating() == C.ST_IDLE  # citizens cannot start a rating themselves
    assert flow.invite(case_no="BJ2026-0001", service_item="SI-0102", source="http")
    assert flow.state == C.ST_RATE
    assert not flow.invite()  # one rating per invitation: a second invite is refused
    flow.rate("satisfied")
    p = events_of(store, C.EV_RATING)[0]["payload"]
    inv = events_of(store, C.EV_INVITATION)[0]["payload"]
    assert (p["case_no"], p["service_item"], p["invitation_id"], p["flags"]) == (
        "BJ2026-0001", "SI-0102", inv["invitation_id"], [])
    assert flow.invitation is None


def test_invitation_timeout_records_not_rated_never_a_default_rating(make_flow, store, clock, events_of):
    flow = signed_in(make_flow, mode=C.MODE_INVITED, invite_timeout_seconds=20)
    flow.invite(case_no="C-1", service_item="SI-0102")
    clock.advance(19.9)
    assert flow.tick() == C.ST_RATE
    clock.advance(0.2)
    assert flow.tick() == C.ST_IDLE
    assert not events_of(store, C.EV_RATING)
    (nr,) = events_of(store, C.EV_NOT_RATED)
    assert nr["payload"]["case_no"] == "C-1" and nr["payload"]["staff_id"] == "S-1"
    # Until 2026-12-03 a timed-out invitation lost its service item, so every item's response
    # rate on the dashboard ignored the citizens who did not answer (100 % where one of two did).
    assert nr["payload"]["service_item"] == "SI-0102"


def test_press_outside_an_invitation_is_flagged(make_flow, store, events_of):
    flow = signed_in(make_flow, mode=C.MODE_INVITED)
    flow.rate("very_satisfied")
    assert events_of(store, C.EV_RATING)[0]["payload"]["flags"] == [C.FLAG_OUTSIDE_INVITATION]


def test_invitation_needs_staff_and_idle(make_flow):
    flow = make_flow(mode=C.MODE_INVITED)
    assert not flow.invite()


def test_sign_out_during_an_invitation_records_not_rated(make_flow, store, events_of):
    flow = signed_in(make_flow, mode=C.MODE_INVITED)
    flow.invite()
    flow.sign_out()
    assert len(events_of(store, C.EV_NOT_RATED)) == 1


def test_an_invitation_left_open_by_a_restart_is_recorded_not_rated_once(make_flow, store, db_path,
                                                                          events_of):
    # The kiosk lost power while the faces waited for an invited citizen: the timeout never
    # fired, so the invitation was neither rated nor "not rated", and the response rate of the
    # window, staff member and item read high.
    from kiosk.flow import FlowSettings, RatingFlow
    from kiosk.store import RatingStore

    flow = signed_in(make_flow, mode=C.MODE_INVITED)
    flow.invite(case_no="C-9", service_item="SI-0101")
    flow.rate("satisfied")                       # this one was answered
    flow.invite(case_no="C-10", service_item="SI-0102")
    (left_open,) = [e for e in events_of(store, C.EV_INVITATION) if e["payload"]["case_no"] == "C-10"]
    store.close()                                # the power goes
    again = RatingStore(db_path)
    try:
        after = RatingFlow(again, FlowSettings(mode=C.MODE_INVITED, window_id="W-007"), [])
        assert after.close_interrupted_invitation()
        (nr,) = events_of(again, C.EV_NOT_RATED)
        assert nr["payload"] == {"invitation_id": left_open["payload"]["invitation_id"],
                                 "case_no": "C-10", "service_item": "SI-0102",
                                 "window_id": "W-007", "staff_id": "S-1"}
        assert not after.close_interrupted_invitation()   # a second restart: nothing more
        assert len(events_of(again, C.EV_NOT_RATED)) == 1
        assert len(events_of(again, C.EV_RATING)) == 1
    finally:
        again.close()


def test_no_not_rated_at_start_when_every_invitation_was_answered(make_flow, store, events_of):
    flow = signed_in(make_flow, mode=C.MODE_INVITED, invite_timeout_seconds=20)
    assert not flow.close_interrupted_invitation()       # a new store
    flow.invite()
    flow.rate("very_dissatisfied")                       # answered; its follow-up still open
    assert not flow.close_interrupted_invitation()
    flow.skip_follow_up()
    assert flow.invite()
    flow.sign_out()                                      # closed by the sign-out
    assert not flow.close_interrupted_invitation()
    assert len(events_of(store, C.EV_NOT_RATED)) == 1


# -------------------------------------------------------- failed commits
def test_failed_commit_shows_retry_never_thanks(make_flow, store, clock, events_of):
    flow = signed_in(make_flow, thanks_seconds=4)
    flow.store = FailingStore(store)
    flow.start_rating()
    assert flow.rate("satisfied") == C.ST_RETRY
    assert "disk full" in flow.last_error
    assert not events_of(store, C.EV_RATING)
    clock.advance(4)
    # Back to the faces, as the retry screen asks (it went to idle, and the citizen had to
    # start again), for the usual time; then idle.
    assert flow.tick() == C.ST_RATE
    flow.store.fail = False
    assert flow.rate("satisfied") == C.ST_THANKS  # recording resumes when space returns
    flow.store.fail = True
    clock.advance(60)
    flow.tick()
    flow.start_rating()
    flow.rate("satisfied")
    clock.advance(4)
    assert flow.tick() == C.ST_RATE
    clock.advance(flow.settings.return_seconds)
    assert flow.tick() == C.ST_IDLE


def test_failed_commit_in_invited_mode_keeps_the_invitation(make_flow, store, clock, events_of):
    flow = signed_in(make_flow, mode=C.MODE_INVITED, thanks_seconds=4)
    flow.invite(case_no="C-9")
    flow.store = FailingStore(store)
    assert flow.rate("satisfied") == C.ST_RETRY
    clock.advance(4)
    assert flow.tick() == C.ST_RATE and flow.invitation["case_no"] == "C-9"
    flow.store.fail = False
    flow.rate("satisfied")
    assert events_of(store, C.EV_RATING)[0]["payload"]["case_no"] == "C-9"


def test_failed_follow_up_keeps_the_form(make_flow, store):
    flow = signed_in(make_flow)
    flow.start_rating()
    flow.rate("dissatisfied")
    flow.toggle_reason("attitude")
    flow.store = FailingStore(store)
    assert flow.submit_follow_up() == C.ST_RETRY
    assert flow.pending_rating is not None


def test_update_applies_new_settings_and_roster(make_flow):
    flow = signed_in(make_flow)
    new_roster = [{"staff_id": "S-1", "name": "王芳（新）", "badge": "10000001"}]
    from kiosk.flow import FlowSettings
    flow.update(FlowSettings(mode=C.MODE_INVITED), new_roster)
    assert flow.settings.mode == C.MODE_INVITED and flow.staff["name"] == "王芳（新）"



# A staff member taken off the roster (left, moved to another unit) stayed signed in until
# someone signed them out: the idle screen went on showing them to citizens, and every rating
# named them.
def test_staff_taken_off_the_roster_is_signed_out(make_flow, store, roster, events_of):
    flow = signed_in(make_flow)
    flow.update(flow.settings, [s for s in roster if s["staff_id"] != "S-1"])
    assert flow.staff is None and flow.state == C.ST_PAUSED
    assert flow.start_rating() == C.ST_PAUSED
    outs = events_of(store, C.EV_STAFF_SIGN_OUT)
    assert [e["payload"] for e in outs] == [{"staff_id": "S-1", "reason": "removed_from_roster"}]
    assert not flow.sign_in_badge("10000001")   # nor can they sign in again


def test_paused_staff_taken_off_the_roster_is_signed_out(make_flow, store, roster, events_of):
    flow = signed_in(make_flow)
    flow.pause()
    flow.update(flow.settings, roster[1:])
    assert flow.staff is None and flow.state == C.ST_PAUSED
    assert len(events_of(store, C.EV_STAFF_SIGN_OUT)) == 1


def test_roster_change_during_a_rating_signs_out_after_the_citizen(make_flow, store, clock, roster,
                                                                    events_of):
    # The citizen in front of the window rates the service they had, from that staff member.
    flow = signed_in(make_flow)
    flow.start_rating()
    flow.update(flow.settings, roster[1:])
    assert flow.state == C.ST_RATE and flow.staff["staff_id"] == "S-1"
    assert flow.rate("very_satisfied") == C.ST_THANKS
    assert events_of(store, C.EV_RATING)[0]["payload"]["staff_id"] == "S-1"
    clock.advance(flow.settings.thanks_seconds + 1)
    assert flow.tick() == C.ST_PAUSED and flow.staff is None
    assert [e["type"] for e in events_of(store)][-1] == C.EV_STAFF_SIGN_OUT


def test_staff_back_on_the_roster_before_the_session_ends_stays(make_flow, store, clock, roster,
                                                                events_of):
    flow = signed_in(make_flow)
    flow.start_rating()
    flow.update(flow.settings, roster[1:])
    flow.update(flow.settings, roster)
    flow.rate("satisfied")
    clock.advance(flow.settings.thanks_seconds + 1)
    assert flow.tick() == C.ST_IDLE and flow.staff["staff_id"] == "S-1"
    assert events_of(store, C.EV_STAFF_SIGN_OUT) == []

@pytest.mark.parametrize(
    "body, expected",
    [
        ({}, {}),
        ({"scale": 4}, {"scale": 4}),
        ({"scale": 3}, {}),  # not a scale the kiosk knows: keep the current one
        ({"trigger": {"mode": "invited", "lockout_seconds": 30}}, {"mode": "invited", "lockout_seconds": 30}),
        ({"trigger": {"mode": "sometimes", "lockout_seconds": "30"}}, {}),
        ({"trigger": {"invite_timeout_seconds": True}}, {}),
        # the server's burst rule wins over the kiosk's own (it was kiosk-local only, so a
        # kiosk set to 1,000 presses a minute never flagged a burst); out of the kiosk's
        # bounds (a count of 0 flags every press) it is not taken
        ({"trigger": {"burst_count": 3, "burst_seconds": 45}}, {"burst_count": 3, "burst_seconds": 45}),
        ({"trigger": {"burst_count": 0, "burst_seconds": 0}}, {}),
        ({"trigger": {"burst_count": True, "burst_seconds": "60"}}, {}),
        ({"window": {"id": "W-009", "unit_id": "U-03"}}, {"window_id": "W-009", "unit_id": "U-03"}),
        ({"reasons": {"version": 2, "dissatisfied": ["attitude"]}},
         {"reasons": {"dissatisfied": ("attitude",)}, "reasons_version": 2}),
    ],
)
def test_settings_follow_the_pulled_device_config(body, expected):
    from kiosk.flow import FlowSettings

    before = FlowSettings()
    after = before.with_device_config(body)
    changed = {k: v for k, v in vars(after).items() if vars(before)[k] != v}
    assert changed == expected


def test_failed_follow_up_comes_back_to_its_form_with_what_was_chosen(make_flow, store, clock,
                                                                      events_of):
    # Found by exploring the kiosk: a follow-up that could not be saved (disk full) lost the
    # chosen reasons and the consented number, went to idle, and the retry screen's "rate
    # again" led to a second bad rating. Now the form comes back with the reasons kept.
    flow = signed_in(make_flow, thanks_seconds=4)
    flow.start_rating()
    rating = flow.rate("very_dissatisfied")
    assert rating == C.ST_FOLLOW_UP
    flow.toggle_reason("attitude")
    flow.store = FailingStore(store)
    assert flow.submit_follow_up("13800001234", True) == C.ST_RETRY
    assert flow.chosen == ["attitude"] and flow.pending_rating is not None
    clock.advance(4)
    assert flow.tick() == C.ST_FOLLOW_UP
    flow.store.fail = False
    assert flow.submit_follow_up("13800001234", True) == C.ST_THANKS
    (follow,) = events_of(store, C.EV_FOLLOW_UP)
    assert follow["payload"]["reasons"] == ["attitude"]
    assert follow["payload"]["phone"] == "13800001234"
    assert len(events_of(store, C.EV_RATING)) == 1


def test_a_touch_on_the_faces_right_after_they_appeared_is_not_a_rating(make_flow, store,
                                                                          clock, events_of):
    # Found by exploring the kiosk: the second tap of a double tap on "rate" landed on the
    # face that appeared under the finger (非常不满意) and stored a very dissatisfied rating
    # nobody chose.
    from kiosk.flow import SETTLE_SECONDS

    flow = signed_in(make_flow)
    flow.start_rating()
    clock.advance(SETTLE_SECONDS * 0.3)
    assert flow.rate("very_dissatisfied", touched=True) == C.ST_RATE
    assert events_of(store, C.EV_RATING) == []
    clock.advance(SETTLE_SECONDS * 0.7)
    assert flow.rate("satisfied", touched=True) == C.ST_THANKS
    assert [e["payload"]["level"] for e in events_of(store, C.EV_RATING)] == ["satisfied"]


def test_an_invitation_during_the_thank_you_ends_it_and_opens_the_faces(make_flow, store, clock, events_of):
    # The queue system invites as soon as the next service is done. During the last
    # citizen's 4 s thank-you it was refused (409 "busy"), and the invitation was lost.
    flow = signed_in(make_flow, mode=C.MODE_INVITED)
    assert flow.invite(case_no="C-1")
    flow.rate("satisfied")
    assert flow.state == C.ST_THANKS
    clock.advance(1)
    assert flow.invite(case_no="C-2")
    assert flow.state == C.ST_RATE
    clock.advance(1)
    flow.rate("very_satisfied", touched=True)
    second = events_of(store, C.EV_RATING)[1]["payload"]
    assert (second["case_no"], second["flags"]) == ("C-2", [])


def test_an_invitation_in_open_mode_joins_the_waiting_faces_without_a_lockout_flag(make_flow, store, clock, events_of):
    flow = signed_in(make_flow, mode=C.MODE_OPEN, lockout_seconds=10)
    flow.start_rating()
    flow.rate("satisfied")
    clock.advance(2)
    # the queue system's (the staff key's is flagged: test_flow_session_guards.py)
    assert flow.invite(case_no="C-7", source="http")   # during the thank-you, 2 s after a counted rating
    clock.advance(2)
    flow.rate("satisfied")
    ratings = [e["payload"] for e in events_of(store, C.EV_RATING)]
    assert (ratings[1]["case_no"], ratings[1]["flags"]) == ("C-7", [])
    # the faces opened by a touch take an invitation too; a second one is refused
    clock.advance(30)
    assert flow.tick() == C.ST_IDLE and flow.start_rating() == C.ST_RATE
    assert flow.invite(case_no="C-8") and not flow.invite(case_no="C-9")
    flow.rate("very_satisfied")
    assert events_of(store, C.EV_RATING)[2]["payload"]["case_no"] == "C-8"


def test_no_invitation_while_a_follow_up_is_open_or_the_window_is_paused(make_flow):
    flow = signed_in(make_flow, mode=C.MODE_INVITED)
    flow.invite(case_no="C-1")
    flow.rate("very_dissatisfied")
    assert flow.state == C.ST_FOLLOW_UP and not flow.invite(case_no="C-2")
    flow.skip_follow_up()
    flow.pause()
    assert not flow.invite(case_no="C-3")


def test_the_one_who_paused_signing_in_again_resumes_and_another_takes_over(make_flow, store, events_of):
    # A pause is not the end of a shift: the same badge or PIN after it is a resume.
    flow = signed_in(make_flow)
    flow.pause()
    assert flow.sign_in_pin("0001", "1234") and flow.state == C.ST_IDLE
    flow.pause()
    assert flow.sign_in_badge("10000002") and flow.staff["staff_id"] == "S-2"
    types = [e["type"] for e in events_of(store)]
    assert types == ["staff_sign_in", "pause", "resume", "pause", "staff_sign_out", "staff_sign_in"]


# A config pull that switched 5 levels to 4 while the faces were shown refused the citizen's
# tap on 基本满意 (FlowError: the app ignored the tap), and a 4 → 5 switch stored a rating made
# on four faces as a 5-level one.
@pytest.mark.parametrize("shown, pulled, level", [(5, 4, "basic_satisfied"), (4, 5, "satisfied")])
def test_a_scale_switch_while_the_faces_show_keeps_the_faces_the_citizen_saw(
        make_flow, store, events_of, shown, pulled, level):
    import dataclasses

    flow = signed_in(make_flow, scale=shown)
    flow.start_rating()
    flow.update(dataclasses.replace(flow.settings, scale=pulled))
    assert flow.rate(level) == C.ST_THANKS
    payload = events_of(store, C.EV_RATING)[0]["payload"]
    assert (payload["level"], payload["scale"]) == (level, shown)
    assert len(flow.levels()) == pulled   # the next citizen sees the new faces


# ------------------------------------------------- found by review (2026-12)
def test_skip_after_reasons_that_could_not_be_saved_shows_retry_never_thanks(make_flow, store,
                                                                            clock, events_of):
    # "Skip" after choosing reasons on a full disk said thank you while nothing was saved,
    # and the reasons were lost. Never a false thanks: the form comes back with them.
    flow = signed_in(make_flow, thanks_seconds=4)
    flow.start_rating()
    flow.rate("very_dissatisfied")
    flow.toggle_reason("attitude")
    flow.store = FailingStore(store)
    assert flow.skip_follow_up() == C.ST_RETRY
    assert flow.pending_rating is not None and flow.chosen == ["attitude"]
    clock.advance(4)
    assert flow.tick() == C.ST_FOLLOW_UP
    flow.store.fail = False
    assert flow.skip_follow_up() == C.ST_THANKS
    (follow,) = events_of(store, C.EV_FOLLOW_UP)
    assert (follow["payload"]["reasons"], follow["payload"]["completed"]) == (["attitude"], False)


def test_a_case_number_invited_again_while_its_invitation_is_open_changes_nothing(make_flow, store,
                                                                                 events_of):
    # A queue system retrying its POST after its own timeout: the same invitation, a
    # success, and no second invitation event.
    flow = signed_in(make_flow, mode=C.MODE_INVITED)
    assert flow.invite(case_no="2024-000123", service_item="SI-0102", source="http")
    first = flow.invitation
    assert flow.invite(case_no="2024-000123", service_item="SI-0102", source="http")
    assert flow.invitation is first and flow.refusal is None
    assert len(events_of(store, C.EV_INVITATION)) == 1


def test_a_case_number_rated_is_refused_and_counted_once(make_flow, store, clock, events_of):
    # One service, one rating (一次一评): a second invitation for a case number already rated
    # was taken and its rating counted too — a way to re-invite until the rating came out
    # good.
    from kiosk.flow import SETTLE_SECONDS

    flow = signed_in(make_flow, mode=C.MODE_INVITED, invite_timeout_seconds=20)
    assert flow.invite(case_no="2024-000123", source="http")
    flow.rate("dissatisfied")
    flow.skip_follow_up()
    clock.advance(5)
    flow.tick()
    assert flow.state == C.ST_IDLE
    assert not flow.invite(case_no="2024-000123", source="http")
    assert flow.refusal == "already_rated" and flow.state == C.ST_IDLE
    clock.advance(SETTLE_SECONDS)
    flow.rate("very_satisfied", touched=True)       # a press now is outside any invitation
    ratings = events_of(store, C.EV_RATING)
    assert [r["payload"]["case_no"] for r in ratings] == ["2024-000123", None]
    assert ratings[-1]["payload"]["flags"] == [C.FLAG_OUTSIDE_INVITATION]
    assert len(events_of(store, C.EV_INVITATION)) == 1
    clock.advance(5)
    flow.tick()
    assert flow.invite(case_no="2024-000124", source="http")   # another case: as before


@pytest.mark.parametrize("how", ["timeout", "pause", "restart"])
def test_a_case_number_not_rated_may_be_invited_again(make_flow, store, clock, events_of, how):
    # "Not rated" is no rating: after a timeout, a pause or a restart with the faces up the
    # citizen may still give theirs. Refused then (409 "already_closed"), a power blip while
    # the faces waited made the case unratable, and so could a staff member's pause.
    flow = signed_in(make_flow, mode=C.MODE_INVITED, invite_timeout_seconds=20)
    assert flow.invite(case_no="2024-000123", source="http")
    if how == "timeout":
        clock.advance(21)
        flow.tick()
    elif how == "pause":
        flow.pause()
        flow.resume()
    else:
        flow.invitation = None   # the run ended with the faces up; the next run closes it
        assert flow.close_interrupted_invitation()
    assert [e["payload"]["case_no"] for e in events_of(store, C.EV_NOT_RATED)] == ["2024-000123"]
    clock.advance(10)
    flow.tick()
    assert flow.invite(case_no="2024-000123", source="http"), flow.refusal


def test_a_case_number_rated_is_still_refused_after_the_app_restarts(make_flow, store, db_path):
    from kiosk.flow import FlowSettings, RatingFlow
    from kiosk.store import RatingStore

    flow = signed_in(make_flow, mode=C.MODE_INVITED)
    flow.invite(case_no="2024-000123")
    flow.rate("satisfied")
    store.close()
    again = RatingStore(db_path)
    try:
        after = RatingFlow(again, FlowSettings(mode=C.MODE_INVITED), flow.roster)
        assert after.sign_in_badge("10000001")
        assert not after.invite(case_no="2024-000123") and after.refusal == "already_rated"
    finally:
        again.close()


def test_a_case_number_is_remembered_half_a_day_by_the_monotonic_clock(tmp_path, clock, roster):
    # Queue tickets (A012) start again every morning. "Today" by the wall clock failed a kiosk
    # without a battery clock: started with last week's time, it refused today's A012 for
    # last week's. The monotonic clock of this boot cannot jump; a new boot forgets.
    from datetime import datetime, timedelta

    from kiosk.flow import CASE_MEMORY_SECONDS, FlowSettings, RatingFlow
    from kiosk.store import RatingStore

    mono = [10**12]
    wall = [datetime(2026, 12, 4, 16, 0).astimezone()]

    def open_store(boot: str) -> RatingStore:
        return RatingStore(tmp_path / "kiosk.db", clock=lambda: wall[0],
                           monotonic_ns=lambda: mono[0], boot_id=boot)

    store = open_store("boot-1")
    try:
        flow = RatingFlow(store, FlowSettings(mode=C.MODE_INVITED), roster, clock=clock)
        flow.sign_in_badge("10000001")
        assert flow.invite(case_no="A012")
        flow.rate("satisfied")
        clock.advance(10)
        flow.tick()
        mono[0] += 7 * 3600 * 10**9                 # 23:00 the same day
        wall[0] -= timedelta(days=6)                # and a wall clock that jumped back: no matter
        assert not flow.invite(case_no="A012")
        mono[0] += (CASE_MEMORY_SECONDS - 7 * 3600 + 60) * 10**9   # the next morning
        assert flow.invite(case_no="A012")
        flow.rate("satisfied")
        clock.advance(10)
        flow.tick()
    finally:
        store.close()
    store = open_store("boot-2")                    # switched off and on: a new boot
    try:
        flow = RatingFlow(store, FlowSettings(mode=C.MODE_INVITED), roster, clock=clock)
        flow.sign_in_badge("10000001")
        assert flow.invite(case_no="A012")
    finally:
        store.close()


def test_sign_out_during_an_invitation_names_who_invited_in_not_rated(make_flow, store, events_of):
    # The sign-out cleared the staff member before it closed the invitation: "not rated"
    # named nobody, and the staff member's response rate read high.
    flow = signed_in(make_flow, mode=C.MODE_INVITED)
    flow.invite(case_no="C-9")
    flow.sign_in_badge("10000002")                  # a shift change signs S-1 out
    (nr,) = events_of(store, C.EV_NOT_RATED)
    assert nr["payload"]["staff_id"] == "S-1"


@pytest.mark.parametrize("leave", ["pause", "sign_out"])
def test_leaving_the_retry_screen_of_a_follow_up_closes_the_follow_up(make_flow, store, clock,
                                                                      events_of, leave):
    # A pause or sign-out on the retry screen after a follow-up could not be saved kept its
    # rating and reasons: the next citizen's bad rating came back to the old rating's form.
    flow = signed_in(make_flow)
    flow.start_rating()
    flow.rate("very_dissatisfied")
    flow.toggle_reason("attitude")
    flow.store = FailingStore(store)
    assert flow.submit_follow_up() == C.ST_RETRY
    flow.store.fail = False
    getattr(flow, leave)()
    assert flow.state == C.ST_PAUSED and flow.pending_rating is None and flow.chosen == []
    (follow,) = events_of(store, C.EV_FOLLOW_UP)
    assert (follow["payload"]["reasons"], follow["payload"]["completed"]) == (["attitude"], False)
    assert len(events_of(store, C.EV_RATING)) == 1  # the rating stands


def test_the_follow_up_form_settles_before_it_takes_a_touch(make_flow, clock):
    # The second tap of a double tap on a bad face landed on the form (upright screens put
    # the consent line or the number pad there); the screen ignores touches while this holds.
    from kiosk.flow import SETTLE_SECONDS

    flow = signed_in(make_flow)
    flow.start_rating()
    assert not flow.settling()                      # the faces settle by their own rule
    flow.rate("very_dissatisfied")
    assert flow.settling()
    clock.advance(SETTLE_SECONDS)
    assert not flow.settling()
