"""The follow-up's callback number in the real window, with real touches (found in review,
2026-12): typed without the consent tick and sent, it was thrown away in silence (the only
sign a 14 px red line); typed, ticked and left, it was lost at the timeout."""

from __future__ import annotations

from kivy.core.window import Window

from kiosk import constants as C

PHONE = "13812341234"


def _follow_up(k, level="very_dissatisfied"):
    k.tap(k.app.root.get_screen("idle").ids.rate_button)
    k.tap(k.face(level))
    assert k.screen == "follow_up"
    return k.current()


def _type(k, screen, digits):
    for digit in digits:
        k.tap(k.keypad_digit(screen.ids.keypad, digit))


def test_a_number_sent_without_the_tick_is_asked_about_and_yes_keeps_it(kiosk):
    k = kiosk
    screen = _follow_up(k)
    k.tap(k.chip("attitude"))
    _type(k, screen, PHONE)
    k.tap(screen.ids.submit)
    # Not "thanks" with the number gone: the form stays and asks, the consent line framed.
    assert k.screen == "follow_up" and k.events(C.EV_FOLLOW_UP) == []
    question = screen._question
    assert question is not None and question in Window.children
    assert question.ids.number.text == "138****1234"          # masked, as on the form
    assert screen.needs_consent
    k.tap(question.ids.yes)
    assert k.screen == "thanks" and question not in Window.children
    follow_up, = k.events(C.EV_FOLLOW_UP)
    assert {key: follow_up["payload"][key] for key in ("reasons", "phone", "callback_consent", "completed")} \
        == {"reasons": ["attitude"], "phone": PHONE, "callback_consent": True, "completed": True}


def test_a_question_closed_without_an_answer_leaves_the_form_saying_what_to_do(kiosk):
    k = kiosk
    screen = _follow_up(k)
    _type(k, screen, PHONE)
    k.tap(screen.ids.submit)
    k.tap_at(5, 5)                                     # beside the question: it closes
    assert screen._question is None or screen._question not in Window.children
    assert k.screen == "follow_up" and k.events(C.EV_FOLLOW_UP) == []
    assert screen.ids.message.text == k.app.tr("follow_up.consent_ask")
    k.tap(screen.ids.consent)                          # ticked: the frame and the hint go
    assert not screen.needs_consent
    k.tap(screen.ids.submit)
    assert k.screen == "thanks"
    assert k.events(C.EV_FOLLOW_UP)[0]["payload"]["phone"] == PHONE


def test_a_consented_number_typed_and_left_is_kept_at_the_timeout(kiosk):
    k = kiosk
    screen = _follow_up(k, "dissatisfied")
    _type(k, screen, PHONE)
    k.tap(screen.ids.consent)
    k.after(k.flow.settings.return_seconds + 1)
    assert k.screen == "idle"
    follow_up, = k.events(C.EV_FOLLOW_UP)
    assert (follow_up["payload"]["phone"], follow_up["payload"]["callback_consent"],
            follow_up["payload"]["completed"]) == (PHONE, True, False)


def test_the_question_goes_with_the_form_at_the_timeout(kiosk):
    # Left open over the idle screen it would answer for the next citizen.
    k = kiosk
    screen = _follow_up(k)
    _type(k, screen, PHONE)
    k.tap(screen.ids.submit)
    question = screen._question
    assert question in Window.children
    k.after(k.flow.settings.return_seconds + 1)
    assert k.screen == "idle" and question not in Window.children
    assert k.events(C.EV_FOLLOW_UP) == []             # no tick, no reasons: nothing to keep
